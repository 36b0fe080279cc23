// modbus-poller capacity and write latency ("Devices" issue, Measure). Run:
//   node tools/run-ts.js tools/bench/poller.ts        (or `npm run bench -- poller`)
// (a) One poller, run as its own process exactly as in production (node tools/run-ts.js services/modbus-poller/src/main.ts)
//     against N simulated Eastron SDM630 meters (the simulator's register images, one Modbus TCP listener each on
//     127.0.0.1) polled at 1 Hz. For each N: the poller's CPU from /proc/<pid>/stat over a 10 s window, telemetry
//     actually received on the bus, Modbus requests and registers per second, and its RSS. Stops stepping at the
//     first N that needs ≥ 50 % of one core or does not keep up.
// (b) Write path: device.bat-1.write requests (as user safety-arbiter) → the poller encodes, reads first, writes,
//     reads back on the simulated CNTE cabinet → WriteResult. 1000 sequential writes alternating +1000 / −1000 W so
//     none is skipped as unchanged; every reply must be `applied` and the cabinet's own set-point must equal it.
// Figures only: nothing here asserts a timing. nats-server comes from docker/nats/nats.conf (per-service users).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { SiteConfigSchema, subjects } from '@voltimax/contracts';
import { getModbusProfile, planProfileReads } from '@voltimax/devices';
import { NATS_CONFIG_PATH, NATS_DEV_PASSWORDS, startNats, type NatsTestServer } from '@voltimax/testing';
import { resolvedSite } from '../../services/simulator/src/endpoints';
import { CnteBattery } from '../../services/simulator/src/registers/cnte-battery';
import { intervalScheduler, startSimulation, type Simulation } from '../../services/simulator/src/simulation';
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
  record,
} from './lib-bench';

const STEPS = [10, 25, 50, 100, 200, 400] as const;
const CPU_LIMIT_PCT = 50;
const WINDOW_MS = 10_000;
const WARMUP_MS = 2_000;
/** Do not start another N once this much time has passed (keeps the whole bench under ~2.5 min). */
const STEP_BUDGET_MS = 95_000;
const WRITES = 1_000;
const WRITE_WARMUP = 20;
const METER_PROFILE = 'eastron.sdm630';
const POLLER_MAIN = 'services/modbus-poller/src/main.ts';

const meterId = (i: number) => `meter-${String(i + 1).padStart(3, '0')}`;

/** The simulated site: one CNTE battery (write path) and as many SDM630 load meters as the largest step. */
function rawSite(meters: number): Record<string, unknown> {
  return {
    v: 1,
    gatewayId: 'gw-bench',
    siteName: 'poller bench',
    timezone: 'Europe/Paris',
    grid: { maxImportW: 17_000, maxExportW: 17_000, phases: 3 },
    assets: [
      {
        id: 'bat-1',
        name: 'CNTE cabinet',
        kind: 'battery',
        profile: 'cnte.storage',
        connection: { protocol: 'simulated' },
        pollIntervalMs: 1_000,
        battery: { capacityWh: 10_240, maxChargePowerW: 5_000, maxDischargePowerW: 5_000 },
      },
      ...Array.from({ length: meters }, (_, i) => ({
        id: meterId(i),
        name: `Sub-meter ${i + 1}`,
        kind: 'meter',
        measures: 'load',
        profile: METER_PROFILE,
        connection: { protocol: 'simulated' },
        pollIntervalMs: 1_000,
      })),
    ],
    strategy: { active: ['null'] },
    tariff: { kind: 'fixed', fixedEurPerMwh: 250 },
  };
}


interface Context {
  readonly nats: NatsTestServer;
  readonly sim: Simulation;
  readonly raw: Record<string, unknown>;
  readonly dir: string;
  readonly telemetry: TelemetryCounter;
}

/** Starts the poller as its own process on a site file holding only `assetIds`. */
function startPoller(ctx: Context, assetIds: readonly string[], name: string): ChildService {
  const wanted = new Set(assetIds);
  const raw = { ...ctx.raw, assets: (ctx.raw['assets'] as { id: string }[]).filter((a) => wanted.has(a.id)) };
  const siteFile = path.join(ctx.dir, `${name}.json`);
  writeFileSync(siteFile, JSON.stringify(resolvedSite(raw, ctx.sim.endpoints), null, 2));
  return startChildService(POLLER_MAIN, {
    NATS_URL: ctx.nats.url,
    NATS_USER: 'modbus-poller',
    NATS_PASS: NATS_DEV_PASSWORDS['modbus-poller'],
    SITE_FILE: siteFile,
    INSTANCE_ID: `bench-${name}`,
    HEALTH_PORT: 'off',
    LOG_LEVEL: 'info',
  });
}

