// safety-arbiter latency ("Safety arbiter" issue, Measure). Run:
//   node tools/run-ts.js tools/bench/arbiter.ts        (or `npm run bench -- arbiter`)
// The arbiter runs as its own process, as in production (node tools/run-ts.js services/safety-arbiter/src/main.ts,
// default settings: TICK_MS 1000, MIN_WRITE_INTERVAL_MS 250, …) on a nats-server from docker/nats/nats.conf. This
// process plays everyone else with their own NATS users: a fake modbus-poller (answers every device write `applied`,
// publishes fresh telemetry of every asset once per 1 s poll interval and a heartbeat owning them), a write spy
// (user http-devices, never answers), the strategy-engine sending intents as requests, and the cli for the e-stop.
//
// (1) intent → device write: `control.intent.optimization.<id>` request sent → the spy receives the `device.<id>.write` carrying
//     that intentId. Open loop at 10 and 100 intents/s, round robin over 50 batteries, each intent reversing its
//     battery's direction (±1000…1400 W) so every intent changes the write. The arbiter paces *widening* changes
//     to at least MIN_WRITE_INTERVAL_MS (250 ms) apart per asset (a newer intent meanwhile supersedes the waiting
//     one); with 50 assets each asset sees an intent at most every 500 ms, so nothing here waits for the pacing:
//     the figures are processing + two NATS hops, not the pacing delay. Every reading of a controllable asset
//     re-evaluates the whole site, so the arbiter needs a good part of a core here; if the host cannot give it that,
//     readings age in its queue past 1.5 poll intervals and intents are answered `safe:stale-telemetry` (printed).
// (2) e-stop: `safety.estop` engage published (user cli) → the spy has received the safe write of all 20 batteries
//     (each running a non-zero set-point). 10 trials, release in between.
// Figures only: nothing asserts a timing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Bus, BusConnection } from '@voltimax/bus';
import { intentParams, subjects, type AssetReading, type ControlIntent, type DeviceWrite } from '@voltimax/contracts';
import { NATS_CONFIG_PATH, NATS_DEV_PASSWORDS, startNats, type NatsTestServer, type NatsUser } from '@voltimax/testing';
import {
  connectAs,
  fmt,
  machineContext,
  median,
  out,
  percentile,
  printTable,
  processCpuSeconds,
  sleep,
  startChildService,
  until,
  type ChildService,
  record,
} from './lib-bench';

const ARBITER_MAIN = 'services/safety-arbiter/src/main.ts';
const RATES = [
  { perS: 10, seconds: 30 },
  { perS: 100, seconds: 10 },
] as const;
const INTENT_ASSETS = 50;
const ESTOP_ASSETS = 20;
const ESTOP_TRIALS = 10;
const POLL_INTERVAL_MS = 1_000;
const HEARTBEAT_MS = 1_000;
const GRID_METER = 'grid-1';
const IDLE_WINDOW_MS = 5_000;

const batteryId = (i: number) => `bat-${String(i + 1).padStart(2, '0')}`;

/** `batteries` batteries (5 kW, no ramp limit) and a grid meter; a grid connection wide enough never to clip. */
function site(batteries: number): Record<string, unknown> {
  return {
    v: 1,
    gatewayId: 'gw-bench',
    siteName: 'arbiter bench',
    timezone: 'Europe/Paris',
    grid: { maxImportW: 1_000_000, maxExportW: 1_000_000, phases: 3, nominalVoltageV: 230 },
    assets: [
      {
        id: GRID_METER,
        name: 'Grid meter',
        kind: 'grid-meter',
        profile: 'acme.meter',
        connection: { protocol: 'simulated' },
        pollIntervalMs: POLL_INTERVAL_MS,
      },
      ...Array.from({ length: batteries }, (_, i) => ({
        id: batteryId(i),
        name: `Battery ${i + 1}`,
        kind: 'battery',
        profile: 'acme.battery',
        connection: { protocol: 'simulated' },
        pollIntervalMs: POLL_INTERVAL_MS,
        battery: {
          capacityWh: 10_000,
          maxChargePowerW: 5_000,
          maxDischargePowerW: 5_000,
          minSocPct: 10,
          maxSocPct: 95,
          reserveSocPct: 20,
        },
      })),
    ],
    strategy: { active: ['null'] },
    tariff: { kind: 'fixed', fixedEurPerMwh: 200 },
  };
}

