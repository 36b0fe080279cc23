// http-devices poll cost and write latency. Run:
//   node tools/run-ts.js tools/bench/http-devices.ts        (or `npm run bench -- http-devices`)
// (a) One http-devices process, run as in production (node tools/run-ts.js services/http-devices/src/main.ts),
//     against N simulated Peblar chargers (the simulator's REST API, one HTTP listener each on 127.0.0.1, token auth)
//     polled at 1 Hz — two GETs (meter, evinterface) per poll. For each N: its CPU from /proc/<pid>/stat over a
//     10 s window, telemetry received on the bus, and its RSS. Stops at the first N that needs ≥ 50 % of one core
//     or does not keep up.
// (b) Write path: device.ev-001.write requests (as user safety-arbiter) → http-devices reads the limit, PATCHes it,
//     reads it back on the simulated Peblar → WriteResult. Sequential writes alternating 6 / 16 A so none is
//     `unchanged`; every reply must be `applied` and the charger's own limit must equal it.
// Figures only: nothing here asserts a timing. nats-server comes from docker/nats/nats.conf (per-service users).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { subjects } from '@voltimax/contracts';
import { NATS_CONFIG_PATH, startNats, type NatsTestServer } from '@voltimax/testing';
import { SimulatedEv } from '../../services/simulator/src/ev';
import { PeblarCharger } from '../../services/simulator/src/peblar/peblar-charger';
import { startPeblarHttpServer, type PeblarHttpServer } from '../../services/simulator/src/peblar/peblar-http';
import {
  connectAs,
  fmt,
  machineContext,
  out,
  percentile,
  printTable,
  processCpuSeconds,
  processRssMib,
  sleep,
  TelemetryCounter,
  startChildService,
  until,
  type ChildService,
} from './lib-bench';

const STEPS = [10, 25, 50, 100, 200] as const;
const CPU_LIMIT_PCT = 50;
const WINDOW_MS = 10_000;
const WARMUP_MS = 2_000;
/** Do not start another N once this much time has passed. */
const STEP_BUDGET_MS = 90_000;
const WRITES = 300;
const WRITE_WARMUP = 20;
const SERVICE_MAIN = 'services/http-devices/src/main.ts';
const TOKEN = 'bench'.repeat(12) + 'abcd';

const evId = (i: number) => `ev-${String(i + 1).padStart(3, '0')}`;

interface Charger {
  readonly id: string;
  readonly charger: PeblarCharger;
  readonly server: PeblarHttpServer;
}

/** N simulated Peblar chargers on their own listeners (no physics: a plugged car, the meter follows the limit). */
async function startChargers(n: number): Promise<Charger[]> {
  const chargers: Charger[] = [];
  for (let i = 0; i < n; i += 1) {
    const id = evId(i);
    const ev = new SimulatedEv({ plugged: true, carMaxCurrentA: 16, phases: 3, voltageV: 230, minCurrentA: 6 });
    const charger = new PeblarCharger(
      { assetId: id, installationLimitA: 16, initialLimitA: 16, energyTotalStartWh: 1_250_034, phaseCount: 3 },
      ev,
      Date.now,
    );
    const server = await startPeblarHttpServer({
      charger,
      host: '127.0.0.1',
      port: 0,
      token: TOKEN,
      log: pino({ level: 'silent' }),
    });
    chargers.push({ id, charger, server });
  }
  return chargers;
}

function siteFor(chargers: readonly Charger[]): Record<string, unknown> {
  return {
    v: 1,
    gatewayId: 'gw-bench',
    siteName: 'http-devices bench',
    timezone: 'Europe/Paris',
    grid: { maxImportW: 500_000, maxExportW: 17_000, phases: 3 },
    assets: chargers.map((c) => ({
      id: c.id,
      name: `Peblar ${c.id}`,
      kind: 'ev-charger',
      profile: 'peblar.rest',
      connection: { protocol: 'http', baseUrl: `http://127.0.0.1:${c.server.port}`, tokenEnv: 'PEBLAR_TOKEN' },
      pollIntervalMs: 1_000,
      evCharger: { minCurrentA: 6, maxCurrentA: 16, phases: 3 },
    })),
    strategy: { active: ['null'] },
    tariff: { kind: 'fixed', fixedEurPerMwh: 250 },
  };
}


interface Context {
  readonly nats: NatsTestServer;
  readonly dir: string;
  readonly chargers: readonly Charger[];
  readonly telemetry: TelemetryCounter;
}

function startService(ctx: Context, chargers: readonly Charger[], name: string): ChildService {
  const siteFile = path.join(ctx.dir, `${name}.json`);
  writeFileSync(siteFile, JSON.stringify(siteFor(chargers), null, 2));
  return startChildService(SERVICE_MAIN, {
    NATS_URL: ctx.nats.url,
    NATS_USER: 'http-devices',
    NATS_PASS: 'dev-http-devices',
    SITE_FILE: siteFile,
    PEBLAR_TOKEN: TOKEN,
    INSTANCE_ID: `bench-${name}`,
    HEALTH_PORT: 'off',
    LOG_LEVEL: 'info',
    OTEL_SDK_DISABLED: 'true',
  });
}

