// cloud-bridge latency ("Cloud bridge" issue, Measure). Run:
//   node tools/run-ts.js tools/bench/cloud-bridge.ts        (or `npm run bench -- cloud-bridge`)
// The bridge runs as its own process (node tools/run-ts.js services/cloud-bridge/src/main.ts, user cloud-bridge) on a
// nats-server from docker/nats/nats.conf, with its cloud link over MQTT 5 to a local Mosquitto and its Platform API a
// local HTTP double (libs/testing), all on loopback. This process is the cloud (libs/cloud's createCloudClient, as
// `voltimax cloud` uses it) and the strategy-engine (user strategy-engine, listening on config.updated).
//
// (1) command round trip: PingGateway sent by the cloud client → the bridge answers (health of every service) → the
//     reply back at the client. Sequential, one at a time.
// (2) push refresh → config.updated: the Platform API's configuration is changed (the active strategy toggles), then
//     RefreshConfiguration is sent; measured from the send to the moment config.updated with the new hash reaches
//     the strategy-engine's connection — the fetch, validation (schema, profiles, strategy blocks), atomic write with
//     fsync of assets.json, KV `config` put and the event. Also the reply's round trip.
// Figures only: nothing asserts a timing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createCloudClient, type CloudCommandClient } from '@voltimax/cloud';
import { subjects, type CloudSettings } from '@voltimax/contracts';
import { NATS_CONFIG_PATH, NATS_DEV_PASSWORDS, startMqtt, startNats, startPlatformApi } from '@voltimax/testing';
import {
  connectAs,
  fmt,
  machineContext,
  median,
  out,
  percentile,
  printTable,
  record,
  startChildService,
  until,
} from './lib-bench';

const BRIDGE_MAIN = 'services/cloud-bridge/src/main.ts';
const GATEWAY = 'gw-bench-cloud';
const PINGS = 300;
const REFRESHES = 100;
const TOPIC_PREFIX = 'bench';

function site(brokerUrl: string, platformApiUrl: string, active: 'null' | 'self-consumption'): Record<string, unknown> {
  return {
    v: 1,
    gatewayId: GATEWAY,
    siteName: 'cloud-bridge bench',
    timezone: 'Europe/Paris',
    grid: { maxImportW: 17_000, maxExportW: 9_000, phases: 3, nominalVoltageV: 230 },
    assets: [
      {
        id: 'bat-1',
        name: 'Battery',
        kind: 'battery',
        profile: 'cnte.ess-cabinet',
        connection: { protocol: 'simulated' },
        battery: { capacityWh: 10_240, maxChargePowerW: 5_000, maxDischargePowerW: 5_000 },
      },
      {
        id: 'grid-1',
        name: 'Grid',
        kind: 'grid-meter',
        profile: 'eastron.sdm630',
        connection: { protocol: 'simulated' },
      },
    ],
    strategy: { active: [active], tickMs: 1000, config: {} },
    tariff: { kind: 'fixed', fixedEurPerMwh: 200 },
    cloud: { transport: 'mqtt', brokerUrl, topicPrefix: TOPIC_PREFIX, platformApiUrl, configPollMs: 86_400_000 },
  };
}

function summary(label: string, values: readonly number[]): string[] {
  return [
    label,
    String(values.length),
    fmt(median(values), 2),
    fmt(percentile(values, 99), 2),
    fmt(Math.max(...values), 2),
  ];
}

