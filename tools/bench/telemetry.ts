// telemetry-publisher drain throughput, memory and steady-state CPU ("Telemetry publisher" issue, Measure). Run:
//   node tools/run-ts.js tools/bench/telemetry.ts        (or `npm run bench -- telemetry`)
// (a) 24 h backlog: 24 h of 1 Hz telemetry from 10 assets (864,000 readings) are stored in TELEMETRY while the
//     cloud is unreachable; then the link comes back and the publisher (its own process, main.ts, production
//     defaults except an unlimited backlog rate) drains it to Mosquitto. Figures: readings/s from "link back" to
//     "last reading at the cloud side", frames, bytes, the publisher's CPU and its RSS (peak and median, sampled
//     every 100 ms from /proc).
// (b) Steady state: 20 assets × 1 Hz published live for 30 s (after 10 s of warm-up) with production defaults
//     (10 s frame window): the publisher's CPU over the window (/proc utime + stime), its RSS, and the delay from a
//     reading's publish to its arrival at the cloud side.
// Figures only: nothing here asserts a timing. nats-server comes from docker/nats/nats.conf (per-service users).
import { performance } from 'node:perf_hooks';
import { startLinkProxy } from '@voltimax/cloud/testing';
import { NATS_CONFIG_PATH, startMqtt, startNats } from '@voltimax/testing';
import {
  CloudRecorder,
  HeartbeatWatch,
  readingsAt1Hz,
  TelemetryDriver,
  testReading,
  writeSite,
} from '../../services/telemetry-publisher/src/testing/harness';
import { NATS_DEV_PASSWORDS } from '@voltimax/testing';
import {
  fmt,
  machineContext,
  median,
  out,
  percentile,
  printTable,
  processCpuSeconds,
  processRssMib,
  sleep,
  startChildService,
  until,
  type ChildService,
} from './lib-bench';

const MAIN = 'services/telemetry-publisher/src/main.ts';
const BASE_MS = Date.UTC(2026, 0, 1);
const BACKLOG_ASSETS = Array.from({ length: 10 }, (_, i) => `meter-${i}`);
const BACKLOG_SECONDS = 24 * 3600;
const LIVE_ASSETS = Array.from({ length: 20 }, (_, i) => `asset-${i}`);
const LIVE_WARMUP_S = 10;
const LIVE_WINDOW_S = 30;

/** `TELEMETRY_BENCH_HEAP_MB=96` caps the publisher's V8 heap (`--max-old-space-size`), as a small container would. */
const HEAP_MB = process.env['TELEMETRY_BENCH_HEAP_MB'];

function publisherEnv(natsUrl: string, siteFile: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...(HEAP_MB === undefined ? {} : { NODE_OPTIONS: `--max-old-space-size=${HEAP_MB}` }),
    NATS_URL: natsUrl,
    NATS_USER: 'telemetry-publisher',
    NATS_PASS: NATS_DEV_PASSWORDS['telemetry-publisher'],
    SITE_FILE: siteFile,
    HEALTH_PORT: 'off',
    LOG_LEVEL: 'warn',
    OTEL_SDK_DISABLED: 'true',
    ...extra,
  };
}

async function drainBench(): Promise<void> {
  const nats = await startNats({ config: NATS_CONFIG_PATH });
  const mqtt = await startMqtt();
  const broker = new URL(mqtt.url);
  const link = await startLinkProxy({ host: broker.hostname, port: Number(broker.port) });
  const gatewayId = 'gw-bench-drain';
  const site = writeSite(gatewayId, { transport: 'mqtt', brokerUrl: `mqtt://${link.host}:${link.port}` });
  const cloud = new CloudRecorder(gatewayId);
  await cloud.subscribe(mqtt.url);
  const heartbeats = await HeartbeatWatch.start(nats.url);
  const driver = await TelemetryDriver.connect(nats.url);
  let child: ChildService | undefined;
  try {
    await link.cut();
    child = startChildService(
      MAIN,
      publisherEnv(nats.url, site.path, {
        BACKLOG_READINGS_PER_S: '0',
        MQTT_RECONNECT_MIN_MS: '50',
        MQTT_RECONNECT_MAX_MS: '500',
        RETRY_MAX_MS: '1000',
      }),
    );
    const started = child;
    if (!(await until(() => heartbeats.started(), 60_000)))
      throw new Error(`publisher did not start\n${started.tail()}`);
    const total = BACKLOG_SECONDS * BACKLOG_ASSETS.length;
    const publishStart = performance.now();
    await driver.publish(readingsAt1Hz(BACKLOG_ASSETS, 0, BACKLOG_SECONDS, BASE_MS), { msgId: false });
    const publishS = (performance.now() - publishStart) / 1000;
    await until(() => heartbeats.counter('backlogReadings') === total, 30_000);

    const rss: number[] = [];
    const sampler = setInterval(() => {
      try {
        rss.push(processRssMib(started.pid));
      } catch {
        // exited
      }
    }, 100);
    const cpu0 = processCpuSeconds(started.pid);
    const t0 = performance.now();
    await link.restore();
    const done = await until(() => cloud.unique >= total, 600_000, 50);
    const drainS = (performance.now() - t0) / 1000;
    const cpuS = processCpuSeconds(started.pid) - cpu0;
    clearInterval(sampler);
    if (!done) throw new Error(`drain incomplete: ${cloud.unique} of ${total}\n${started.tail()}`);
    const check = cloud.check(BACKLOG_ASSETS, BACKLOG_SECONDS);
    await until(
      () => heartbeats.counter('backlogReadings') === 0 && heartbeats.counter('readingsSent') === total,
      30_000,
    );
    const bytes = heartbeats.counter('bytesSent') ?? Number.NaN;

    out(
      `telemetry: (a) 24 h backlog, ${total.toLocaleString('en')} readings (10 assets × 86,400 s), stored by the driver in ${fmt(publishS)} s (${fmt(total / publishS, 0)} readings/s, async JetStream publishes)`,
    );
    printTable(
      ['figure', 'value'],
      [
        ['drain time (link back → last reading at the cloud)', `${fmt(drainS)} s`],
        ['drain throughput', `${fmt(total / drainS, 0)} readings/s`],
        ['frames (gzip)', `${cloud.frames.length} (${cloud.frames.filter((f) => f.gzip).length})`],
        ['readings per frame', fmt(total / cloud.frames.length, 0)],
        ['JSON sent before gzip', `${fmt(bytes / 1024 ** 2)} MiB`],
        ['publisher CPU during the drain', `${fmt(cpuS)} s (${fmt((100 * cpuS) / drainS, 0)} % of one core)`],
        ['publisher RSS peak / median', `${fmt(Math.max(...rss), 0)} / ${fmt(median(rss), 0)} MiB`],
        [
          'delivered: missing / duplicated / out of order',
          `${check.missing} / ${check.duplicated} / ${check.outOfOrder}`,
        ],
      ],
    );
    const problems = started.problems();
    if (Object.keys(problems).length > 0) out(`  publisher warnings: ${JSON.stringify(problems)}`);
  } finally {
    await child?.stop();
    await Promise.allSettled([driver.close(), heartbeats.close(), cloud.close()]);
    await link.close();
    await mqtt.stop();
    await nats.stop();
    site.remove();
  }
}