async function waitForAllGood(ctx: Context, child: ChildService, ids: readonly string[], what: string): Promise<void> {
  ctx.telemetry.reset();
  const ok = await until(() => child.exited() || ids.every((id) => ctx.telemetry.good(id) > 0), 45_000, 50);
  if (!ok || child.exited())
    throw new Error(`${what}: not every asset reported good telemetry within 45 s; output:\n${child.tail()}`);
}

const totalReads = (chargers: readonly Charger[]) => chargers.reduce((s, c) => s + c.server.counters().reads, 0);

interface StepResult {
  readonly n: number;
  readonly cpuPct: number;
  readonly benchCpuPct: number;
  readonly readingsPerS: number;
  readonly requestsPerS: number;
  readonly intervalP99Ms: number;
  readonly rssMib: number;
  readonly loadAtEnd: number;
  readonly bad: number;
  readonly holds: boolean;
}

async function measureStep(ctx: Context, n: number): Promise<StepResult> {
  const chargers = ctx.chargers.slice(0, n);
  const ids = chargers.map((c) => c.id);
  const child = startService(ctx, chargers, `n${n}`);
  try {
    await waitForAllGood(ctx, child, ids, `N=${n}`);
    await sleep(WARMUP_MS);
    ctx.telemetry.reset();
    const reads0 = totalReads(chargers);
    const cpu0 = processCpuSeconds(child.pid);
    const own0 = process.cpuUsage();
    const t0 = performance.now();
    await sleep(WINDOW_MS);
    const cpu1 = processCpuSeconds(child.pid);
    const own = process.cpuUsage(own0);
    const seconds = (performance.now() - t0) / 1000;
    const reads1 = totalReads(chargers);
    const t = ctx.telemetry;
    const readingsPerS = t.readingsPerS();
    const intervalP99Ms = percentile(t.intervalsMs, 99);
    return {
      n,
      cpuPct: ((cpu1 - cpu0) / seconds) * 100,
      benchCpuPct: ((own.user + own.system) / 1e6 / seconds) * 100,
      readingsPerS,
      requestsPerS: (reads1 - reads0) / seconds,
      intervalP99Ms,
      rssMib: processRssMib(child.pid),
      loadAtEnd: loadavg()[0] ?? Number.NaN,
      bad: t.bad,
      holds: ids.every((id) => t.good(id) > 0) && readingsPerS >= 0.95 * n && intervalP99Ms <= 1_500 && t.bad === 0,
    };
  } finally {
    await child.stop();
  }
}

interface WriteFigures {
  readonly latenciesMs: number[];
  readonly applied: number;
  readonly otherStatus: Record<string, number>;
  readonly deviceMismatches: number;
  readonly patchesPerCommand: number;
}