/** A device write the spy received, with this process's monotonic receipt time. */
interface Seen {
  readonly write: DeviceWrite;
  readonly atMs: number;
}

/** The fake modbus-poller and the spy, for the current set of assets. */
class Peers {
  assets: string[] = [];
  readonly seen: Seen[] = [];
  readonly byIntent = new Map<string, Seen>();
  private tick = 0;
  private sequence = 0;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly driver: Bus,
    spy: Bus,
  ) {
    driver.reply(subjects.deviceWrite, (write) => ({
      v: 1 as const,
      commandId: write.commandId,
      assetId: write.assetId,
      status: 'applied' as const,
      atMs: Date.now(),
    }));
    spy.subscribe(subjects.deviceWrite, (write) => {
      const seen = { write, atMs: performance.now() };
      this.seen.push(seen);
      if (write.intentId !== undefined && !this.byIntent.has(write.intentId)) this.byIntent.set(write.intentId, seen);
    });
    // Telemetry: every 100 ms one tenth of the assets, so each asset reports once per 1 s poll interval, spread.
    this.timers.push(
      setInterval(() => this.publishTelemetry(), POLL_INTERVAL_MS / 10),
      setInterval(() => this.beat(), HEARTBEAT_MS),
    );
  }

  use(assets: string[]): void {
    this.assets = assets;
    for (const id of assets) this.publishReading(id);
    this.beat();
  }

  /** Longest time between two readings of one asset since {@link resetGaps} (the arbiter calls > 1500 ms stale). */
  maxGapMs = 0;
  private readonly lastPublishedAt = new Map<string, number>();

  resetGaps(): void {
    this.maxGapMs = 0;
  }

  private publishReading(assetId: string): void {
    this.sequence += 1;
    const nowMs = performance.now();
    const previous = this.lastPublishedAt.get(assetId);
    if (previous !== undefined) this.maxGapMs = Math.max(this.maxGapMs, nowMs - previous);
    this.lastPublishedAt.set(assetId, nowMs);
    const base = { v: 1 as const, assetId, atMs: Date.now(), sequence: this.sequence, quality: 'good' as const };
    const reading: AssetReading =
      assetId === GRID_METER
        ? { ...base, kind: 'grid-meter', values: { powerW: 500 } }
        : { ...base, kind: 'battery', values: { powerW: 0, socPct: 50, temperatureC: 25 } };
    this.driver.publish(subjects.telemetry, { assetId }, reading);
  }

  private publishTelemetry(): void {
    const group = this.tick % 10;
    this.tick += 1;
    this.assets.forEach((id, i) => {
      if (i % 10 === group) this.publishReading(id);
    });
  }

  private beat(): void {
    if (this.assets.length === 0) return;
    const nowMs = Date.now();
    this.driver.publish(
      subjects.health,
      { service: 'modbus-poller' },
      {
        v: 1,
        service: 'modbus-poller',
        instanceId: 'bench-fake-poller',
        status: 'ok',
        atMs: nowMs,
        startedAtMs: nowMs,
        version: '0.0.0',
        intervalMs: HEARTBEAT_MS,
        assets: this.assets,
      },
    );
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
  }
}

interface Stack {
  readonly nats: NatsTestServer;
  readonly dir: string;
  readonly peers: Peers;
  readonly strategy: Bus;
  readonly cli: Bus;
  readonly connections: BusConnection[];
  /** The set-point of each asset's last intent, so the next one always differs. */
  readonly lastPowerW: Map<string, number>;
}

