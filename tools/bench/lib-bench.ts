// Helpers shared by tools/bench/poller.ts and tools/bench/arbiter.ts: machine context, percentiles, a plain table,
// a service started as a child process (node tools/run-ts.js <main.ts>) and its CPU/RSS read from /proc.
// Not a bench itself: run directly it does nothing and exits 0.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { connectBus, createBus, type Bus, type BusConnection } from '@voltimax/bus';
import type { AssetReading } from '@voltimax/contracts';
import { NATS_DEV_PASSWORDS, type NatsUser } from '@voltimax/testing';
import pino from 'pino';

/** The repository root (tools/bench → ../..). */
export const ROOT = path.resolve(__dirname, '..', '..');

export function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** One figure of a bench for `bench-results.json` and the summary table of `npm run bench`. */
export interface BenchFigure {
  /** The bench script, e.g. `arbiter`. */
  readonly bench: string;
  /** What was measured, e.g. `intent→write p50 at 10/s`. */
  readonly metric: string;
  readonly value: number;
  /** Unit of `value`: `ms`, `MiB`, `% of a core`, `readings/s`, … */
  readonly unit: string;
  /** A target it is reported against (issue #12), as text, e.g. `< 50 ms`. */
  readonly target?: string;
}

/**
 * Records a figure: tools/bench.js sets BENCH_RESULTS_FILE (one JSON object per line) and gathers every script's
 * figures into bench-results.json. Run on its own (no BENCH_RESULTS_FILE) a bench only prints.
 */
export function record(figure: BenchFigure): void {
  const file = process.env['BENCH_RESULTS_FILE'];
  if (!file || !Number.isFinite(figure.value)) return;
  appendFileSync(file, `${JSON.stringify(figure)}\n`);
}

/** Cores, CPU model, load average and node version, as printed at the start of every bench. */
export function machineContext(): { readonly cores: number; readonly line: string } {
  const cpus = os.cpus();
  const [l1, l5, l15] = os.loadavg().map((l) => l.toFixed(2));
  return {
    cores: cpus.length,
    line: `${cpus.length} × ${cpus[0]?.model.trim() ?? 'cpu'}, load average at start ${l1} / ${l5} / ${l15} (1/5/15 min), node ${process.version}, ${os.platform()} ${os.release()}`,
  };
}

/** Nearest-rank percentile (p in 0…100) of values; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** `12.3` with `digits` decimals, `–` for NaN. */
export function fmt(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}

/** Prints rows under headers, columns padded to the widest cell (first column left, the rest right aligned). */
export function printTable(headers: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  out(`  ${line(headers)}`);
  out(`  ${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const row of rows) out(`  ${line(row)}`);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `predicate` every `intervalMs` until it is true; false when `timeoutMs` ran out (bounded, never throws). */
export async function until(predicate: () => boolean, timeoutMs: number, intervalMs = 10): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
  return true;
}

/** A service running as `node tools/run-ts.js <entry>` (the process measured is that node process itself). */
export interface ChildService {
  readonly pid: number;
  readonly child: ChildProcess;
  /** The last lines it wrote (stdout and stderr), for diagnostics. */
  tail(): string;
  /** Log lines at warn or above (pino level ≥ 40) so far, counted by message. */
  problems(): Record<string, number>;
  exited(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

export function startChildService(entry: string, env: Readonly<Record<string, string>>): ChildService {
  return startNodeProcess([path.join(ROOT, 'tools', 'run-ts.js'), entry], env);
}

/** `node <args>` as a measured child (e.g. an esbuild bundle: `[dist/<service>/main.js]`, as the images run it). */
export function startNodeProcess(args: readonly string[], env: Readonly<Record<string, string>>): ChildService {
  const entry = args[args.length - 1] ?? 'node';
  const child = spawn(process.execPath, [...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const problems = new Map<string, number>();
  const carry = { stdout: '', stderr: '' };
  const keep = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
    const parts = (carry[stream] + chunk.toString()).split('\n');
    carry[stream] = parts.pop() ?? '';
    for (const l of parts) {
      if (l.trim() === '') continue;
      lines.push(l);
      // pino JSON lines: count warn (40) and above by message.
      if (l.startsWith('{')) {
        try {
          const entry = JSON.parse(l) as { level?: number; msg?: string };
          if ((entry.level ?? 0) >= 40) problems.set(entry.msg ?? '?', (problems.get(entry.msg ?? '?') ?? 0) + 1);
        } catch {
          // not a log line
        }
      }
    }
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  };
  child.stdout?.on('data', keep('stdout'));
  child.stderr?.on('data', keep('stderr'));
  const hasExited = () => child.exitCode !== null || child.signalCode !== null;
  if (child.pid === undefined) throw new Error(`could not start ${entry}`);
  return {
    pid: child.pid,
    child,
    tail: () => lines.join('\n'),
    problems: () => Object.fromEntries(problems),
    exited: hasExited,
    stop: (graceMs = 6_000) =>
      new Promise<void>((resolve) => {
        if (hasExited()) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

let clockTicks: number | undefined;
/** Kernel clock ticks per second (USER_HZ) for /proc/<pid>/stat times. */
export function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** utime + stime of a process, seconds (Linux /proc/<pid>/stat fields 14 and 15). */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
}

/** Resident set size of a process, MiB (VmRSS of /proc/<pid>/status). */
export function processRssMib(pid: number): number {
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** A typed bus connected as one of nats.conf's users (development password), logging nothing. */
export async function connectAs(url: string, user: NatsUser): Promise<{ bus: Bus; connection: BusConnection }> {
  const log = pino({ level: 'silent' });
  const connection = await connectBus({ servers: url, name: `bench-${user}`, user, pass: NATS_DEV_PASSWORDS[user], log });
  return { bus: createBus(connection.nc, log), connection };
}

/** Telemetry seen on the bus since the last reset: per asset count, first/last `atMs`, intervals. */
export class TelemetryCounter {
  perAsset = new Map<string, { count: number; firstAtMs: number; lastAtMs: number }>();
  intervalsMs: number[] = [];
  bad = 0;
  reset(): void {
    this.perAsset = new Map();
    this.intervalsMs = [];
    this.bad = 0;
  }
  onReading(reading: AssetReading): void {
    if (reading.quality !== 'good') {
      this.bad += 1;
      return;
    }
    const seen = this.perAsset.get(reading.assetId);
    if (seen === undefined) {
      this.perAsset.set(reading.assetId, { count: 1, firstAtMs: reading.atMs, lastAtMs: reading.atMs });
      return;
    }
    this.intervalsMs.push(reading.atMs - seen.lastAtMs);
    seen.count += 1;
    seen.lastAtMs = reading.atMs;
  }
  good(assetId: string): number {
    return this.perAsset.get(assetId)?.count ?? 0;
  }
  goodTotal(): number {
    let sum = 0;
    for (const a of this.perAsset.values()) sum += a.count;
    return sum;
  }
  /** Σ per asset (readings − 1) / (last − first): the polling rate, free of window-edge quantisation. */
  readingsPerS(): number {
    let sum = 0;
    for (const a of this.perAsset.values()) if (a.count > 1) sum += (a.count - 1) / ((a.lastAtMs - a.firstAtMs) / 1000);
    return sum;
  }
}
