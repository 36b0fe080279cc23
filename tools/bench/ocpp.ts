// ocpp-csms capacity ("HTTP and MQTT devices, and an OCPP central system" issue, Measure). Run:
//   node tools/run-ts.js tools/bench/ocpp.ts          (or `npm run bench -- ocpp`)
//   OCPP_BENCH_SIZES=500,1000,2000 node tools/run-ts.js tools/bench/ocpp.ts
// The central system runs as its own process, as in production (node tools/run-ts.js services/ocpp-csms/src/main.ts,
// security profile 1: every charge point authenticates with its password), on a nats-server from
// docker/nats/nats.conf. This process runs N simulated charge points (services/simulator/src/ocpp, real ocpp-rpc
// clients over real WebSockets on 127.0.0.1), each with a car plugged in, so every charger has a running session and
// sends MeterValues every 10 s (OCPP_METER_INTERVAL_S=10, set by the csms at connect). Chargers publish telemetry on
// every MeterValues and every pollIntervalMs = 10 s.
// For each N it reports: connected charge points (the csms heartbeat's `assets`), sessions, MeterValues and
// readings per second over a 30 s window, the csms's RSS and CPU, and the limit round trip: a `device.<id>.write`
// request (as user safety-arbiter) → SetChargingProfile + GetCompositeSchedule at the charge point → WriteResult,
// sequentially over a sample of chargers while the load runs (p50/p99). Figures only: nothing asserts a timing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { subjects, type Heartbeat } from '@voltimax/contracts';
import { freePort, NATS_CONFIG_PATH, startNats, type NatsTestServer } from '@voltimax/testing';
import { startOcppChargePoints, type OcppChargePoints } from '../../services/simulator/src/ocpp';
import {
  connectAs,
  fmt,
  machineContext,
  median,
  out,
  percentile,
  printTable,
  processCpuSeconds,
  record,
  processRssMib,
  sleep,
  startChildService,
  until,
  type ChildService,
} from './lib-bench';

const CSMS_MAIN = 'services/ocpp-csms/src/main.ts';
const SIZES = (process.env['OCPP_BENCH_SIZES'] ?? '500,1000').split(',').map((s) => Number(s.trim())).filter((n) => n > 0);
const WINDOW_MS = 30_000;
const ROUND_TRIPS = 200;
const PASSWORD = 'bench-password';
const cpId = (i: number) => `BENCH-CP-${String(i + 1).padStart(4, '0')}`;
const evId = (i: number) => `ev-${String(i + 1).padStart(4, '0')}`;

function site(n: number): Record<string, unknown> {
  return {
    v: 1,
    gatewayId: 'gw-bench-ocpp',
    siteName: 'OCPP bench',
    timezone: 'Europe/Paris',
    grid: { maxImportW: 10_000_000, maxExportW: 100_000, phases: 3, nominalVoltageV: 230 },
    assets: Array.from({ length: n }, (_, i) => ({
      id: evId(i),
      name: `Charger ${i + 1}`,
      kind: 'ev-charger',
      profile: 'autel.maxicharger-ac',
      connection: { protocol: 'ocpp', chargePointId: cpId(i), connectorId: 1, passwordEnv: 'OCPP_BENCH_PASSWORD' },
      pollIntervalMs: 10_000,
      evCharger: { minCurrentA: 6, maxCurrentA: 16, phases: 3 },
    })),
    strategy: { active: ['null'] },
    tariff: { kind: 'fixed', fixedEurPerMwh: 200 },
  };
}

interface Result {
  readonly n: number;
  readonly connected: number;
  readonly sessions: number;
  readonly connectS: number;
  readonly meterValuesPerS: number;
  readonly readingsPerS: number;
  readonly badReadings: number;
  readonly rssMib: number;
  /** RSS before any charge point connected (the node + swc runtime of run-ts.js). */
  readonly idleRssMib: number;
  readonly cpuPct: number;
  readonly benchCpuPct: number;
  readonly rttMs: readonly number[];
  readonly writeFailures: number;
  readonly problems: Record<string, number>;
}

