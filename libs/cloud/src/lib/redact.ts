/** `scheme://user:password@host` anywhere in a text: the user info of a URL, up to its `@`. */
const URL_USER_INFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*@/gi;

/**
 * The text with the user info (`user:password@`) of every URL in it replaced by `***@`, for error messages, logs and
 * link status reasons (a broker or API URL may carry credentials; they must never leave the process).
 */
export function redactUrlCredentials(text: string): string {
  return text.replace(URL_USER_INFO, '$1***@');
}