async function waitForAllGood(ctx: Context, child: ChildService, assetIds: readonly string[], what: string) {
  ctx.telemetry.reset();
  const ok = await until(() => child.exited() || assetIds.every((id) => ctx.telemetry.good(id) > 0), 45_000, 50);
  if (!ok || child.exited()) {
    throw new Error(`${what}: not every asset reported good telemetry within 45 s; poller output:\n${child.tail()}`);
  }
}

const totalReads = (sim: Simulation): number => Object.values(sim.counters()).reduce((s, c) => s + c.reads, 0);

interface StepResult {
  readonly n: number;
  readonly cpuPct: number;
  /** This bench process (simulated devices + bus observer) over the same window, % of one core. */
  readonly benchCpuPct: number;
  readonly readingsPerS: number;
  readonly registersPerS: number;
  /** Modbus read requests the simulated devices answered per good reading (the plan says 5). */
  readonly requestsPerReading: number;
  readonly intervalP50Ms: number;
  readonly intervalP99Ms: number;
  readonly rssMib: number;
  /** 1-min load average at the end of the window (other work on the machine). */
  readonly loadAtEnd: number;
  readonly bad: number;
  readonly holds: boolean;
}

async function measureStep(ctx: Context, n: number, registersPerPoll: number): Promise<StepResult> {
  const ids = Array.from({ length: n }, (_, i) => meterId(i));
  const child = startPoller(ctx, ids, `n${n}`);
  try {
    await waitForAllGood(ctx, child, ids, `N=${n}`);
    await sleep(WARMUP_MS);
    ctx.telemetry.reset();
    const reads0 = totalReads(ctx.sim);
    const cpu0 = processCpuSeconds(child.pid);
    const own0 = process.cpuUsage();
    const t0 = performance.now();
    await sleep(WINDOW_MS);
    const cpu1 = processCpuSeconds(child.pid);
    const own = process.cpuUsage(own0);
    const seconds = (performance.now() - t0) / 1000;
    const reads1 = totalReads(ctx.sim);
    const rssMib = processRssMib(child.pid);
    const t = ctx.telemetry;
    const readingsPerS = t.readingsPerS();
    const intervalP99Ms = percentile(t.intervalsMs, 99);
    return {
      n,
      cpuPct: ((cpu1 - cpu0) / seconds) * 100,
      benchCpuPct: ((own.user + own.system) / 1e6 / seconds) * 100,
      readingsPerS,
      registersPerS: readingsPerS * registersPerPoll,
      requestsPerReading: (reads1 - reads0) / Math.max(1, t.goodTotal()),
      intervalP50Ms: percentile(t.intervalsMs, 50),
      intervalP99Ms,
      rssMib,
      loadAtEnd: loadavg()[0] ?? Number.NaN,
      bad: t.bad,
      // Holds 1 Hz: every asset reported, at ≥ 95 % of the rate, no poll slipped past 1.5 periods, no error reading.
      holds: ids.every((id) => t.good(id) > 0) && readingsPerS >= 0.95 * n && intervalP99Ms <= 1_500 && t.bad === 0,
    };
  } finally {
    await child.stop();
  }
}

/** RSS of the same runner (node tools/run-ts.js, swc transpiling at load) with an idle script: the floor under N. */
async function runnerBaselineMib(dir: string): Promise<number> {
  const idle = path.join(dir, 'idle.ts');
  writeFileSync(idle, 'setTimeout(() => undefined, 5_000);\n');
  const child = startChildService(idle, {});
  try {
    await sleep(1_500);
    return processRssMib(child.pid);
  } finally {
    await child.stop();
  }
}

interface WriteFigures {
  readonly latenciesMs: number[];
  readonly applied: number;
  readonly otherStatus: Record<string, number>;
  readonly deviceMismatches: number;
  readonly modbusWritesPerCommand: number;
}

