// Plugins that are wrong — at load, at start, in a call, or as a whole thread — never take driver-host down: each
// fault is contained, named in `error` readings and the heartbeat, counted, logged, and a dead or stuck driver is
// restarted with backoff while the healthy driver next to it keeps publishing. Real nats-server, real worker threads.
import { join } from 'node:path';
import { LOG_LEVEL } from '@voltimax/bus/testing';
import type { AssetReading, Heartbeat } from '@voltimax/contracts';
import {
  FIXTURES,
  pluginAsset,
  runDriverHost,
  sendDeviceWrite,
  siteJson,
  startBusStack,
  waitForHeartbeat,
  waitForReading,
  writeSite,
  type AssetInput,
  type BusClient,
  type BusStack,
  type DriverInput,
  type RunningHost,
} from './testing/harness';

jest.setTimeout(180_000);

const fixture = (name: string): string => join(FIXTURES, `${name}.ts`);
const errorOf = (reading: AssetReading): string => reading.error ?? '';

let stack: BusStack;
let observer: BusClient;
let arbiter: BusClient;

beforeAll(async () => {
  stack = await startBusStack();
  ({ observer, arbiter } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

/** One host on its own site for a describe block; `good-1` (a healthy battery driver) is always part of it. */
function hostFor(assets: readonly AssetInput[], drivers: readonly DriverInput[], env: Record<string, string> = {}) {
  const state: { host?: RunningHost; site?: ReturnType<typeof writeSite>; from: number } = { from: 0 };
  beforeAll(async () => {
    state.from = observer.readings.length;
    state.site = writeSite(
      siteJson(
        [pluginAsset('good-1', 'good', { maxPowerW: 5_000 }), ...assets],
        [{ name: 'good', module: fixture('battery') }, ...drivers],
      ),
    );
    state.host = await runDriverHost({ natsUrl: stack.nats.url, siteFile: state.site.path, env });
  });
  afterAll(async () => {
    await state.host?.stop();
    state.site?.remove();
  });
  return state;
}

/**
 * The healthy driver published a good reading after this point, and the host logged nothing fatal (no uncaught
 * exception or rejection reached the process): it is alive and its other drivers are unaffected.
 */
async function goodStillPublishes(host: RunningHost | undefined): Promise<void> {
  const from = observer.readings.length;
  await waitForReading(observer, 'good-1', (r) => r.quality === 'good', {
    from,
    message: 'a fresh good reading of good-1',
  });
  expect(host?.lines.filter((l) => l.level >= LOG_LEVEL.fatal)).toEqual([]);
}

const beatWith = (predicate: (beat: Heartbeat) => boolean, message: string) =>
  waitForHeartbeat(observer, predicate, { timeoutMs: 60_000, message });

describe('configuration refused by the host or the driver', () => {
  const run = hostFor(
    [
      pluginAsset('good-bad', 'good', { maxPowerW: -1, colour: 'red' }),
      pluginAsset('shape-1', 'shape', {}),
      pluginAsset('opts-1', 'opts', { maxPowerW: 1 }),
      pluginAsset('missing-1', 'missing', {}),
      pluginAsset('off-1', 'off', {}),
      pluginAsset('load-1', 'onload', {}),
    ],
    [
      { name: 'shape', module: fixture('bad-shape') },
      { name: 'opts', module: fixture('battery'), options: { offsetW: 'a lot', extra: 1 } },
      { name: 'missing', module: './drivers/nope.js' },
      { name: 'off', module: fixture('battery'), enabled: false },
      { name: 'onload', module: fixture('throws-on-load') },
    ],
  );

  it('still drives the good assets of a driver when another asset of it has options the driver refuses', async () => {
    await waitForReading(observer, 'good-1', (r) => r.quality === 'good', { from: run.from });
    const bad = await waitForReading(observer, 'good-bad', (r) => r.quality === 'error', { from: run.from });
    expect(errorOf(bad)).toContain(
      "options refused by driver 'good': assets[1] 'good-bad' connection.options.maxPowerW:",
    );
    expect(errorOf(bad)).toContain('connection.options');
    const write = await sendDeviceWrite(arbiter.bus, 'good-bad', { kind: 'battery-power', powerW: 100 });
    expect(write.status).toBe('rejected');
    expect(write.error).toContain("assets[1] 'good-bad' connection.options.maxPowerW");
  });

  it('refuses a module that exports no valid driver definition, naming each problem', async () => {
    const reading = await waitForReading(observer, 'shape-1', (r) => r.quality === 'error', { from: run.from });
    expect(errorOf(reading)).toContain("driver 'shape' refused: ");
    for (const part of [
      'module.name',
      'module.version',
      'module.setpoints: unknown set-point kinds ["safe","teleport"]',
      'module.assetOptions',
      'module.start: must be a function',
    ]) {
      expect(errorOf(reading)).toContain(part);
    }
  });

  it("refuses host options the driver's schema rejects, and a module that is not there", async () => {
    const opts = await waitForReading(observer, 'opts-1', (r) => r.quality === 'error', { from: run.from });
    expect(errorOf(opts)).toContain("driver 'opts' refused: options.offsetW:");
    expect(errorOf(opts)).toContain('options');
    const missing = await waitForReading(observer, 'missing-1', (r) => r.quality === 'error', { from: run.from });
    expect(errorOf(missing)).toMatch(
      /^driver 'missing' refused: drivers\[3\]\.module: no driver module at \/.*\/drivers\/nope\.js/,
    );
    const off = await waitForReading(observer, 'off-1', (r) => r.quality === 'error', { from: run.from });
    expect(off.error).toBe("driver 'off' is disabled in the site's drivers list");
  });

  it('retries a module that throws while loading, with backoff, and says why', async () => {
    const reading = await waitForReading(observer, 'load-1', (r) => errorOf(r).includes('could not be loaded'), {
      from: run.from,
    });
    expect(errorOf(reading)).toContain(
      "driver 'onload' could not be loaded: fixture: this module cannot be loaded; restarting in",
    );
    await beatWith((b) => (b.counters?.['driver.onload.failures'] ?? 0) >= 2, 'a second failed load');
  });

  it('reports all of it in the heartbeat and the log, and keeps the healthy driver publishing', async () => {
    const beat = await beatWith(
      (b) => (b.counters?.['configErrors'] ?? 0) >= 4 && b.status === 'degraded',
      'degraded with config errors',
    );
    expect(beat.detail).toContain("driver 'shape' refused");
    expect(beat.counters).toMatchObject({ 'driver.good.up': 1, 'driver.shape.up': 0 });
    expect(run.host?.lines.filter((l) => l.msg === 'driver configuration refused').length).toBeGreaterThanOrEqual(4);
    await goodStillPublishes(run.host);
  });
});

describe('a driver whose calls go wrong', () => {
  const run = hostFor(
    [
      pluginAsset('throws-1', 'bad', { mode: 'read-throws' }),
      pluginAsset('rejects-1', 'bad', { mode: 'read-rejects' }),
      pluginAsset('garbage-1', 'bad', { mode: 'read-garbage' }),
      pluginAsset('future-1', 'bad', { mode: 'read-future' }),
      pluginAsset('wgarbage-1', 'bad', { mode: 'write-garbage' }),
      pluginAsset('whangs-1', 'bad', { mode: 'write-hangs' }),
      pluginAsset('push-1', 'pusher', {}),
    ],
    [
      { name: 'bad', module: fixture('misbehaving') },
      { name: 'pusher', module: fixture('misbehaving'), options: { mode: 'push-garbage' } },
    ],
  );

  it('turns a throwing or rejecting read into an error reading with the message', async () => {
    const thrown = await waitForReading(observer, 'throws-1', (r) => r.quality === 'error', { from: run.from });
    expect(thrown.error).toMatch(/^read failed: TypeError: Cannot read properties of null/);
    const rejected = await waitForReading(observer, 'rejects-1', (r) => r.quality === 'error', { from: run.from });
    expect(rejected.error).toBe('read failed: device answered with exception 0x04 (fixture)');
  });

  it('rejects garbage samples value by value, and samples stamped in the future', async () => {
    const garbage = await waitForReading(observer, 'garbage-1', (r) => r.quality === 'error', { from: run.from });
    expect(garbage.values).toEqual({});
    for (const part of ['the driver returned an invalid sample', 'values.powerW', 'values.socPct', 'wattage']) {
      expect(garbage.error).toContain(part);
    }
    const future = await waitForReading(observer, 'future-1', (r) => r.quality === 'error', { from: run.from });
    expect(future.error).toMatch(/^the driver's sample is stamped \d+ ms in the future/);
  });

  it('rejects pushed garbage and pushes for assets the driver does not drive', async () => {
    const pushed = await waitForReading(observer, 'push-1', (r) => r.quality === 'error', { from: run.from });
    expect(pushed.error).toContain('the driver pushed an invalid sample: values.powerW');
    const beat = await beatWith((b) => (b.counters?.['foreignPushes'] ?? 0) > 0, 'counted foreign pushes');
    expect(observer.readings.some((r) => r.assetId === 'somebody-else')).toBe(false);
    expect(beat.counters?.['samplesRejected']).toBeGreaterThan(0);
  });

  it('answers a garbage write outcome with failed and a hanging write with timeout, then writes on', async () => {
    const garbage = await sendDeviceWrite(arbiter.bus, 'wgarbage-1', { kind: 'battery-power', powerW: 10 });
    expect(garbage.status).toBe('failed');
    expect(garbage.error).toContain('the driver returned an invalid write outcome: status');
    const hung = await sendDeviceWrite(arbiter.bus, 'whangs-1', { kind: 'battery-power', powerW: 10 });
    expect(hung).toMatchObject({ status: 'timeout', error: 'the driver did not answer within 1000 ms' });
    const good = await sendDeviceWrite(arbiter.bus, 'good-1', { kind: 'battery-power', powerW: 250 });
    expect(good).toMatchObject({ status: 'applied', readBack: 250 });
  });

  it('does not restart a driver for faults of single calls, counts them and keeps every other asset going', async () => {
    const beat = await beatWith(
      (b) => (b.counters?.['readErrors'] ?? 0) > 2 && (b.counters?.['writeOutcomesRejected'] ?? 0) >= 1,
      'counted read errors and the rejected write outcome',
    );
    expect(beat.counters).toMatchObject({
      'driver.bad.up': 1,
      'driver.bad.failures': 0,
      driverCrashes: 0,
      driverHangs: 0,
    });
    expect(beat.detail).toContain('assets in error: ');
    await goodStillPublishes(run.host);
  });
});

describe('a driver thread that crashes, hangs or never starts', () => {
  const run = hostFor(
    [
      pluginAsset('hangs-1', 'hangs', {}),
      pluginAsset('busy-1', 'busy', {}),
      pluginAsset('crash-1', 'crash', {}),
      pluginAsset('startrej-1', 'startrej', {}),
      pluginAsset('starthang-1', 'starthang', {}),
    ],
    [
      { name: 'hangs', module: fixture('misbehaving'), options: { mode: 'read-hangs' } },
      { name: 'busy', module: fixture('misbehaving'), options: { mode: 'busy-loop' } },
      { name: 'crash', module: fixture('misbehaving'), options: { mode: 'crash-later' } },
      { name: 'startrej', module: fixture('misbehaving'), options: { mode: 'start-rejects' } },
      { name: 'starthang', module: fixture('misbehaving'), options: { mode: 'start-hangs' } },
    ],
    { START_TIMEOUT_MS: '15000' },
  );

  it('restarts a driver whose promises never settle, after its calls time out', async () => {
    const timedOut = await waitForReading(
      observer,
      'hangs-1',
      (r) => r.error === 'read did not answer within 1000 ms',
      { from: run.from },
    );
    expect(timedOut.quality).toBe('error');
    const hung = await waitForReading(observer, 'hangs-1', (r) => errorOf(r).includes('hung: 3 calls in a row'), {
      from: run.from,
    });
    expect(hung.error).toMatch(
      /^driver 'hangs' hung: 3 calls in a row got no answer within 1000 ms; restarting in \d+ ms$/,
    );
    await beatWith(
      (b) => (b.counters?.['driver.hangs.failures'] ?? 0) >= 2,
      'the hanging driver restarted and failing again',
    );
  });

  it('terminates and restarts a driver stuck in an endless loop', async () => {
    const reading = await waitForReading(
      observer,
      'busy-1',
      (r) => errorOf(r).includes('hung: its thread did not answer'),
      { from: run.from },
    );
    expect(reading.error).toMatch(/^driver 'busy' hung: its thread did not answer for \d+ ms \(blocked event loop\)/);
    await beatWith((b) => (b.counters?.['driver.busy.failures'] ?? 0) >= 2, 'the looping driver restarted');
  });

  it('restarts a driver whose thread crashed on an uncaught exception', async () => {
    const reading = await waitForReading(observer, 'crash-1', (r) => errorOf(r).includes('restarting in'), {
      from: run.from,
    });
    expect(reading.error).toContain("driver 'crash' crashed: fixture crash from a timer; restarting in");
    await beatWith((b) => (b.counters?.['driver.crash.failures'] ?? 0) >= 2, 'the crashing driver restarted');
  });

  it('retries a driver whose start rejects or never settles', async () => {
    const rejected = await waitForReading(observer, 'startrej-1', (r) => errorOf(r).includes('start failed'), {
      from: run.from,
    });
    expect(rejected.error).toContain(
      "driver 'startrej' start failed: cannot reach the device (fixture); restarting in",
    );
    const hung = await waitForReading(observer, 'starthang-1', (r) => errorOf(r).includes('start timed out'), {
      from: run.from,
    });
    expect(hung.error).toContain("driver 'starthang' start timed out: not started within 15000 ms");
  });

  it('names the failed drivers in a degraded heartbeat, counts the failures, and the healthy driver never stops', async () => {
    const beat = await beatWith(
      (b) =>
        (b.counters?.['driverHangs'] ?? 0) >= 2 &&
        (b.counters?.['driverCrashes'] ?? 0) >= 1 &&
        (b.counters?.['driverStartFailures'] ?? 0) >= 2,
      'hangs, crashes and start failures counted',
    );
    expect(beat.status).toBe('degraded');
    expect(beat.counters?.['driver.good.failures']).toBe(0);
    expect(run.host?.lines.filter((l) => l.msg === 'driver failed; restarting it').length).toBeGreaterThanOrEqual(5);
    await goodStillPublishes(run.host);
  });
});

describe('a driver that leaks memory', () => {
  const run = hostFor(
    [pluginAsset('leak-1', 'leak', {})],
    [{ name: 'leak', module: fixture('misbehaving'), options: { mode: 'leak' } }],
    {
      DRIVER_MAX_HEAP_MB: '64',
    },
  );

  it('is stopped at its heap limit and restarted, while the host and the healthy driver run on', async () => {
    const reading = await waitForReading(observer, 'leak-1', (r) => errorOf(r).includes('out of memory'), {
      from: run.from,
    });
    expect(reading.error).toContain("driver 'leak' crashed: out of memory (limit 64 MB)");
    await beatWith(
      (b) => (b.counters?.['driver.leak.failures'] ?? 0) >= 2,
      'the leaking driver restarted and ran out again',
    );
    await goodStillPublishes(run.host);
  });
});