/** Starts the arbiter process on a site of `batteries` batteries; resolves once it has written safe to each. */
async function startArbiter(stack: Stack, batteries: number): Promise<{ child: ChildService; ids: string[] }> {
  const ids = Array.from({ length: batteries }, (_, i) => batteryId(i));
  const siteFile = path.join(stack.dir, `site-${batteries}.json`);
  writeFileSync(siteFile, JSON.stringify(site(batteries), null, 2));
  stack.peers.use([GRID_METER, ...ids]);
  const from = stack.peers.seen.length;
  const child = startChildService(ARBITER_MAIN, {
    NATS_URL: stack.nats.url,
    NATS_USER: 'safety-arbiter',
    NATS_PASS: NATS_DEV_PASSWORDS['safety-arbiter'],
    SITE_FILE: siteFile,
    INSTANCE_ID: `bench-arbiter-${batteries}`,
    HEALTH_PORT: 'off',
    LOG_LEVEL: 'info',
  });
  const started = await until(() => {
    if (child.exited()) return true;
    const written = new Set(stack.peers.seen.slice(from).map((s) => s.write.assetId));
    return ids.every((id) => written.has(id));
  }, 45_000);
  if (!started || child.exited()) {
    await child.stop();
    throw new Error(`the arbiter did not write its start-up safe setpoints within 45 s; output:\n${child.tail()}`);
  }
  return { child, ids };
}

/** Sends one intent as strategy-engine; resolves with the decision's receipt time (or NaN) — never rejects. */
function sendIntent(
  stack: Stack,
  assetId: string,
  powerW: number,
  id: string,
): Promise<{ outcome: string; atMs: number }> {
  const intent: ControlIntent = {
    v: 1,
    id,
    source: 'optimization',
    assetId,
    setpoint: { kind: 'battery-power', powerW },
    issuedAtMs: Date.now(),
    ttlMs: 120_000,
    reason: 'bench',
    issuedBy: 'tools/bench/arbiter.ts',
  };
  return stack.strategy.request(subjects.intent, intentParams(intent), intent, { timeoutMs: 10_000 }).then(
    (decision) => ({
      outcome: [decision.outcome, ...decision.violations.map((v) => v.code)].join(':'),
      atMs: performance.now(),
    }),
    (err: unknown) => ({ outcome: `error:${(err as Error).name}`, atMs: Number.NaN }),
  );
}

interface RateResult {
  readonly perS: number;
  readonly sent: number;
  readonly achievedPerS: number;
  /** 1-min load average when the run ended (other work on the machine). */
  readonly loadAtEnd: number;
  readonly writeMs: number[];
  readonly replyMs: number[];
  readonly missing: number;
  readonly notAsRequested: number;
  readonly outcomes: Record<string, number>;
  readonly arbiterCpuPct: number;
  /** This process (sender, fake poller, spy) over the same time, % of one core. */
  readonly benchCpuPct: number;
  /** Longest gap between two readings of one asset from the fake poller during the run, ms. */
  readonly telemetryMaxGapMs: number;
}

