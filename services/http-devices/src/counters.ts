/** The part of service-kit's HealthControl the components use (a recording fake in unit tests). */
export interface Health {
  setStatus(status: 'ok' | 'degraded' | 'error', detail?: string): void;
  setCounter(name: string, value: number): void;
  incrementCounter(name: string, by?: number): void;
}

/** Heartbeat counter names are at most 64 characters (HeartbeatSchema). */
const MAX_COUNTER_NAME = 64;

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** `<prefix>.<assetId>`, e.g. `pollErrors.ev-1`; an asset id too long for the limit is replaced by its hash. */
export function assetCounter(prefix: string, assetId: string): string {
  const name = `${prefix}.${assetId}`;
  return name.length <= MAX_COUNTER_NAME
    ? name
    : `${prefix}.#${fnv1a(assetId).toString(36)}`.slice(0, MAX_COUNTER_NAME);
}

/**
 * Tracks which assets are in error and reports the service status: `degraded` (naming them) while any is, `ok`
 * otherwise. Shared by the HTTP poller and the MQTT listener.
 */
export class AssetErrorTracker {
  private readonly inError = new Set<string>();
  private reported = 'ok';

  constructor(private readonly health: Health) {
    health.setCounter('assetsInError', 0);
  }

  outcome(assetId: string, ok: boolean): void {
    if (ok) this.inError.delete(assetId);
    else this.inError.add(assetId);
    this.health.setCounter('assetsInError', this.inError.size);
    const detail =
      this.inError.size === 0 ? undefined : `assets in error: ${[...this.inError].sort().join(', ')}`.slice(0, 500);
    if ((detail ?? 'ok') === this.reported) return;
    this.reported = detail ?? 'ok';
    this.health.setStatus(detail === undefined ? 'ok' : 'degraded', detail);
  }
}