async function measureWrites(ctx: Context): Promise<WriteFigures> {
  const target = ctx.chargers[0];
  if (target === undefined) throw new Error('no charger');
  const child = startService(ctx, [target], 'writes');
  const arbiter = await connectAs(ctx.nats.url, 'safety-arbiter');
  try {
    await waitForAllGood(ctx, child, [target.id], 'write path');
    const latenciesMs: number[] = [];
    const otherStatus: Record<string, number> = {};
    let applied = 0;
    let deviceMismatches = 0;
    let patches0 = 0;
    for (let i = 0; i < WRITE_WARMUP + WRITES; i += 1) {
      if (i === WRITE_WARMUP) patches0 = target.server.counters().writes;
      const currentA = i % 2 === 0 ? 6 : 16;
      const nowMs = Date.now();
      const t0 = performance.now();
      let status: string;
      try {
        const result = await arbiter.bus.request(
          subjects.deviceWrite,
          { assetId: target.id },
          {
            v: 1,
            commandId: `bench-write-${i}`,
            assetId: target.id,
            setpoint: { kind: 'ev-current', currentA },
            issuedAtMs: nowMs,
            expiresAtMs: nowMs + 60_000,
          },
          { timeoutMs: 3_000 },
        );
        status = result.status;
      } catch (err) {
        status = `error:${(err as Error).name}`;
      }
      const ms = performance.now() - t0;
      if (i < WRITE_WARMUP) continue;
      latenciesMs.push(ms);
      if (status === 'applied') applied += 1;
      else otherStatus[status] = (otherStatus[status] ?? 0) + 1;
      if (target.charger.evInterface()['ChargeCurrentLimit'] !== currentA * 1000) deviceMismatches += 1;
    }
    return {
      latenciesMs,
      applied,
      otherStatus,
      deviceMismatches,
      patchesPerCommand: (target.server.counters().writes - patches0) / WRITES,
    };
  } finally {
    await child.stop();
    await arbiter.connection.nc.drain();
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  out(`http-devices: machine: ${machineContext().line}`);
  out(
    'http-devices: device: simulated Peblar REST API (services/simulator/src/peblar, own HTTP listener on 127.0.0.1 each, ' +
      'token checked), 1 Hz, 2 GETs per poll (meter, evinterface) + system every 60 s',
  );
  const maxN = STEPS[STEPS.length - 1] ?? 0;
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-http-devices-'));
  const nats = await startNats({ config: NATS_CONFIG_PATH });
  const chargers = await startChargers(maxN);
  const telemetry = new TelemetryCounter();
  const observer = await connectAs(nats.url, 'dashboard');
  observer.bus.subscribe(subjects.telemetry, (reading) => telemetry.onReading(reading));
  await observer.connection.nc.flush();
  const ctx: Context = { nats, dir, chargers, telemetry };
  try {
    const results: StepResult[] = [];
    for (const n of STEPS) {
      if (performance.now() - started > STEP_BUDGET_MS) {
        out(`http-devices: N=${n} skipped: time budget of ${STEP_BUDGET_MS / 1000} s used up`);
        break;
      }
      const r = await measureStep(ctx, n);
      results.push(r);
      out(
        `http-devices: N=${n}: cpu ${fmt(r.cpuPct)} % of one core, ${fmt(r.readingsPerS)} readings/s, ${fmt(r.requestsPerS)} HTTP requests/s, ` +
          `poll interval p99 ${fmt(r.intervalP99Ms, 0)} ms, RSS ${fmt(r.rssMib)} MiB, bench process (devices + observer) ${fmt(r.benchCpuPct)} %` +
          (r.holds ? '' : `, NOT keeping up (${r.bad} non-good readings)`),
      );
      if (r.cpuPct >= CPU_LIMIT_PCT || !r.holds) break;
    }
    const w = await measureWrites(ctx);

    out('');
    out(
      `http-devices: (a) one process (node tools/run-ts.js ${SERVICE_MAIN}), N simulated Peblar chargers at 1 Hz, ` +
        `CPU (utime+stime from /proc) over a ${WINDOW_MS / 1000} s window after ${WARMUP_MS / 1000} s warm-up`,
    );
    printTable(
      [
        'N',
        'cpu % 1 core',
        'readings/s',
        'HTTP req/s',
        'interval p99 ms',
        'RSS MiB',
        'keeps 1 Hz',
        'bench proc cpu %',
        'load 1m',
      ],
      results.map((r) => [
        String(r.n),
        fmt(r.cpuPct),
        fmt(r.readingsPerS),
        fmt(r.requestsPerS),
        fmt(r.intervalP99Ms, 0),
        fmt(r.rssMib),
        r.holds ? 'yes' : 'no',
        fmt(r.benchCpuPct),
        fmt(r.loadAtEnd, 2),
      ]),
    );
    const under = results.filter((r) => r.cpuPct < CPU_LIMIT_PCT && r.holds);
    const best = under[under.length - 1];
    const prev = under[under.length - 2];
    const last = results[results.length - 1];
    if (best === undefined) {
      out(`http-devices: largest N under ${CPU_LIMIT_PCT} % of one core: none of the measured steps`);
    } else if (best !== last) {
      out(
        `http-devices: largest N under ${CPU_LIMIT_PCT} % of one core and keeping 1 Hz: ${best.n} ` +
          `(next step N=${last?.n}: ${fmt(last?.cpuPct ?? Number.NaN)} %${last?.holds ? '' : ', not keeping 1 Hz: poll interval p99 > 1.5 s'})`,
      );
    } else {
      const slope = prev === undefined ? best.cpuPct / best.n : (best.cpuPct - prev.cpuPct) / (best.n - prev.n);
      out(
        `http-devices: largest N under ${CPU_LIMIT_PCT} % of one core: ≥ ${best.n} (the largest step measured, ${fmt(best.cpuPct)} %); ` +
          `marginal cost ${fmt(slope, 3)} % per charger${prev === undefined ? '' : ` (N=${prev.n} → ${best.n})`}`,
      );
    }

    out('');
    out(
      'http-devices: (b) write path, device.ev-001.write (user safety-arbiter) → http-devices process → simulated Peblar → WriteResult',
    );
    out(
      `http-devices:     ${WRITES} sequential writes after ${WRITE_WARMUP} warm-up, alternating 6 / 16 A (GET read-first, PATCH, GET read-back); ` +
        'the charger is also polled at 1 Hz',
    );
    out(
      `http-devices: write → WriteResult p50 ${fmt(percentile(w.latenciesMs, 50), 2)} ms, p99 ${fmt(percentile(w.latenciesMs, 99), 2)} ms, ` +
        `max ${fmt(Math.max(...w.latenciesMs), 2)} ms; applied ${w.applied}/${WRITES}` +
        (Object.keys(w.otherStatus).length === 0 ? '' : `, other ${JSON.stringify(w.otherStatus)}`) +
        `; charger limit ≠ written after the reply: ${w.deviceMismatches}; PATCHes per command ${fmt(w.patchesPerCommand, 2)}`,
    );
  } finally {
    await observer.connection.nc.drain();
    await Promise.all(chargers.map((c) => c.server.close()));
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  out(`http-devices: bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