async function run(nats: NatsTestServer, dir: string, n: number): Promise<Result> {
  const siteFile = path.join(dir, `site-${n}.json`);
  writeFileSync(siteFile, JSON.stringify(site(n)));
  const port = await freePort();
  const csms: ChildService = startChildService(CSMS_MAIN, {
    NATS_URL: nats.url,
    NATS_USER: 'ocpp-csms',
    NATS_PASS: 'dev-ocpp-csms',
    SITE_FILE: siteFile,
    OCPP_HOST: '127.0.0.1',
    OCPP_PORT: String(port),
    OCPP_SECURITY_PROFILE: '1',
    OCPP_BENCH_PASSWORD: PASSWORD,
    OCPP_METER_INTERVAL_S: '10',
    HEARTBEAT_MS: '2000',
    HEALTH_PORT: 'off',
    LOG_LEVEL: 'warn',
    OTEL_SDK_DISABLED: 'true',
  });
  const observer = await connectAs(nats.url, 'cli');
  const arbiter = await connectAs(nats.url, 'safety-arbiter');
  let heartbeat: Heartbeat | undefined;
  let readings = 0;
  let bad = 0;
  observer.bus.subscribe(subjects.health, (h) => {
    if (h.service === 'ocpp-csms') heartbeat = h;
  });
  observer.bus.subscribe(subjects.telemetry, (r) => {
    readings += 1;
    if (r.quality !== 'good') bad += 1;
  });
  let sim: OcppChargePoints | undefined;
  try {
    if (!(await until(() => heartbeat !== undefined, 60_000, 100))) throw new Error(`ocpp-csms did not start:\n${csms.tail()}`);
    await sleep(2_000);
    const idleRssMib = processRssMib(csms.pid);
    const started = performance.now();
    sim = await startOcppChargePoints({
      concurrency: 50,
      chargePoints: Array.from({ length: n }, (_, i) => ({
        endpoint: `ws://127.0.0.1:${port}/ocpp`,
        identity: cpId(i),
        password: PASSWORD,
        vendor: 'Autel',
        model: 'MaxiChargerAC',
        connectors: [{ connectorId: 1, assetId: evId(i), car: { maxCurrentA: 16, phases: 3, capacityWh: 1_000_000, socPct: 10 } }],
      })),
    });
    const counter = (name: string) => heartbeat?.counters?.[name] ?? 0;
    await until(() => (heartbeat?.assets?.length ?? 0) >= n && counter('transactionsStarted') >= n, 180_000, 200);
    const connectS = (performance.now() - started) / 1000;
    // Every charger has had its meter interval set; let one interval pass so MeterValues run at their steady rate.
    await sleep(12_000);

    // Counters come with the heartbeat (every 2 s): rates are taken between two heartbeats, on their own clock.
    const startBeatAtMs = Date.now();
    await until(() => (heartbeat?.atMs ?? 0) > startBeatAtMs, 10_000, 20);
    const beat0 = heartbeat;
    const cpu0 = processCpuSeconds(csms.pid);
    const benchCpu0 = process.cpuUsage();
    const readings0 = readings;
    const bad0 = bad;
    const t0 = performance.now();
    // The limit round trip, sequentially over a sample of chargers, while the load runs.
    const rttMs: number[] = [];
    let writeFailures = 0;
    for (let k = 0; k < ROUND_TRIPS; k += 1) {
      const i = Math.floor((k * n) / ROUND_TRIPS);
      const nowMs = Date.now();
      const sentAt = performance.now();
      try {
        const result = await arbiter.bus.request(
          subjects.deviceWrite,
          { assetId: evId(i) },
          {
            v: 1,
            commandId: `bench-${n}-${k}`,
            assetId: evId(i),
            setpoint: { kind: 'ev-current', currentA: 6 + (k % 10) },
            issuedAtMs: nowMs,
            expiresAtMs: nowMs + 60_000,
          },
          { timeoutMs: 10_000 },
        );
        if (result.status === 'applied') rttMs.push(performance.now() - sentAt);
        else writeFailures += 1;
      } catch {
        writeFailures += 1;
      }
      const left = WINDOW_MS - (performance.now() - t0);
      await sleep(Math.max(0, Math.min(100, left / (ROUND_TRIPS - k))));
    }
    const remaining = WINDOW_MS - (performance.now() - t0);
    if (remaining > 0) await sleep(remaining);
    const elapsedS = (performance.now() - t0) / 1000;
    const benchCpu = process.cpuUsage(benchCpu0);
    const cpuS = processCpuSeconds(csms.pid) - cpu0;
    const windowEndMs = Date.now();
    await until(() => (heartbeat?.atMs ?? 0) > windowEndMs, 10_000, 20);
    const beat1 = heartbeat;
    const beatS = ((beat1?.atMs ?? 0) - (beat0?.atMs ?? 0)) / 1000;
    const meterDelta = (beat1?.counters?.['meterValues'] ?? 0) - (beat0?.counters?.['meterValues'] ?? 0);
    return {
      n,
      connected: heartbeat?.assets?.length ?? 0,
      sessions: counter('transactionsStarted'),
      connectS,
      meterValuesPerS: meterDelta / beatS,
      readingsPerS: (readings - readings0) / elapsedS,
      badReadings: bad - bad0,
      rssMib: processRssMib(csms.pid),
      idleRssMib,
      cpuPct: (cpuS / elapsedS) * 100,
      benchCpuPct: ((benchCpu.user + benchCpu.system) / 1e6 / elapsedS) * 100,
      rttMs,
      writeFailures,
      problems: csms.problems(),
    };
  } finally {
    await sim?.stop();
    await csms.stop();
    await Promise.allSettled([observer.connection.nc.close(), arbiter.connection.nc.close()]);
  }
}