async function main(): Promise<void> {
  const machine = machineContext();
  out(`cloud-bridge bench on ${machine.line}`);
  const [nats, broker, api] = await Promise.all([
    startNats({ config: NATS_CONFIG_PATH }),
    startMqtt(),
    startPlatformApi(),
  ]);
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-cloud-bridge-'));
  const siteFile = path.join(dir, 'assets.json');
  writeFileSync(siteFile, JSON.stringify(site(broker.url, api.url, 'null'), null, 2));
  api.setConfiguration(GATEWAY, site(broker.url, api.url, 'null'));

  const engine = await connectAs(nats.url, 'strategy-engine');
  const updates = new Map<string, number>();
  engine.bus.subscribe(subjects.configUpdated, (u) => void updates.set(u.hash, performance.now()));
  await engine.connection.nc.flush();
  const watcher = await connectAs(nats.url, 'cli');
  let bridgeOnline = false;
  watcher.bus.subscribe(subjects.health, (h) => {
    if (h.service === 'cloud-bridge') bridgeOnline = h.counters?.['cloudOnline'] === 1;
  });
  await watcher.connection.nc.flush();

  const bridge = startChildService(BRIDGE_MAIN, {
    NATS_URL: nats.url,
    NATS_USER: 'cloud-bridge',
    NATS_PASS: NATS_DEV_PASSWORDS['cloud-bridge'],
    SITE_FILE: siteFile,
    PRICE_SOURCES: 'none',
    HEALTH_PORT: 'off',
    LOG_LEVEL: 'warn',
    HEARTBEAT_MS: '1000',
    OTEL_SDK_DISABLED: 'true',
  });
  let cloud: CloudCommandClient | null = null;
  try {
    const online = await until(() => bridge.exited() || bridgeOnline, 30_000);
    if (!online || bridge.exited()) throw new Error(`the bridge did not come online:\n${bridge.tail()}`);
    const settings: CloudSettings = {
      transport: 'mqtt',
      brokerUrl: broker.url,
      topicPrefix: TOPIC_PREFIX,
      configPollMs: 300_000,
    };
    cloud = createCloudClient(settings, {});
    if (cloud === null) throw new Error('no cloud client');

    // Warm-up (connections, JIT), not measured.
    for (let i = 0; i < 20; i += 1)
      await cloud.send({
        gatewayId: GATEWAY,
        messageType: 'PingGateway',
        payload: { sentAtMs: Date.now() },
        timeoutMs: 10_000,
      });

    const pings: number[] = [];
    for (let i = 0; i < PINGS; i += 1) {
      const started = performance.now();
      const reply = await cloud.send({
        gatewayId: GATEWAY,
        messageType: 'PingGateway',
        payload: { sentAtMs: Date.now() },
        timeoutMs: 10_000,
      });
      if (!reply.ok) throw new Error(`ping failed: ${reply.error ?? ''}`);
      pings.push(performance.now() - started);
    }

    const toEvent: number[] = [];
    const replies: number[] = [];
    for (let i = 0; i < REFRESHES; i += 1) {
      api.setConfiguration(GATEWAY, site(broker.url, api.url, i % 2 === 0 ? 'self-consumption' : 'null'));
      const started = performance.now();
      const reply = await cloud.send({
        gatewayId: GATEWAY,
        messageType: 'RefreshConfiguration',
        payload: { reason: 'bench' },
        timeoutMs: 10_000,
      });
      replies.push(performance.now() - started);
      const payload = reply.payload as { changed?: boolean; hash?: string } | undefined;
      if (!reply.ok || payload?.changed !== true || payload.hash === undefined)
        throw new Error(`refresh ${i} did not change the configuration: ${JSON.stringify(reply)}`);
      const hash = payload.hash;
      if (!(await until(() => updates.has(hash), 10_000, 1))) throw new Error(`no config.updated for ${hash}`);
      toEvent.push((updates.get(hash) ?? Number.NaN) - started);
      updates.clear();
    }

    out('');
    out(
      `cloud-bridge: over MQTT 5 on loopback (Mosquitto), Platform API double on loopback, ${PINGS} pings and ${REFRESHES} refreshes, one at a time`,
    );
    printTable(
      ['ms', 'n', 'p50', 'p99', 'max'],
      [
        summary('PingGateway round trip (cloud → gateway → reply)', pings),
        summary('RefreshConfiguration round trip', replies),
        summary('push refresh → config.updated at the engine', toEvent),
      ],
    );
    out(`cloud-bridge: ping round trip p50 ${fmt(median(pings), 2)} ms p99 ${fmt(percentile(pings, 99), 2)} ms`);
    out(
      `cloud-bridge: push refresh → config.updated p50 ${fmt(median(toEvent), 2)} ms p99 ${fmt(percentile(toEvent, 99), 2)} ms`,
    );
    // The success criteria: a command reaches the gateway within 2 s, a pushed configuration change within 10 s.
    record({
      bench: 'cloud-bridge',
      metric: 'PingGateway round trip over MQTT p50',
      value: median(pings),
      unit: 'ms',
      target: '< 2000 ms',
    });
    record({
      bench: 'cloud-bridge',
      metric: 'PingGateway round trip over MQTT p99',
      value: percentile(pings, 99),
      unit: 'ms',
      target: '< 2000 ms',
    });
    record({
      bench: 'cloud-bridge',
      metric: 'push refresh → config.updated p50',
      value: median(toEvent),
      unit: 'ms',
      target: '< 10000 ms',
    });
    record({
      bench: 'cloud-bridge',
      metric: 'push refresh → config.updated p99',
      value: percentile(toEvent, 99),
      unit: 'ms',
      target: '< 10000 ms',
    });
    const problems = bridge.problems();
    if (Object.keys(problems).length > 0)
      out(`cloud-bridge: bridge warnings during the run: ${JSON.stringify(problems)}`);
  } finally {
    await cloud?.close();
    await bridge.stop();
    await engine.connection.nc.close();
    await watcher.connection.nc.close();
    await Promise.all([nats.stop(), broker.stop(), api.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(
      `cloud-bridge bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
