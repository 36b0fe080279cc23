import type { BreakerState } from '@voltimax/modbus';
import { fnv1a } from './assets';

/** The part of service-kit's HealthControl the components use (a fake in unit tests). */
export interface Health {
  setStatus(status: 'ok' | 'degraded' | 'error', detail?: string): void;
  setCounter(name: string, value: number): void;
  incrementCounter(name: string, by?: number): void;
}

/** Heartbeat counter names are at most 64 characters (HeartbeatSchema). */
const MAX_COUNTER_NAME = 64;

/**
 * `<prefix>.<assetId>[.<suffix>]`, e.g. `writes.bat-1.setpointW`. An asset id too long for the limit is replaced
 * by its stable hash, so the heartbeat never becomes invalid.
 */
export function assetCounter(prefix: string, assetId: string, suffix?: string): string {
  const tail = suffix === undefined ? '' : `.${suffix}`;
  const name = `${prefix}.${assetId}${tail}`;
  return name.length <= MAX_COUNTER_NAME
    ? name
    : `${prefix}.#${fnv1a(assetId).toString(36)}${tail}`.slice(0, MAX_COUNTER_NAME);
}

/** Breaker state as a heartbeat number: 0 closed, 1 half-open, 2 open, 3 isolated. */
export const BREAKER_CODE: Readonly<Record<BreakerState, number>> = {
  closed: 0,
  'half-open': 1,
  open: 2,
  isolated: 3,
};