/** Open-loop intents at `perS` for `seconds`, round robin over `ids`, each reversing its asset's direction. */
async function runRate(
  stack: Stack,
  child: ChildService,
  ids: string[],
  perS: number,
  seconds: number,
  tag: string,
): Promise<RateResult> {
  const total = perS * seconds;
  const periodMs = 1000 / perS;
  const sent: { id: string; powerW: number; atMs: number; reply: Promise<{ outcome: string; atMs: number }> }[] = [];
  const cpu0 = processCpuSeconds(child.pid);
  const own0 = process.cpuUsage();
  stack.peers.resetGaps();
  const t0 = performance.now();
  for (let i = 0; i < total; i += 1) {
    const due = t0 + i * periodMs;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const assetId = ids[i % ids.length] ?? ids[0] ?? '';
    // The opposite direction of this asset's last intent (in any run): never equal to what is written now.
    const powerW = -Math.sign(stack.lastPowerW.get(assetId) ?? 1) * (1_000 + (i % 5) * 100);
    stack.lastPowerW.set(assetId, powerW);
    const id = `bench-${tag}-${perS}-${i}`;
    const atMs = performance.now();
    sent.push({ id, powerW, atMs, reply: sendIntent(stack, assetId, powerW, id) });
  }
  const sendSeconds = (performance.now() - t0) / 1000;
  await until(() => sent.every((s) => stack.peers.byIntent.has(s.id)), 5_000);
  const cpuSeconds = (performance.now() - t0) / 1000;
  const cpu1 = processCpuSeconds(child.pid);
  const own = process.cpuUsage(own0);
  const replies = await Promise.all(sent.map((s) => s.reply));
  const writeMs: number[] = [];
  const replyMs: number[] = [];
  const outcomes: Record<string, number> = {};
  let missing = 0;
  let notAsRequested = 0;
  sent.forEach((s, i) => {
    const reply = replies[i];
    if (reply !== undefined) {
      outcomes[reply.outcome] = (outcomes[reply.outcome] ?? 0) + 1;
      if (Number.isFinite(reply.atMs)) replyMs.push(reply.atMs - s.atMs);
    }
    const seen = stack.peers.byIntent.get(s.id);
    if (seen === undefined) {
      missing += 1;
      return;
    }
    writeMs.push(seen.atMs - s.atMs);
    const sp = seen.write.setpoint;
    if (sp.kind !== 'battery-power' || sp.powerW !== s.powerW) notAsRequested += 1;
  });
  return {
    perS,
    sent: total,
    achievedPerS: total / sendSeconds,
    loadAtEnd: loadavg()[0] ?? Number.NaN,
    writeMs,
    replyMs,
    missing,
    notAsRequested,
    outcomes,
    arbiterCpuPct: ((cpu1 - cpu0) / cpuSeconds) * 100,
    benchCpuPct: ((own.user + own.system) / 1e6 / cpuSeconds) * 100,
    telemetryMaxGapMs: stack.peers.maxGapMs,
  };
}

/** One intent per asset; resolves when every corresponding write was seen (false after 5 s). */
async function setAll(stack: Stack, ids: string[], powerW: number, tag: string): Promise<boolean> {
  const intentIds = ids.map((assetId) => {
    const id = `bench-${tag}-${assetId}`;
    stack.lastPowerW.set(assetId, powerW);
    void sendIntent(stack, assetId, powerW, id);
    return id;
  });
  return until(() => intentIds.every((id) => stack.peers.byIntent.has(id)), 5_000);
}

interface EstopTrial {
  readonly firstMs: number;
  readonly lastMs: number;
}

async function estopTrials(stack: Stack, ids: string[]): Promise<EstopTrial[]> {
  const trials: EstopTrial[] = [];
  for (let t = 0; t < ESTOP_TRIALS; t += 1) {
    const powerW = t % 2 === 0 ? 1_500 : -1_500;
    if (!(await setAll(stack, ids, powerW, `estop-${t}`))) throw new Error(`trial ${t}: set-points not written in 5 s`);
    await sleep(300); // every write answered; nothing in flight
    const from = stack.peers.seen.length;
    const engagedAtMs = Date.now();
    const t0 = performance.now();
    stack.cli.publish(
      subjects.estop,
      {},
      { v: 1, action: 'engage', by: 'bench', reason: 'bench e-stop', atMs: engagedAtMs },
    );
    const safeAt = new Map<string, number>();
    const done = await until(
      () => {
        for (const s of stack.peers.seen.slice(from)) {
          if (s.write.setpoint.kind === 'safe' && !safeAt.has(s.write.assetId)) safeAt.set(s.write.assetId, s.atMs);
        }
        return ids.every((id) => safeAt.has(id));
      },
      5_000,
      2,
    );
    if (!done) throw new Error(`trial ${t}: only ${safeAt.size}/${ids.length} safe writes within 5 s`);
    const times = [...safeAt.values()].map((at) => at - t0);
    trials.push({ firstMs: Math.min(...times), lastMs: Math.max(...times) });
    stack.cli.publish(
      subjects.estop,
      {},
      { v: 1, action: 'release', by: 'bench', reason: 'trial over', atMs: Math.max(Date.now(), engagedAtMs) },
    );
    await sleep(300);
  }
  return trials;
}

