/**
 * A URL fit for logs, telemetry and error texts: its user-info (`user:password@`) becomes `[redacted]@`. A broker URL
 * may carry the broker's credentials (mqtt.js takes them from it); they must never leave the process. Anything that
 * does not look like `scheme://user-info@…` is returned unchanged.
 */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#@\s]*@/i, '$1[redacted]@');
}
