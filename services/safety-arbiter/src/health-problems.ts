/** The part of service-kit's HealthControl the arbiter uses. */
export interface StatusSink {
  setStatus(status: 'ok' | 'degraded' | 'error', detail?: string): void;
  setCounter(name: string, value: number): void;
}

/** Health as a set of named problems: `degraded` (with every problem in the detail) while any is open, else `ok`. */
export interface ProblemHealth {
  /** Open (detail) or clear (undefined) one problem; the heartbeat status follows at once. */
  setProblem(key: string, detail: string | undefined): void;
  setCounter(name: string, value: number): void;
  /** The open problems, for tests and logs. */
  problems(): ReadonlyMap<string, string>;
}

/** Aggregates named problems into the heartbeat status of `sink`. */
export function problemHealth(sink: StatusSink): ProblemHealth {
  const open = new Map<string, string>();
  return {
    setProblem(key, detail) {
      const before = open.get(key);
      if (detail === undefined) open.delete(key);
      else open.set(key, detail);
      if (before === detail) return;
      const text = [...open.values()].join('; ');
      sink.setStatus(
        open.size === 0 ? 'ok' : 'degraded',
        open.size === 0 ? undefined : text.length > 500 ? `${text.slice(0, 497)}...` : text,
      );
    },
    setCounter: (name, value) => sink.setCounter(name, value),
    problems: () => open,
  };
}
