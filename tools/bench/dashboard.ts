// Dashboard figures: building one snapshot (what the live stream pushes every second), reading the 24 h chart's
// past from a full stream TELEMETRY (1 Hz × 3 assets × 24 h), and one password check (scrypt, default cost).
// Prints figures only; nothing is asserted. Needs nats-server (a private one is started).
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nanos } from '@nats-io/transport-node';
import type { AssetReading } from '@voltimax/contracts';
import { hashPassword, verifyPassword } from '@voltimax/service-kit';
import { startNats } from '@voltimax/testing';
import { pino } from 'pino';
import { HistoryBuckets } from '../../services/dashboard/src/history';
import { backfillFromStream } from '../../services/dashboard/src/history-stream';
import { initialState, reduce, snapshot, type DashboardState } from '../../services/dashboard/src/state';
import { decision, heartbeat, metrics, reading, testSite } from '../../services/dashboard/src/testing/fixtures';
import { fmt, machineContext, median, out } from './lib-bench';

async function main(): Promise<void> {
  out(`dashboard: ${machineContext().line}`);

  // 1. One snapshot of the test site with 200 decisions, 5 services and 3 strategies in memory.
  const now = Date.now();
  let state: DashboardState = initialState(now, { site: testSite(), source: 'file', loadedAtMs: now });
  state = reduce(state, { type: 'bus', isConnected: true, atMs: now });
  for (const r of [
    reading('grid-1', 'grid-meter', now, { powerW: 1_200 }),
    reading('bat-1', 'battery', now, { powerW: -800, socPct: 55 }),
    reading('inv-1', 'hybrid-inverter', now, { pvPowerW: 2_500, loadPowerW: 2_000 }),
    reading('ev-1', 'ev-charger', now, { powerW: 900 }),
  ]) {
    state = reduce(state, { type: 'reading', reading: r, atMs: now });
  }
  for (let i = 0; i < 250; i += 1)
    state = reduce(state, { type: 'arbiter-decision', decision: decision('bat-1', now - i), atMs: now });
  for (const s of ['safety-arbiter', 'modbus-poller', 'strategy-engine', 'cloud-bridge', 'telemetry-publisher']) {
    state = reduce(state, { type: 'heartbeat', heartbeat: heartbeat(s, now), atMs: now });
  }
  for (const s of ['self-consumption', 'backup-power', 'net-zero']) {
    state = reduce(state, { type: 'strategy-decision', metrics: metrics(s, now), atMs: now });
  }
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 2_000; i += 1) {
    const started = performance.now();
    bytes = JSON.stringify(snapshot(state, now + 500)).length;
    times.push(performance.now() - started);
  }
  out(
    `dashboard: snapshot (build + JSON): median ${fmt(median(times.slice(200)) * 1_000, 0)} µs, ${fmt(bytes / 1_024, 1)} KiB per push`,
  );

  // 2. The chart's past from a full stream: 24 h of 1 Hz readings of 3 assets.
  const nats = await startNats();
  try {
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: 'TELEMETRY',
      subjects: ['telemetry.*'],
      storage: 'memory' as never,
      max_age: nanos(72 * 3_600_000),
    });
    const dayMs = 86_400_000;
    const fillStarted = performance.now();
    for (let s = 0; s < 86_400; s += 1) {
      const atMs = now - dayMs + s * 1_000;
      const values: AssetReading[] = [
        {
          v: 1,
          assetId: 'grid-1',
          kind: 'grid-meter',
          atMs,
          sequence: s,
          quality: 'good',
          values: { powerW: 1_000 + (s % 600) },
        },
        {
          v: 1,
          assetId: 'bat-1',
          kind: 'battery',
          atMs,
          sequence: s,
          quality: 'good',
          values: { powerW: -500, socPct: 50 + (s % 40) },
        },
        {
          v: 1,
          assetId: 'inv-1',
          kind: 'hybrid-inverter',
          atMs,
          sequence: s,
          quality: 'good',
          values: { pvPowerW: 2_000, loadPowerW: 900 },
        },
      ];
      for (const r of values) nc.publish(`telemetry.${r.assetId}`, JSON.stringify(r));
      if (s % 2_000 === 0) await nc.flush();
    }
    await nc.flush();
    const count = (await jsm.streams.info('TELEMETRY')).state.messages;
    out(
      `dashboard: stream TELEMETRY filled with ${count} readings in ${fmt((performance.now() - fillStarted) / 1_000, 1)} s`,
    );

    for (const perAsset of [288, 1_440]) {
      const buckets = new HistoryBuckets(300_000, dayMs);
      const started = performance.now();
      const result = await backfillFromStream({
        nc,
        buckets,
        nowMs: now,
        maxSamplesPerAsset: perAsset,
        concurrency: 32,
        timeoutMs: 5_000,
        log: pino({ level: 'silent' }),
      });
      const ms = performance.now() - started;
      out(
        `dashboard: 24 h chart from the stream, ${perAsset} samples/asset: ${fmt(ms, 0)} ms, ${result.requests} requests, ` +
          `${result.samples} readings, ${buckets.points(now, undefined).length} points`,
      );
    }
    await nc.close();
  } finally {
    await nats.stop();
  }

  // 3. A password check at the default scrypt cost (what each login costs the gateway).
  const hash = await hashPassword('bench password 123');
  const checks: number[] = [];
  for (let i = 0; i < 5; i += 1) {
    const started = performance.now();
    await verifyPassword('bench password 123', hash);
    checks.push(performance.now() - started);
  }
  out(`dashboard: password check (scrypt N=2^15, r=8, p=1): median ${fmt(median(checks), 0)} ms`);
}

main().catch((err: unknown) => {
  process.stderr.write(`dashboard bench failed: ${String(err)}\n`);
  process.exit(1);
});