async function steadyBench(): Promise<void> {
  const nats = await startNats({ config: NATS_CONFIG_PATH });
  const mqtt = await startMqtt();
  const gatewayId = 'gw-bench-live';
  const site = writeSite(gatewayId, { transport: 'mqtt', brokerUrl: mqtt.url });
  const cloud = new CloudRecorder(gatewayId);
  await cloud.subscribe(mqtt.url);
  const heartbeats = await HeartbeatWatch.start(nats.url);
  const driver = await TelemetryDriver.connect(nats.url);
  let child: ChildService | undefined;
  const publishedAt = new Map<string, number>();
  const delaysMs: number[] = [];
  const encoder = new TextEncoder();
  try {
    child = startChildService(MAIN, publisherEnv(nats.url, site.path));
    const started = child;
    if (!(await until(() => heartbeats.started(), 60_000)))
      throw new Error(`publisher did not start\n${started.tail()}`);
    let seq = 0;
    let cpu0 = 0;
    let windowStart = 0;
    let seenBefore = 0;
    const seenAt = new Map<string, number>();
    const poll = setInterval(() => {
      // Arrival times at the cloud side, per reading.
      for (const [assetId, list] of cloud.sequences) {
        for (let i = seenAt.get(assetId) ?? 0; i < list.length; i += 1) {
          const sent = publishedAt.get(`${assetId}:${list[i]}`);
          if (sent !== undefined && (list[i] as number) >= LIVE_WARMUP_S) delaysMs.push(performance.now() - sent);
        }
        seenAt.set(assetId, list.length);
      }
    }, 20);
    const t0 = performance.now();
    for (let s = 0; s < LIVE_WARMUP_S + LIVE_WINDOW_S; s += 1) {
      if (s === LIVE_WARMUP_S) {
        cpu0 = processCpuSeconds(started.pid);
        windowStart = performance.now();
        seenBefore = cloud.unique;
      }
      const now = performance.now();
      await driver.publish(
        LIVE_ASSETS.map((assetId) => {
          publishedAt.set(`${assetId}:${seq}`, now);
          return {
            subject: `telemetry.${assetId}`,
            data: encoder.encode(JSON.stringify(testReading(assetId, seq, BASE_MS))),
            msgID: `${assetId}:${seq}`,
          };
        }),
      );
      seq += 1;
      await sleep(Math.max(0, t0 + (s + 1) * 1000 - performance.now()));
    }
    const windowS = (performance.now() - windowStart) / 1000;
    const cpuS = processCpuSeconds(started.pid) - cpu0;
    const rssMib = processRssMib(started.pid);
    await until(() => cloud.unique >= seq * LIVE_ASSETS.length, 30_000);
    clearInterval(poll);
    out(
      `telemetry: (b) steady state, ${LIVE_ASSETS.length} assets × 1 Hz for ${LIVE_WINDOW_S} s after ${LIVE_WARMUP_S} s warm-up (production defaults: 10 s frames)`,
    );
    printTable(
      ['figure', 'value'],
      [
        ['publisher CPU', `${fmt(cpuS, 2)} s in ${fmt(windowS)} s = ${fmt((100 * cpuS) / windowS, 2)} % of one core`],
        ['publisher RSS', `${fmt(rssMib, 0)} MiB`],
        ['readings delivered in the window', `${cloud.unique - seenBefore}`],
        [
          'publish → cloud delay p50 / p95 / max',
          `${fmt(percentile(delaysMs, 50) / 1000)} / ${fmt(percentile(delaysMs, 95) / 1000)} / ${fmt(Math.max(...delaysMs) / 1000)} s`,
        ],
        ['frames in total', `${cloud.frames.length}`],
      ],
    );
  } finally {
    await child?.stop();
    await Promise.allSettled([driver.close(), heartbeats.close(), cloud.close()]);
    await mqtt.stop();
    await nats.stop();
    site.remove();
  }
}

async function main(): Promise<void> {
  out(`telemetry: ${machineContext().line}${HEAP_MB === undefined ? '' : `; publisher heap capped at ${HEAP_MB} MB`}`);
  await drainBench();
  await steadyBench();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(
      `telemetry bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
