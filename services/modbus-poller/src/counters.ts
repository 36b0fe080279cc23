import type { BreakerState } from '@voltimax/modbus';

/** The part of service-kit's HealthControl the components use (a fake in unit tests). */
export interface Health {
  setStatus(status: 'ok' | 'degraded' | 'error', detail?: string): void;
  setCounter(name: string, value: number): void;
  incrementCounter(name: string, by?: number): void;
}

/** Breaker state as a heartbeat number: 0 closed, 1 half-open, 2 open, 3 isolated. */
export const BREAKER_CODE: Readonly<Record<BreakerState, number>> = {
  closed: 0,
  'half-open': 1,
  open: 2,
  isolated: 3,
};
