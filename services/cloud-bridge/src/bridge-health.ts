import type { HealthControl } from '@voltimax/service-kit';

/** The bridge's health: named problems (any → `degraded`, their details joined) and heartbeat counters. */
export interface BridgeHealth {
  /** Set (`detail`) or clear (`undefined`) one problem; the heartbeat status follows at once. */
  setProblem(key: string, detail: string | undefined): void;
  problems(): ReadonlyMap<string, string>;
  count(name: string, by?: number): void;
  set(name: string, value: number): void;
  /** The counters as last set (also in every heartbeat). */
  counters(): Readonly<Record<string, number>>;
}

/** Heartbeat detail is limited to 500 characters (HeartbeatSchema). */
const MAX_DETAIL = 500;

export function bridgeHealth(control: HealthControl): BridgeHealth {
  const problems = new Map<string, string>();
  const counters = new Map<string, number>();
  const publish = (): void => {
    if (problems.size === 0) {
      control.setStatus('ok');
      return;
    }
    const detail = [...problems.values()].join('; ');
    control.setStatus('degraded', detail.length > MAX_DETAIL ? `${detail.slice(0, MAX_DETAIL - 3)}...` : detail);
  };
  return {
    setProblem(key, detail) {
      const before = problems.get(key);
      if (detail === undefined) {
        if (!problems.delete(key)) return;
      } else {
        if (before === detail) return;
        problems.set(key, detail);
      }
      publish();
    },
    problems: () => problems,
    count(name, by = 1) {
      counters.set(name, (counters.get(name) ?? 0) + by);
      control.incrementCounter(name, by);
    },
    set(name, value) {
      counters.set(name, value);
      control.setCounter(name, value);
    },
    counters: () => Object.fromEntries(counters),
  };
}
