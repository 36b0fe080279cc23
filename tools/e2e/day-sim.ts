// The simulator as the compressed-day scenario sees it from outside: its control API (SIM_CONTROL_PORT, loopback
// HTTP: `GET /state`, load step, car plug/unplug) and its event log (SIM_EVENTS_FILE, one JSON line per step, register
// write, HTTP write and control action). Both are validated here, at the test's boundary.
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';

/** The part of `GET /state` the scenario reads (the simulator's `SimState`; other members pass through unchecked). */
export const SimStateSchema = z.object({
  v: z.literal(1),
  step: z.number().int().nonnegative(),
  /** Simulated time at the end of the last step, epoch ms. */
  simAtMs: z.number(),
  speed: z.number().positive(),
  /** Flows of the last step: grid + = import, battery + = discharge, W; SoC %. */
  site: z.object({
    gridPowerW: z.number(),
    loadW: z.number(),
    pvW: z.number(),
    evW: z.number(),
    batteryPowerW: z.number(),
    requestedBatteryW: z.number(),
    socPct: z.number(),
  }),
  controls: z.object({ extraLoadW: z.number(), pvScale: z.number() }),
  assets: z.record(
    z.string(),
    z.object({
      kind: z.string(),
      connected: z.boolean(),
      values: z.record(z.string(), z.union([z.number(), z.boolean(), z.string(), z.null()])),
    }),
  ),
});
export type SimState = z.infer<typeof SimStateSchema>;

/** One line of SIM_EVENTS_FILE; `atMs` is wall time (epoch-based, monotonic clock). */
export const SimEventSchema = z.discriminatedUnion('t', [
  z.object({
    t: z.literal('step'),
    atMs: z.number(),
    step: z.number(),
    gridW: z.number(),
    loadW: z.number(),
    batteryW: z.number(),
  }),
  z.object({
    t: z.literal('write'),
    atMs: z.number(),
    assetId: z.string(),
    address: z.number(),
    words: z.array(z.number()),
  }),
  z.object({
    t: z.literal('http-write'),
    atMs: z.number(),
    assetId: z.string(),
    body: z.record(z.string(), z.unknown()),
  }),
  z.object({ t: z.literal('control'), atMs: z.number(), action: z.string() }).loose(),
]);
export type SimEvent = z.infer<typeof SimEventSchema>;

/** A state sample and when the test received it (epoch ms). */
export interface SimSample {
  readonly atMs: number;
  readonly state: SimState;
}

/** The control API of a running simulator on 127.0.0.1:`port`. */
export interface SimControl {
  state(): Promise<SimState>;
  /** POST `path` with `body`; resolves with the JSON answer, rejects with the status and reason when refused. */
  post(path: string, body?: Record<string, unknown>): Promise<Record<string, unknown>>;
}

const REQUEST_TIMEOUT_MS = 5_000;

export function simControl(port: number): SimControl {
  const base = `http://127.0.0.1:${port}`;
  return {
    async state() {
      const res = await fetch(`${base}/state`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      if (!res.ok) throw new Error(`GET /state answered ${res.status}: ${await res.text()}`);
      return SimStateSchema.parse(await res.json());
    },
    async post(path, body = {}) {
      const res = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const answer = (await res.json()) as Record<string, unknown>;
      if (!res.ok) throw new Error(`POST ${path} answered ${res.status}: ${JSON.stringify(answer)}`);
      return answer;
    },
  };
}

/** Every complete, valid line of the event log so far (a line being written, or one of an unknown kind, is skipped). */
export function readSimEvents(file: string): SimEvent[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line) => {
      if (line.trim() === '') return [];
      try {
        const parsed = SimEventSchema.safeParse(JSON.parse(line));
        return parsed.success ? [parsed.data] : [];
      } catch {
        return [];
      }
    });
}