async function measureWrites(ctx: Context): Promise<WriteFigures> {
  const served = ctx.sim.plan.served.find((s) => s.assetId === 'bat-1');
  if (!served || !(served.device instanceof CnteBattery)) throw new Error('bat-1 is not a simulated CNTE cabinet');
  const cabinet = served.device;
  const child = startPoller(ctx, ['bat-1'], 'writes');
  const arbiter = await connectAs(ctx.nats.url, 'safety-arbiter');
  try {
    await waitForAllGood(ctx, child, ['bat-1'], 'write path');
    const latenciesMs: number[] = [];
    const otherStatus: Record<string, number> = {};
    let applied = 0;
    let deviceMismatches = 0;
    let writes0 = 0;
    for (let i = 0; i < WRITE_WARMUP + WRITES; i += 1) {
      if (i === WRITE_WARMUP) writes0 = ctx.sim.counters()['bat-1']?.writes ?? 0;
      const powerW = i % 2 === 0 ? 1_000 : -1_000;
      const nowMs = Date.now();
      const t0 = performance.now();
      let status: string;
      try {
        const result = await arbiter.bus.request(
          subjects.deviceWrite,
          { assetId: 'bat-1' },
          {
            v: 1,
            commandId: `bench-write-${i}`,
            assetId: 'bat-1',
            setpoint: { kind: 'battery-power', powerW },
            issuedAtMs: nowMs,
            expiresAtMs: nowMs + 15_000,
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
      if (cabinet.setpointW() !== powerW) deviceMismatches += 1;
    }
    const writes1 = ctx.sim.counters()['bat-1']?.writes ?? 0;
    return {
      latenciesMs,
      applied,
      otherStatus,
      deviceMismatches,
      modbusWritesPerCommand: (writes1 - writes0) / WRITES,
    };
  } finally {
    await child.stop();
    await arbiter.connection.nc.drain();
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const machine = machineContext();
  out(`poller: machine: ${machine.line}`);
  const profile = getModbusProfile(METER_PROFILE);
  if (!profile) throw new Error(`profile ${METER_PROFILE} not found`);
  const blocks = planProfileReads(profile, 'poll');
  const registersPerPoll = blocks.reduce((s, b) => s + b.count, 0);
  out(
    `poller: device: simulated ${METER_PROFILE} (the simulator's register image, own Modbus TCP listener on 127.0.0.1 each), ` +
      `1 Hz, ${blocks.length} read requests / ${registersPerPoll} registers per poll`,
  );

  const maxN = STEPS[STEPS.length - 1] ?? 0;
  const raw = rawSite(maxN);
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-poller-'));
  const nats = await startNats({ config: NATS_CONFIG_PATH });
  const sim = await startSimulation({
    site: SiteConfigSchema.parse(raw),
    profile: { source: 'flat 1800/300', at: () => ({ loadW: 1_800, pvW: 300 }) },
    speed: 1,
    startAtMs: Date.now(),
    initialSocPct: 50,
    bind: '127.0.0.1',
    basePort: 0,
    now: () => Date.now(),
    log: pino({ level: 'silent' }),
  });
  sim.run(intervalScheduler);
  const telemetry = new TelemetryCounter();
  const observer = await connectAs(nats.url, 'dashboard');
  observer.bus.subscribe(subjects.telemetry, (reading) => telemetry.onReading(reading));
  await observer.connection.nc.flush();
  const ctx: Context = { nats, sim, raw, dir, telemetry };

  try {
    // (a) capacity
    const baselineMib = await runnerBaselineMib(dir);
    const results: StepResult[] = [];
    for (const n of STEPS) {
      if (performance.now() - started > STEP_BUDGET_MS) {
        out(`poller: N=${n} skipped: time budget of ${STEP_BUDGET_MS / 1000} s used up`);
        break;
      }
      const r = await measureStep(ctx, n, registersPerPoll);
      results.push(r);
      out(
        `poller: N=${n}: cpu ${fmt(r.cpuPct)} % of one core, ${fmt(r.readingsPerS)} readings/s, ` +
          `${fmt(r.registersPerS, 0)} registers/s, poll interval p50/p99 ${fmt(r.intervalP50Ms, 0)}/${fmt(r.intervalP99Ms, 0)} ms, ` +
          `RSS ${fmt(r.rssMib)} MiB, device-side requests per reading ${fmt(r.requestsPerReading, 2)}, ` +
          `bench process (devices + observer) ${fmt(r.benchCpuPct)} %` +
          (r.holds ? '' : `, NOT keeping up (${r.bad} non-good readings)`),
      );
      record({ bench: 'poller', metric: `CPU with ${n} SDM630 at 1 Hz`, value: r.cpuPct, unit: '% of a core' });
      if (r.cpuPct >= CPU_LIMIT_PCT || !r.holds) break;
    }

    // (b) write path
    const w = await measureWrites(ctx);

    out('');
    out(
      `poller: (a) one poller process (node tools/run-ts.js ${POLLER_MAIN}), N simulated SDM630 meters at 1 Hz, ` +
        `CPU (utime+stime from /proc) over a ${WINDOW_MS / 1000} s window after ${WARMUP_MS / 1000} s warm-up`,
    );
    printTable(
      [
        'N',
        'cpu % 1 core',
        'readings/s',
        'registers/s',
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
        fmt(r.registersPerS, 0),
        fmt(r.intervalP99Ms, 0),
        fmt(r.rssMib),
        r.holds ? 'yes' : 'no',
        fmt(r.benchCpuPct),
        fmt(r.loadAtEnd, 2),
      ]),
    );
    out(
      `poller: RSS floor: the same runner (run-ts.js, swc at load) idle = ${fmt(baselineMib)} MiB; ` +
        `plain node ≈ 40 MiB. Production runs an esbuild bundle (docker/Dockerfile), so subtract the transpiler.`,
    );
    const first = results[0];
    const lastRow = results[results.length - 1];
    if (first !== undefined && lastRow !== undefined && lastRow.n > first.n) {
      out(
        `poller: RSS growth ${fmt((lastRow.rssMib - first.rssMib) / (lastRow.n - first.n), 2)} MiB per device ` +
          `(N=${first.n} → ${lastRow.n})`,
      );
    }
    const under = results.filter((r) => r.cpuPct < CPU_LIMIT_PCT && r.holds);
    const best = under[under.length - 1];
    const prev = under[under.length - 2];
    if (best === undefined) {
      out(`poller: largest N under ${CPU_LIMIT_PCT} % of one core: none of the measured steps`);
    } else if (best !== lastRow) {
      out(
        `poller: largest N under ${CPU_LIMIT_PCT} % of one core and keeping 1 Hz: ${best.n} ` +
          `(next step N=${lastRow?.n}: ${fmt(lastRow?.cpuPct ?? Number.NaN)} %${lastRow?.holds ? '' : ', not keeping up'})`,
      );
    } else {
      const slope = prev === undefined ? best.cpuPct / best.n : (best.cpuPct - prev.cpuPct) / (best.n - prev.n);
      out(
        `poller: largest N under ${CPU_LIMIT_PCT} % of one core: ≥ ${best.n} (the largest step measured, ${fmt(best.cpuPct)} %); ` +
          `marginal cost ${fmt(slope, 3)} % per device${prev === undefined ? '' : ` (N=${prev.n} → ${best.n})`}, ` +
          `so the ${CPU_LIMIT_PCT} % point extrapolates to ≈ ${Math.round(best.n + (CPU_LIMIT_PCT - best.cpuPct) / slope)} devices (not measured)`,
      );
    }

    out('');
    out(
      `poller: (b) write path, device.bat-1.write (user safety-arbiter) → poller process → simulated CNTE cabinet → WriteResult`,
    );
    out(
      `poller:     ${WRITES} sequential writes after ${WRITE_WARMUP} warm-up, alternating +1000 / −1000 W; the poller also polls bat-1 at 1 Hz`,
    );
    const lat = w.latenciesMs;
    printTable(
      ['writes', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'applied', 'other', 'device ≠ value', 'Modbus writes/cmd'],
      [
        [
          String(lat.length),
          fmt(percentile(lat, 50), 2),
          fmt(percentile(lat, 90), 2),
          fmt(percentile(lat, 99), 2),
          fmt(percentile(lat, 100), 2),
          String(w.applied),
          Object.keys(w.otherStatus).length === 0 ? '0' : JSON.stringify(w.otherStatus),
          String(w.deviceMismatches),
          fmt(w.modbusWritesPerCommand, 2),
        ],
      ],
    );
    record({ bench: 'poller', metric: 'device write → WriteResult p50', value: percentile(lat, 50), unit: 'ms' });
    record({ bench: 'poller', metric: 'device write → WriteResult p99', value: percentile(lat, 99), unit: 'ms' });
    out(`poller: done in ${fmt((performance.now() - started) / 1000)} s`);
  } finally {
    await observer.connection.nc.drain().catch(() => undefined);
    await sim.stop();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`poller bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