async function main(): Promise<void> {
  const started = performance.now();
  const machine = machineContext();
  out(`arbiter: machine: ${machine.line}`);
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-arbiter-'));
  const nats = await startNats({ config: NATS_CONFIG_PATH });
  const connections: BusConnection[] = [];
  const as = async (user: NatsUser) => {
    const c = await connectAs(nats.url, user);
    connections.push(c.connection);
    return c.bus;
  };
  const [driver, spy, strategy, cli] = await Promise.all([
    as('modbus-poller'),
    as('http-devices'),
    as('strategy-engine'),
    as('cli'),
  ]);
  const peers = new Peers(driver, spy);
  await Promise.all(connections.map((c) => c.nc.flush()));
  const stack: Stack = { nats, dir, peers, strategy, cli, connections, lastPowerW: new Map() };
  let child: ChildService | undefined;
  try {
    // (1) intent → device write
    const first = await startArbiter(stack, INTENT_ASSETS);
    child = first.child;
    if (!(await setAll(stack, first.ids, 500, 'warmup'))) throw new Error('warm-up intents were not written in 5 s');
    await sleep(500);
    // The arbiter's CPU with telemetry alone (every reading of a controllable asset re-evaluates the whole site).
    const idleCpu0 = processCpuSeconds(child.pid);
    const idleT0 = performance.now();
    await sleep(IDLE_WINDOW_MS);
    const idleCpuPct = ((processCpuSeconds(child.pid) - idleCpu0) / ((performance.now() - idleT0) / 1000)) * 100;
    // Warm-up at 50/s (JIT, connections), not counted.
    await runRate(stack, child, first.ids, 50, 3, 'warm');
    await sleep(500);
    const rates: RateResult[] = [];
    for (const { perS, seconds } of RATES) {
      const r = await runRate(stack, child, first.ids, perS, seconds, 'run');
      rates.push(r);
      out(
        `arbiter: ${perS} intents/s: intent → device write p50 ${fmt(percentile(r.writeMs, 50), 2)} ms, ` +
          `p99 ${fmt(percentile(r.writeMs, 99), 2)} ms (n=${r.writeMs.length}, missing ${r.missing}), arbiter cpu ${fmt(r.arbiterCpuPct)} %`,
      );
      await sleep(500);
    }
    const intentProblems = child.problems();
    await child.stop();
    child = undefined;

    // (2) e-stop → last safe write
    const second = await startArbiter(stack, ESTOP_ASSETS);
    child = second.child;
    const trials = await estopTrials(stack, second.ids);
    const estopProblems = child.problems();
    await child.stop();
    child = undefined;

    out('');
    out(
      `arbiter: (1) intent request sent (strategy-engine) → device.<id>.write received by the spy; arbiter process with ` +
        `default settings, ${INTENT_ASSETS} batteries + grid meter, telemetry of each every 1 s, round robin`,
    );
    printTable(
      [
        'rate',
        'sent',
        'achieved/s',
        'write p50 ms',
        'write p90 ms',
        'write p99 ms',
        'write max ms',
        'reply p50 ms',
        'reply p99 ms',
        'missing',
        '≠ requested',
        'arbiter cpu %',
        'load 1m',
      ],
      rates.map((r) => [
        `${r.perS}/s`,
        String(r.sent),
        fmt(r.achievedPerS),
        fmt(percentile(r.writeMs, 50), 2),
        fmt(percentile(r.writeMs, 90), 2),
        fmt(percentile(r.writeMs, 99), 2),
        fmt(percentile(r.writeMs, 100), 2),
        fmt(percentile(r.replyMs, 50), 2),
        fmt(percentile(r.replyMs, 99), 2),
        String(r.missing),
        String(r.notAsRequested),
        fmt(r.arbiterCpuPct),
        fmt(r.loadAtEnd, 2),
      ]),
    );
    for (const r of rates) {
      out(`arbiter:     ${r.perS}/s decision outcomes: ${JSON.stringify(r.outcomes)}`);
      record({ bench: 'arbiter', metric: `intent → device write p50 at ${r.perS}/s`, value: percentile(r.writeMs, 50), unit: 'ms' });
      record({ bench: 'arbiter', metric: `intent → device write p99 at ${r.perS}/s`, value: percentile(r.writeMs, 99), unit: 'ms' });
      record({ bench: 'arbiter', metric: `arbiter CPU at ${r.perS} intents/s`, value: r.arbiterCpuPct, unit: '% of a core' });
    }
    out(`arbiter:     arbiter log lines at warn or above (by message): ${JSON.stringify(intentProblems)}`);
    for (const r of rates) {
      out(
        `arbiter:     ${r.perS}/s: this bench process (sender, fake poller, spy) ${fmt(r.benchCpuPct)} % of one core; ` +
          `longest gap between two readings of one asset from the fake poller ${fmt(r.telemetryMaxGapMs, 0)} ms ` +
          `(the arbiter calls a reading stale after 1.5 poll intervals = ${1.5 * POLL_INTERVAL_MS} ms)`,
      );
    }
    out(
      `arbiter:     arbiter cpu with telemetry only (${INTENT_ASSETS + 1} readings/s, no intents): ${fmt(idleCpuPct)} % of one core ` +
        `over ${IDLE_WINDOW_MS / 1000} s (each reading of a controllable asset or the grid meter re-evaluates all ${INTENT_ASSETS} batteries)`,
    );
    const [r10, r100] = rates;
    if (r10 !== undefined && r100 !== undefined) {
      out(
        `arbiter:     100/s vs 10/s: p50 ×${fmt(percentile(r100.writeMs, 50) / percentile(r10.writeMs, 50), 2)}, ` +
          `p99 ×${fmt(percentile(r100.writeMs, 99) / percentile(r10.writeMs, 99), 2)}`,
      );
    }
    out(
      `arbiter:     each asset gets an intent every ${INTENT_ASSETS / 100} s at 100/s (≥ MIN_WRITE_INTERVAL_MS 250 ms), so no ` +
        `write waited for the pacing: this is processing + 2 NATS hops. A widening change on one asset within 250 ms of ` +
        `its last write waits out the rest of the 250 ms instead (a newer intent meanwhile supersedes it).`,
    );

    out('');
    out(
      `arbiter: (2) safety.estop engage published (cli) → spy received the safe write of all ${ESTOP_ASSETS} batteries, ${ESTOP_TRIALS} trials`,
    );
    const last = trials.map((t) => t.lastMs);
    const firsts = trials.map((t) => t.firstMs);
    printTable(
      ['assets', 'trials', 'last safe write median ms', 'min ms', 'max ms', 'first safe write median ms'],
      [
        [
          String(ESTOP_ASSETS),
          String(trials.length),
          fmt(median(last), 2),
          fmt(Math.min(...last), 2),
          fmt(Math.max(...last), 2),
          fmt(median(firsts), 2),
        ],
      ],
    );
    out(`arbiter:     arbiter log lines at warn or above (by message): ${JSON.stringify(estopProblems)}`);
    record({ bench: 'arbiter', metric: `e-stop → last safe write of ${ESTOP_ASSETS} assets, median`, value: median(last), unit: 'ms' });
    out(`arbiter: done in ${fmt((performance.now() - started) / 1000)} s`);
  } finally {
    await child?.stop();
    peers.stop();
    await Promise.allSettled(connections.map((c) => c.nc.close()));
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`arbiter bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
