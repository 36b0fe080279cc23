// The whole gateway for the compressed-day scenario, as `npm start` runs it but on private servers: nats-server with
// the production users (docker/nats/nats.conf), Redis, Mosquitto (the cloud's MQTT broker) and the Platform API
// double from @voltimax/testing; the simulator, modbus-poller, http-devices, safety-arbiter, cloud-bridge and
// strategy-engine as child processes. The test acts only from outside: as the cloud (libs/cloud's client on the
// broker, the Platform API double), as an operator (the `voltimax` command line) and on the simulated site (its
// control API). It watches the bus as user `cli`, the device writes and their WriteResults through a tap, and the
// simulator's state and event log.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectBus, createBus, type BusConnection, type Msg } from '@voltimax/bus';
import { captureLogger } from '@voltimax/bus/testing';
import { createCloudClient, type CloudCommandClient } from '@voltimax/cloud';
import { FAST_RECONNECT } from '@voltimax/cloud/testing';
import {
  DeviceWriteSchema,
  inboxPrefixFor,
  subjects,
  WriteResultSchema,
  type ArbiterDecision,
  type AssetReading,
  type CloudReplyEnvelope,
  type ConfigurationUpdated,
  type ControlIntent,
  type DecisionMetrics,
  type DeviceWrite,
  type EmergencyStop,
  type Heartbeat,
  type MeasurementKey,
  type WriteResult,
} from '@voltimax/contracts';
import {
  freePort,
  NATS_CONFIG_PATH,
  NATS_DEV_PASSWORDS,
  REPO_ROOT,
  startMqtt,
  startNats,
  startPlatformApi,
  startProcess,
  startRedis,
  startServiceProcess,
  waitFor,
  type NatsTestServer,
  type PlatformApiDouble,
  type ServiceProcess,
  type TestServer,
} from '@voltimax/testing';
import { BATTERY, CHARGER, dayAheadPrices, dayProfileCsv, daySite, GRID, INVERTER, SIM_SPEED } from './day-site';
import { readSimEvents, simControl, type SimControl, type SimEvent, type SimSample } from './day-sim';

/** A message and when the test received it (epoch ms). */
export interface Seen<T> {
  readonly atMs: number;
  readonly payload: T;
}

/** A device write the arbiter sent, and the driver's WriteResult once it came. */
export interface TappedWrite {
  readonly atMs: number;
  readonly write: DeviceWrite;
  result?: WriteResult;
  resultAtMs?: number;
}

/** The gateway's MQTT topic prefix on the cloud broker. */
const TOPIC_PREFIX = 'day';
/** How often the test samples the simulator's state, ms. */
const SAMPLE_MS = 1_000;

/** A finished command line run. */
export interface CliRun {
  readonly exit: string;
  /** stdout lines that parsed as JSON. */
  readonly json: readonly Record<string, unknown>[];
  readonly output: string;
}

export interface DayGateway {
  readonly gatewayId: string;
  readonly dir: string;
  readonly eventsFile: string;
  /** The configuration the bridge runs with (the simulated site with the cloud block); the cloud's copy of it. */
  readonly bridgeSite: Readonly<Record<string, unknown>>;
  readonly api: PlatformApiDouble;
  readonly sim: SimControl;
  readonly services: readonly ServiceProcess[];
  readonly readings: readonly Seen<AssetReading>[];
  readonly intents: readonly Seen<ControlIntent>[];
  readonly decisions: readonly Seen<ArbiterDecision>[];
  readonly strategyDecisions: readonly Seen<DecisionMetrics>[];
  readonly heartbeats: readonly Seen<Heartbeat>[];
  readonly configUpdates: readonly Seen<ConfigurationUpdated>[];
  readonly estops: readonly Seen<EmergencyStop>[];
  readonly writes: readonly TappedWrite[];
  readonly simSamples: readonly SimSample[];
  /** The controllable assets as the arbiter resolved them at start (its `site and limits` log line). */
  readonly controllable: readonly string[];
  /** Sends a command as the cloud over MQTT and resolves with the gateway's reply. */
  cloudSend(
    messageType: 'PingGateway' | 'SetBatterySetpoint' | 'RefreshConfiguration',
    payload: unknown,
  ): Promise<CloudReplyEnvelope>;
  /** Runs `voltimax <args>` as NATS user `cli` and waits for it to end. */
  cli(args: readonly string[]): Promise<CliRun>;
  simEvents(): SimEvent[];
  latestHeartbeat(service: string): Heartbeat | undefined;
  /** What the bus and the simulator showed recently, and every service's last output: for a failure report. */
  report(sinceMs: number): string;
  stop(): Promise<void>;
}

