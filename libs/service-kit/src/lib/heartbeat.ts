import { droppedTotal, type Bus } from '@voltimax/bus';
import { subjects, type Heartbeat } from '@voltimax/contracts';
import type { Logger } from 'pino';

/** What a service reports about itself (`starting` and `stopping` are set by the kit). */
export type ServiceStatus = Heartbeat['status'];

/** The handle a service uses to report its health: heartbeat fields and the `/readyz` answer. */
export interface HealthControl {
  /** Status for the heartbeat; a change is published at once. */
  setStatus(status: 'ok' | 'degraded' | 'error', detail?: string): void;
  /** Whether `/readyz` may answer 200 (default true once `start` resolved). */
  setReady(ready: boolean): void;
  /** A counter for the heartbeat (finite number). */
  setCounter(name: string, value: number): void;
  incrementCounter(name: string, by?: number): void;
  /** Assets this instance drives (drivers). */
  setAssets(assetIds: readonly string[]): void;
}

/** Mutable health of one service instance, read by the heartbeat and the health endpoint. */
export class HealthState {
  status: ServiceStatus = 'starting';
  detail: string | undefined;
  serviceReady = true;
  started = false;
  stopping = false;
  assets: readonly string[] | undefined;
  readonly counters = new Map<string, number>();
}

/** Options for {@link startHeartbeat}. */
export interface HeartbeatOptions {
  readonly bus: Bus;
  readonly log: Logger;
  readonly state: HealthState;
  readonly service: string;
  readonly instanceId: string;
  readonly version: string;
  readonly intervalMs: number;
  readonly startedAtMs: number;
  /** Epoch ms. */
  readonly now: () => number;
}

/** A running heartbeat. */
export interface HeartbeatLoop {
  /** Publish one heartbeat now. */
  beat(): void;
  stop(): void;
}

/** The heartbeat message for the current state; bus counters are added as `bus*`. */
export function buildHeartbeat(opts: HeartbeatOptions): Heartbeat {
  const { state } = opts;
  const totals = opts.bus.stats().totals;
  const counters: Record<string, number> = {
    busDropped: droppedTotal(totals),
    busHandlerErrors: totals.handlerErrors,
    busPublishRejected: totals.publishRejected,
    ...Object.fromEntries(state.counters),
  };
  return {
    v: 1,
    service: opts.service,
    instanceId: opts.instanceId,
    status: state.status,
    atMs: opts.now(),
    startedAtMs: opts.startedAtMs,
    version: opts.version,
    intervalMs: opts.intervalMs,
    counters,
    ...(state.assets === undefined ? {} : { assets: [...state.assets] }),
    ...(state.detail === undefined ? {} : { detail: state.detail }),
  };
}

/** Publish `health.<service>` now and every `intervalMs`. An invalid heartbeat is logged, never thrown. */
export function startHeartbeat(opts: HeartbeatOptions): HeartbeatLoop {
  const beat = (): void => {
    try {
      opts.bus.publish(subjects.health, { service: opts.service }, buildHeartbeat(opts));
    } catch (err) {
      opts.log.error({ err }, 'heartbeat not published');
    }
  };
  beat();
  const timer = setInterval(beat, opts.intervalMs);
  return {
    beat,
    stop: () => clearInterval(timer),
  };
}

/** The {@link HealthControl} over a state; `onChange` is called when the status changed. */
export function healthControl(state: HealthState, onChange: () => void): HealthControl {
  return {
    setStatus(status, detail) {
      if (state.stopping) return;
      const changed = state.status !== status || state.detail !== detail;
      state.status = status;
      state.detail = detail;
      if (changed && state.started) onChange();
    },
    setReady(ready) {
      state.serviceReady = ready;
    },
    setCounter(name, value) {
      state.counters.set(name, value);
    },
    incrementCounter(name, by = 1) {
      state.counters.set(name, (state.counters.get(name) ?? 0) + by);
    },
    setAssets(assetIds) {
      state.assets = [...assetIds];
    },
  };
}
