import type { Heartbeat, ServiceHealth } from '@voltimax/contracts';

/** A service is lost when none of its instances was heard for this many of its heartbeat intervals. */
export const LOST_AFTER_INTERVALS = 3;
/** Instances silent this long are forgotten (a service keeps at least its latest one, reported as lost). */
const FORGET_AFTER_MS = 3_600_000;
/** At most this many services are tracked (health.<service> is one token per service; this bounds a bad publisher). */
const MAX_SERVICES = 200;

interface Instance {
  readonly status: Heartbeat['status'];
  /** Receive time on the bridge's clock (other services' clocks may differ). */
  readonly lastSeenAtMs: number;
  readonly intervalMs: number;
}

const SEVERITY: Readonly<Record<Heartbeat['status'], number>> = {
  ok: 0,
  stopping: 1,
  starting: 2,
  degraded: 3,
  error: 4,
};

/** What `health.*` says about every service of the gateway, for PingGateway and `gateway.ping`. */
export interface ServiceHealthTracker {
  update(heartbeat: Heartbeat): void;
  /** Every service ever heard: its worst live instance's status, or `lost` when all are silent; sorted by name. */
  snapshot(): ServiceHealth[];
}

export function createServiceHealthTracker(now: () => number): ServiceHealthTracker {
  const services = new Map<string, Map<string, Instance>>();
  const alive = (instance: Instance, nowMs: number): boolean =>
    nowMs - instance.lastSeenAtMs <= LOST_AFTER_INTERVALS * instance.intervalMs;

  return {
    update(heartbeat) {
      let instances = services.get(heartbeat.service);
      if (instances === undefined) {
        if (services.size >= MAX_SERVICES) return;
        instances = new Map();
        services.set(heartbeat.service, instances);
      }
      const nowMs = now();
      instances.set(heartbeat.instanceId, {
        status: heartbeat.status,
        lastSeenAtMs: nowMs,
        intervalMs: heartbeat.intervalMs,
      });
      for (const [id, instance] of instances) {
        if (id !== heartbeat.instanceId && nowMs - instance.lastSeenAtMs > FORGET_AFTER_MS) instances.delete(id);
      }
    },
    snapshot() {
      const nowMs = now();
      return [...services.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([service, instances]) => {
          const all = [...instances.values()];
          const live = all.filter((i) => alive(i, nowMs));
          const lastSeenAtMs = Math.max(...all.map((i) => i.lastSeenAtMs));
          if (live.length === 0) return { service, status: 'lost' as const, lastSeenAtMs, instances: 0 };
          const worst = live.reduce((a, b) => (SEVERITY[b.status] > SEVERITY[a.status] ? b : a));
          return { service, status: worst.status, lastSeenAtMs, instances: live.length };
        });
    },
  };
}