/** Starts servers, observers, the simulated site and every service, and waits until the loop runs. */
export async function startDayGateway(): Promise<DayGateway> {
  const gatewayId = `gw-e2e-day-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'voltimax-day-'));
  const eventsFile = join(dir, 'sim-events.jsonl');
  const services: ServiceProcess[] = [];
  const readings: Seen<AssetReading>[] = [];
  const intents: Seen<ControlIntent>[] = [];
  const decisions: Seen<ArbiterDecision>[] = [];
  const strategyDecisions: Seen<DecisionMetrics>[] = [];
  const heartbeats: Seen<Heartbeat>[] = [];
  const configUpdates: Seen<ConfigurationUpdated>[] = [];
  const estops: Seen<EmergencyStop>[] = [];
  const writes: TappedWrite[] = [];
  const simSamples: SimSample[] = [];
  const observerLog = captureLogger('warn');
  let nats: NatsTestServer | undefined;
  let redis: TestServer | undefined;
  let broker: TestServer | undefined;
  let api: PlatformApiDouble | undefined;
  let observer: BusConnection | undefined;
  let tap: BusConnection | undefined;
  let replyTap: BusConnection | undefined;
  let cloud: CloudCommandClient | undefined;
  let sampler: NodeJS.Timeout | undefined;
  let bridgeSite: Record<string, unknown> = {};
  let sim: SimControl | undefined;
  let controllable: string[] = [];

  const latestHeartbeat = (service: string) => heartbeats.filter((h) => h.payload.service === service).at(-1)?.payload;

  async function start(name: string, env: Record<string, string>): Promise<ServiceProcess> {
    if (!nats) throw new Error('nats-server is not running');
    const service = startServiceProcess(name, nats.url, { HEARTBEAT_MS: '1000', ...env });
    services.push(service);
    await waitFor(
      () => {
        if (service.exit() !== undefined) throw new Error(`${name} exited (${service.exit()})`);
        return latestHeartbeat(name);
      },
      { timeoutMs: 45_000, intervalMs: 50, message: `the first heartbeat of ${name}` },
    );
    return service;
  }

  async function stop(): Promise<void> {
    if (sampler) clearInterval(sampler);
    await cloud?.close().catch(() => undefined);
    // The engine first (no new intents), then the bridge and the arbiter (its last safe write still reaches the
    // drivers), then the drivers and the site.
    const stopNamed = (names: readonly string[]) =>
      Promise.all(services.filter((s) => names.includes(s.name)).map((s) => s.stop(5_000)));
    await stopNamed(['strategy-engine']);
    await stopNamed(['cloud-bridge', 'safety-arbiter']);
    await stopNamed(['modbus-poller', 'http-devices', 'simulator']);
    await Promise.all(
      [observer?.nc.drain(), tap?.nc.drain(), replyTap?.nc.drain()].map((p) => p?.catch(() => undefined)),
    );
    await Promise.all([nats?.stop(), redis?.stop(), broker?.stop(), api?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }

  try {
    [nats, redis, broker, api] = await Promise.all([
      startNats({ config: NATS_CONFIG_PATH }),
      startRedis(),
      startMqtt(),
      startPlatformApi(),
    ]);

    // The observer: everything a `voltimax monitor` sees.
    observer = await connectBus({
      servers: nats.url,
      name: 'e2e-day-observer',
      user: 'cli',
      pass: NATS_DEV_PASSWORDS.cli,
      log: observerLog.log,
    });
    const bus = createBus(observer.nc, observerLog.log);
    const seen =
      <T>(list: Seen<T>[]) =>
      (payload: T) =>
        void list.push({ atMs: Date.now(), payload });
    bus.subscribe(subjects.telemetry, seen(readings));
    bus.subscribe(subjects.intent, seen(intents));
    bus.subscribe(subjects.arbiterDecision, seen(decisions));
    bus.subscribe(subjects.strategyDecision, seen(strategyDecisions));
    bus.subscribe(subjects.health, seen(heartbeats));
    bus.subscribe(subjects.configUpdated, seen(configUpdates));
    bus.subscribe(subjects.estop, seen(estops));
    await observer.nc.flush();

    // The write tap: only drivers may subscribe to device writes (nats.conf), so it connects as the modbus-poller user
    // and never answers. The WriteResult goes to the arbiter's reply inbox (`_INBOX_safety-arbiter.…`), which only the
    // safety-arbiter user may subscribe to: a second tap reads it as that user (and never publishes).
    tap = await connectBus({
      servers: nats.url,
      name: 'e2e-day-write-tap',
      user: 'modbus-poller',
      pass: NATS_DEV_PASSWORDS['modbus-poller'],
      log: observerLog.log,
    });
    const byReply = new Map<string, TappedWrite>();
    const json = (msg: Msg): unknown => {
      try {
        return msg.json();
      } catch {
        return undefined;
      }
    };
    tap.nc.subscribe(subjects.deviceWrite.wildcard, {
      callback: (err, msg) => {
        if (err) return;
        const write = DeviceWriteSchema.safeParse(json(msg));
        if (!write.success) return;
        const tapped: TappedWrite = { atMs: Date.now(), write: write.data };
        writes.push(tapped);
        if (msg.reply) byReply.set(msg.reply, tapped);
      },
    });
    replyTap = await connectBus({
      servers: nats.url,
      name: 'e2e-day-reply-tap',
      user: 'safety-arbiter',
      pass: NATS_DEV_PASSWORDS['safety-arbiter'],
      log: observerLog.log,
    });
    replyTap.nc.subscribe(`${inboxPrefixFor('safety-arbiter') ?? '_INBOX'}.>`, {
      callback: (err, msg) => {
        if (err) return;
        const tapped = byReply.get(msg.subject);
        if (!tapped || tapped.result) return;
        const result = WriteResultSchema.safeParse(json(msg));
        if (!result.success || result.data.commandId !== tapped.write.commandId) return;
        tapped.result = result.data;
        tapped.resultAtMs = Date.now();
        byReply.delete(msg.subject);
      },
    });
    await tap.nc.flush();
    await replyTap.nc.flush();

    // The simulated site: the compressed day from its first row, the car not yet there, the control API on a port
    // chosen here.
    const siteFile = join(dir, 'site.json');
    const profileFile = join(dir, 'day.csv');
    writeFileSync(siteFile, JSON.stringify(daySite(gatewayId), null, 2));
    writeFileSync(profileFile, dayProfileCsv());
    const controlPort = await freePort();
    await start('simulator', {
      SITE_FILE: siteFile,
      STATE_DIR: dir,
      SIM_PROFILE: profileFile,
      SIM_SPEED: String(SIM_SPEED),
      SIM_INITIAL_SOC_PCT: '40',
      SIM_EV_PLUGGED: 'false',
      SIM_CONTROL_PORT: String(controlPort),
      SIM_EVENTS_FILE: eventsFile,
    });
    const simAssetsFile = join(dir, 'sim-assets.json');
    await waitFor(() => existsSync(simAssetsFile), {
      timeoutMs: 15_000,
      message: 'the simulator to write sim-assets.json',
    });
    const control = simControl(controlPort);
    sim = control;
    await waitFor(() => control.state(), { timeoutMs: 10_000, message: 'the simulator control API' });
    sampler = setInterval(() => {
      control
        .state()
        .then((state) => void simSamples.push({ atMs: Date.now(), state }))
        .catch(() => undefined);
    }, SAMPLE_MS);

    // The bridge's assets.json: the simulated site with the cloud link; the Platform API serves the same document
    // (so the first poll changes nothing) and the day-ahead prices of the site's zone.
    bridgeSite = {
      ...(JSON.parse(readFileSync(simAssetsFile, 'utf8')) as Record<string, unknown>),
      cloud: {
        transport: 'mqtt',
        brokerUrl: broker.url,
        topicPrefix: TOPIC_PREFIX,
        platformApiUrl: api.url,
        configPollMs: 300_000,
      },
    };
    const bridgeFile = join(dir, 'bridge-assets.json');
    writeFileSync(bridgeFile, JSON.stringify(bridgeSite, null, 2));
    api.setConfiguration(gatewayId, bridgeSite);
    api.setPrices('FR', dayAheadPrices(Date.now()));

    // All at once (the machine is small and each takes seconds to load). The engine reads KV `config` and `prices`
    // once the bridge has created them (it looks again every 30 s), SITE_FILE until then: the same strategies.
    const site = { SITE_FILE: simAssetsFile };
    await Promise.all([
      start('modbus-poller', site),
      start('http-devices', site),
      // info: its `site and limits` line names the controllable assets.
      start('safety-arbiter', { ...site, LOG_LEVEL: 'info' }),
      start('cloud-bridge', { SITE_FILE: bridgeFile, PRICE_SOURCES: 'platform', PLATFORM_API_TIMEOUT_MS: '5000' }),
      start('strategy-engine', { ...site, REDIS_URL: redis.url }),
    ]);

    const client = createCloudClient(
      { transport: 'mqtt', brokerUrl: broker.url, topicPrefix: TOPIC_PREFIX, configPollMs: 300_000 },
      {},
      undefined,
      { mqtt: FAST_RECONNECT },
    );
    if (!client) throw new Error('no cloud client');
    cloud = client;
    await waitFor(() => latestHeartbeat('cloud-bridge')?.counters?.['cloudOnline'] === 1, {
      timeoutMs: 20_000,
      message: 'the cloud-bridge online on the broker',
    });
    const limits = await services.find((s) => s.name === 'safety-arbiter')?.line('site and limits');
    controllable = ((limits?.['controllable'] ?? []) as { assetId: string }[]).map((a) => a.assetId);
  } catch (err) {
    process.stderr.write(
      `\n[day] start-up failed: ${String(err)}\n${services.map((s) => s.tail()).join('\n')}\n` +
        `[day] observer warnings: ${observerLog.lines.map((l) => JSON.stringify(l)).join('\n') || 'none'}\n`,
    );
    await stop();
    throw err;
  }

  if (!nats || !sim || !cloud || !api) throw new Error('the gateway did not start');
  const natsUrl = nats.url;
  const activeSim = sim;
  const activeCloud = cloud;
  const activeApi = api;

  const rel = (t0: number) => (atMs: number) => ((atMs - t0) / 1_000).toFixed(1);
  const watts = (d: ArbiterDecision) =>
    d.applied?.kind === 'battery-power'
      ? d.applied.powerW
      : d.applied?.kind === 'ev-current'
        ? `${d.applied.currentA}A`
        : d.applied?.kind;

  return {
    gatewayId,
    dir,
    eventsFile,
    bridgeSite,
    api: activeApi,
    sim: activeSim,
    services,
    readings,
    intents,
    decisions,
    strategyDecisions,
    heartbeats,
    configUpdates,
    estops,
    writes,
    simSamples,
    controllable,
    cloudSend: (messageType, payload) => activeCloud.send({ gatewayId, messageType, payload, timeoutMs: 20_000 }),
    async cli(args) {
      const run = startProcess(
        'voltimax',
        process.execPath,
        [join(REPO_ROOT, 'tools', 'run-ts.js'), join(REPO_ROOT, 'services', 'cli', 'src', 'main.ts'), ...args],
        {
          PATH: process.env['PATH'] ?? '/usr/bin:/bin',
          HOME: process.env['HOME'] ?? '/tmp',
          OTEL_SDK_DISABLED: 'true',
          NATS_URL: natsUrl,
          NATS_USER: 'cli',
          NATS_PASS: NATS_DEV_PASSWORDS.cli,
        },
      );
      const exit = await waitFor(() => run.exit(), {
        timeoutMs: 60_000,
        intervalMs: 50,
        message: `voltimax ${args.join(' ')}`,
      });
      return { exit, json: run.lines, output: run.tail() };
    },
    simEvents: () => readSimEvents(eventsFile),
    latestHeartbeat,
    report(sinceMs) {
      const t = rel(sinceMs);
      const recent = <T>(list: readonly Seen<T>[]) => list.filter((s) => s.atMs >= sinceMs);
      const values = (assetId: string, key: MeasurementKey) =>
        recent(readings)
          .filter((r) => r.payload.assetId === assetId)
          .map((r) => `${t(r.payload.atMs)}:${String(r.payload.values[key] ?? r.payload.quality)}`)
          .join(' ');
      // The services' output first and the bus last: a CI log that keeps only its tail still shows the readings.
      return [
        `[day] last output of each service:\n${services.map((s) => s.tail()).join('\n')}`,
        `[day] observer warnings: ${observerLog.lines.map((l) => JSON.stringify(l)).join('\n') || 'none'}`,
        `[day] since ${new Date(sinceMs).toISOString()} (seconds from then):`,
        `intents:     ${recent(intents)
          .map((i) => {
            const sp = i.payload.setpoint;
            const value =
              sp.kind === 'battery-power' ? sp.powerW : sp.kind === 'ev-current' ? `${sp.currentA}A` : sp.kind;
            return `${t(i.atMs)}:${i.payload.assetId}:${i.payload.source}:${value}:${i.payload.reason}`;
          })
          .join(' ')}`,
        `decisions:   ${recent(decisions)
          .filter((d) => d.payload.outcome !== 'superseded')
          .map(
            (d) =>
              `${t(d.atMs)}:${d.payload.assetId}:${d.payload.source ?? '-'}:${d.payload.outcome}:${watts(d.payload) ?? '-'}${d.payload.violations.map((v) => `:${v.code}`).join('')}`,
          )
          .join(' ')}`,
        `strategies:  ${recent(strategyDecisions)
          .map((d) => {
            // NetZero's own terms (error, output, gain scale, tracking) say why the grid is where it is.
            const { errorW, gainScale, tracking, catchingUp } = d.payload.terms;
            const terms =
              d.payload.strategy === 'net-zero' && errorW !== undefined
                ? `(e ${Math.round(errorW)} out ${Math.round(d.payload.outputs['batteryPowerW'] ?? NaN)} g ${gainScale ?? '?'}${tracking ? ' trk' : ''}${catchingUp ? ' cu' : ''})`
                : '';
            return `${t(d.atMs)}:${d.payload.strategy}:${d.payload.reason}${terms}`;
          })
          .join(' ')}`,
        `sim:         ${simSamples
          .filter((s) => s.atMs >= sinceMs)
          .map(
            (s) =>
              `${t(s.atMs)}:grid ${Math.round(s.state.site.gridPowerW)} pv ${Math.round(s.state.site.pvW)} load ${Math.round(s.state.site.loadW)} ev ${Math.round(s.state.site.evW)} bat ${Math.round(s.state.site.batteryPowerW)} soc ${s.state.site.socPct.toFixed(1)}`,
          )
          .join(' | ')}`,
        `ev W:        ${values(CHARGER, 'powerW')}`,
        `load W:      ${values(INVERTER, 'loadPowerW')}`,
        `pv W:        ${values(INVERTER, 'pvPowerW')}`,
        `battery W:   ${values(BATTERY, 'powerW')}`,
        `grid W:      ${values(GRID, 'powerW')}`,
      ].join('\n');
    },
    stop,
  };
}