async function main(): Promise<void> {
  const machine = machineContext();
  out(`ocpp: ${machine.line}`);
  out(`ocpp: ocpp-csms as a process (security profile 1), N simulated OCPP 1.6-J charge points in this process, MeterValues every 10 s, ${WINDOW_MS / 1000} s window`);
  const nats = await startNats({ config: NATS_CONFIG_PATH });
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-ocpp-'));
  const results: Result[] = [];
  try {
    for (const n of SIZES) {
      out(`ocpp: ${n} charge points …`);
      results.push(await run(nats, dir, n));
    }
  } finally {
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  printTable(
    ['charge points', 'connected', 'sessions', 'connect s', 'MeterValues/s', 'readings/s', 'not good', 'csms RSS MiB (idle)', 'csms CPU %', 'CPs CPU %', 'limit p50 ms', 'limit p99 ms', 'write failures'],
    results.map((r) => [
      String(r.n),
      String(r.connected),
      String(r.sessions),
      fmt(r.connectS),
      fmt(r.meterValuesPerS),
      fmt(r.readingsPerS),
      String(r.badReadings),
      `${fmt(r.rssMib, 0)} (${fmt(r.idleRssMib, 0)})`,
      fmt(r.cpuPct, 0),
      fmt(r.benchCpuPct, 0),
      fmt(median(r.rttMs)),
      fmt(percentile(r.rttMs, 99)),
      String(r.writeFailures),
    ]),
  );
  for (const r of results) {
    const at = `${r.n} charge points`;
    record({ bench: 'ocpp', metric: `connected of ${at}`, value: r.connected, unit: 'charge points', target: '≥ 500' });
    record({ bench: 'ocpp', metric: `MeterValues/s with ${at}`, value: r.meterValuesPerS, unit: 'messages/s' });
    record({ bench: 'ocpp', metric: `csms RSS with ${at}`, value: r.rssMib, unit: 'MiB' });
    record({ bench: 'ocpp', metric: `csms CPU with ${at}`, value: r.cpuPct, unit: '% of a core' });
    record({ bench: 'ocpp', metric: `limit round trip p50 with ${at}`, value: median(r.rttMs), unit: 'ms' });
    record({ bench: 'ocpp', metric: `limit round trip p99 with ${at}`, value: percentile(r.rttMs, 99), unit: 'ms' });
    out(
      `ocpp: ${r.n} charge points: ${r.connected} connected, ${fmt(r.meterValuesPerS)} MeterValues/s (expected ${fmt(r.n / 10)}), csms RSS ${fmt(r.rssMib, 0)} MiB (${fmt(r.idleRssMib, 0)} MiB before any charge point), limit round trip p50 ${fmt(median(r.rttMs))} ms p99 ${fmt(percentile(r.rttMs, 99))} ms over ${r.rttMs.length} writes` +
        (Object.keys(r.problems).length === 0 ? '' : `; csms warnings: ${JSON.stringify(r.problems)}`),
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`ocpp bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
