import { createMemoryBus } from '@voltimax/bus/testing';
import { subjects, type AssetReading } from '@voltimax/contracts';
import { SUNSPEC_IMAGE_BASE, SUNSPEC_INVERTER_IMAGE } from '@voltimax/devices/testing';
import { ModbusConnectionError, ModbusTimeoutError } from '@voltimax/modbus';
import { pino } from 'pino';
import type { OwnedAsset } from './assets';
import { startPoller, type Poller } from './poller';
import { FakeDevice, FakeHealth } from './testing/fake-device';
import { PEBLAR_HOLDING, PEBLAR_INPUT, SDM630_INPUT, SDM630_MEASUREMENTS } from './testing/images';
import { ownedAssets, tcpAsset } from './testing/site';

const T0 = 1_700_000_000_000;
const log = pino({ level: 'silent' });

function sdm630(): FakeDevice {
  const device = new FakeDevice('meter:502');
  for (const [address, words] of Object.entries(SDM630_INPUT)) device.set('input', Number(address), words);
  return device;
}

function peblar(): FakeDevice {
  const device = new FakeDevice('charger:502');
  for (const [address, words] of Object.entries(PEBLAR_INPUT)) device.set('input', Number(address), words);
  for (const [address, words] of Object.entries(PEBLAR_HOLDING)) device.set('holding', Number(address), words);
  return device;
}

function sunspecInverter(): FakeDevice {
  return new FakeDevice('inverter:502').set('holding', SUNSPEC_IMAGE_BASE, SUNSPEC_INVERTER_IMAGE);
}

describe('poller', () => {
  let poller: Poller | undefined;

  beforeEach(() => {
    jest.useFakeTimers({ now: T0 });
  });

  afterEach(async () => {
    await poller?.stop();
    poller = undefined;
    jest.useRealTimers();
  });

  function run(assets: readonly OwnedAsset[], devices: Readonly<Record<string, FakeDevice>>) {
    const bus = createMemoryBus();
    const health = new FakeHealth();
    poller = startPoller({
      bus,
      log,
      health,
      assets,
      clientFor: (asset) => {
        const device = devices[asset.id];
        if (device === undefined) throw new Error(`no fake device for ${asset.id}`);
        return device;
      },
      now: () => Date.now(),
    });
    const readings = (assetId: string): AssetReading[] =>
      bus
        .published(subjects.telemetry)
        .filter((m) => m.params.assetId === assetId)
        .map((m) => m.payload);
    return { bus, health, readings };
  }

  const meter = (pollIntervalMs = 1_000) =>
    ownedAssets([tcpAsset('grid-1', 'grid-meter', 'eastron.sdm630', 502, { pollIntervalMs })]);

  it('publishes the SDM630 image as a good reading, every poll interval, with increasing sequence', async () => {
    const { readings } = run(meter(), { 'grid-1': sdm630() });
    await jest.advanceTimersByTimeAsync(0);
    expect(readings('grid-1')).toEqual([
      {
        v: 1,
        assetId: 'grid-1',
        kind: 'grid-meter',
        atMs: T0,
        sequence: 0,
        quality: 'good',
        values: SDM630_MEASUREMENTS,
      },
    ]);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(readings('grid-1').map((r) => [r.sequence, r.atMs, r.quality])).toEqual([
      [0, T0, 'good'],
      [1, T0 + 1_000, 'good'],
    ]);
  });

  it('reads exactly the planned blocks (planned once), never a register the profile does not name', async () => {
    const device = sdm630();
    run(meter(), { 'grid-1': device });
    await jest.advanceTimersByTimeAsync(1_000);
    const cycle = [
      { table: 'input', address: 0, count: 18 },
      { table: 'input', address: 0x34, count: 2 },
      { table: 'input', address: 0x38, count: 2 },
      { table: 'input', address: 0x3c, count: 4 },
      { table: 'input', address: 0x46, count: 6 },
    ];
    // The profile's probe (L1 voltage) runs once on connect, then the poll plan every cycle.
    expect(device.reads).toEqual([{ table: 'input', address: 0, count: 2 }, ...cycle, ...cycle]);
  });

  it('publishes quality error with the reason and no values when the device does not answer, then recovers', async () => {
    const device = sdm630();
    device.readError = new ModbusConnectionError('meter:502', 'connect-failed', 'connect ECONNREFUSED 127.0.0.1:502');
    const { readings, health } = run(meter(), { 'grid-1': device });
    await jest.advanceTimersByTimeAsync(0);

    expect(readings('grid-1')).toEqual([
      {
        v: 1,
        assetId: 'grid-1',
        kind: 'grid-meter',
        atMs: T0,
        sequence: 0,
        quality: 'error',
        values: {},
        error: 'ModbusConnectionError: meter:502: connect ECONNREFUSED 127.0.0.1:502',
      },
    ]);
    expect(health.counter('pollErrors')).toBe(1);
    expect(health.status).toEqual({ status: 'degraded', detail: 'assets in error: grid-1' });

    device.readError = undefined;
    await jest.advanceTimersByTimeAsync(1_000);
    expect(readings('grid-1')[1]).toMatchObject({ quality: 'good', sequence: 1, values: SDM630_MEASUREMENTS });
    expect(health.status).toEqual({ status: 'ok' });
  });

  it('reports exception 2 on one block as an error reading, publishing none of the other blocks', async () => {
    const device = sdm630();
    device.tables.input.delete(0x46); // frequency block refused
    const { readings } = run(meter(), { 'grid-1': device });
    await jest.advanceTimersByTimeAsync(0);
    const [reading] = readings('grid-1');
    expect(reading).toMatchObject({ quality: 'error', values: {} });
    expect(reading?.error).toMatch(/ModbusExceptionError: .*FC4 @70 with exception 2 \(illegal-data-address\)/);
  });

  it('publishes a timeout as an error reading', async () => {
    const device = sdm630();
    device.readError = new ModbusTimeoutError('meter:502', 1, 1_000);
    const { readings } = run(meter(), { 'grid-1': device });
    await jest.advanceTimersByTimeAsync(0);
    expect(readings('grid-1')[0]).toMatchObject({
      quality: 'error',
      values: {},
      error: expect.stringMatching(/did not answer within 1000 ms/),
    });
  });

  it.each([
    {
      name: 'NaN (0x7FC0 0000) total power',
      address: 0x34,
      words: [0x7fc0, 0x0000],
      key: 'powerW',
      reason: 'powerW=NaN not-finite',
    },
    {
      name: 'all-ones words (NaN) as power',
      address: 0x34,
      words: [0xffff, 0xffff],
      key: 'powerW',
      reason: 'powerW=NaN not-finite',
    },
    {
      name: 'a 65 536 V voltage',
      address: 0x00,
      words: [0x4780, 0x0000],
      key: 'voltageL1V',
      reason: 'voltageL1V=65536 above-max (limit 300)',
    },
    {
      name: 'a negative import counter',
      address: 0x48,
      words: [0xbf80, 0x0000],
      key: 'importEnergyWh',
      reason: 'importEnergyWh=-1000 below-min (limit 0)',
    },
  ])('never publishes $name: dropped, reported in error and counted', async ({ address, words, key, reason }) => {
    const device = sdm630().set('input', address, words);
    const { readings, health } = run(meter(), { 'grid-1': device });
    await jest.advanceTimersByTimeAsync(0);
    const [reading] = readings('grid-1');
    expect(reading?.quality).toBe('error');
    expect(reading?.error).toBe(`implausible: ${reason}`);
    expect(reading?.values).not.toHaveProperty(key);
    expect(reading?.values).toEqual(Object.fromEntries(Object.entries(SDM630_MEASUREMENTS).filter(([k]) => k !== key)));
    expect(health.counter('implausible')).toBe(1);
    expect(health.counter('implausible.grid-1')).toBe(1);
  });

  it('marks the last good values stale (with their own time) while a read hangs for more than 3 intervals', async () => {
    const device = sdm630();
    const { readings } = run(meter(), { 'grid-1': device });
    await jest.advanceTimersByTimeAsync(0);
    let release: () => void = () => undefined;
    device.readGate = new Promise<void>((resolve) => {
      release = resolve;
    });
    await jest.advanceTimersByTimeAsync(3_000); // the read at +1 s hangs; +2 s, +3 s: last good is 3 s old, not yet stale
    expect(readings('grid-1')).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(readings('grid-1')[1]).toEqual({
      v: 1,
      assetId: 'grid-1',
      kind: 'grid-meter',
      atMs: T0,
      sequence: 1,
      quality: 'stale',
      values: SDM630_MEASUREMENTS,
      error: 'no fresh reading for 4000 ms (poll still running)',
    });
    device.readGate = undefined;
    release();
    await jest.advanceTimersByTimeAsync(0);
    expect(readings('grid-1')[2]).toMatchObject({ quality: 'good', atMs: T0 + 4_000, sequence: 2 });
  });

  it('publishes error readings for an asset whose profile is unknown, without touching the device', async () => {
    const device = new FakeDevice();
    const assets = ownedAssets([tcpAsset('bat-9', 'battery', 'cnte.storage', 502)]);
    const { readings } = run(assets, { 'bat-9': device });
    await jest.advanceTimersByTimeAsync(0);
    expect(readings('bat-9')).toEqual([
      expect.objectContaining({ quality: 'error', values: {}, error: "unknown profile 'cnte.storage'" }),
    ]);
    expect(device.reads).toEqual([]);
  });

  it('discovers a SunSpec inverter at connect and polls its model chain (sunspec.generic)', async () => {
    const device = sunspecInverter();
    const assets = ownedAssets([tcpAsset('pv-1', 'pv-inverter', 'sunspec.generic', 502)]);
    const { readings } = run(assets, { 'pv-1': device });
    await jest.advanceTimersByTimeAsync(0);
    // Values from the image's doc comment (model 103): W 1234 × 10^1, Hz 5001 × 10^−2, PhVphA 2301 × 10^−1 …
    expect(readings('pv-1')[0]).toMatchObject({
      quality: 'good',
      values: {
        powerW: 12_340,
        frequencyHz: 50.01,
        voltageL1V: 230.1,
        voltageL2V: 230.2,
        voltageL3V: 229.9,
        currentL1A: 4.11,
        currentL2A: 4.12,
        exportEnergyWh: 1_234_560,
        temperatureC: 45,
      },
    });
    expect(readings('pv-1')[0]?.values).not.toHaveProperty('currentL3A'); // not implemented (0xFFFF)
    const discoveryReads = device.reads.length;
    await jest.advanceTimersByTimeAsync(1_000);
    // Later polls read only model 103 (ID, L and 50 registers), no discovery and no common model.
    expect(device.reads.slice(discoveryReads)).toEqual([{ table: 'holding', address: 40070, count: 52 }]);
  });

  it('refuses to misread a device whose SunSpec chain is not the profile layout (cnte), naming the chain found', async () => {
    const assets = ownedAssets([tcpAsset('bat-1', 'battery', 'cnte.ess-cabinet', 502)]);
    const { readings } = run(assets, { 'bat-1': sunspecInverter() });
    await jest.advanceTimersByTimeAsync(0);
    const [reading] = readings('bat-1');
    expect(reading).toMatchObject({ quality: 'error', values: {} });
    expect(reading?.error).toBe(
      'DeviceSetupError: cnte.ess-cabinet probe at holding 40070 expected [0x0322 0x003e], read [0x0067 0x0032]; ' +
        "the device's SunSpec chain is 1@40002, 103@40070 (use sunspec.generic or a matching profile)",
    );
  });

  it('reports the charger state of an EV charger from its control-pilot state', async () => {
    const assets = ownedAssets([tcpAsset('ev-1', 'ev-charger', 'peblar.home', 502)]);
    const { readings } = run(assets, { 'ev-1': peblar() });
    await jest.advanceTimersByTimeAsync(0);
    expect(readings('ev-1')[0]).toMatchObject({
      quality: 'good',
      chargerState: 'charging',
      values: { powerW: 11_004, currentLimitA: 16, phases: 3, importEnergyWh: 123_456, currentL1A: 16 },
    });
  });

  it('puts each asset breaker state into the heartbeat counters', async () => {
    const device = sdm630();
    device.breaker = 'open';
    const { health } = run(meter(), { 'grid-1': device });
    await jest.advanceTimersByTimeAsync(0);
    expect(health.counter('breaker.grid-1')).toBe(2);
    expect(health.counter('polls')).toBe(1);
  });

  it('stop() ends every loop: no reads or readings afterwards', async () => {
    const device = sdm630();
    const { readings } = run(meter(), { 'grid-1': device });
    await jest.advanceTimersByTimeAsync(0);
    await poller?.stop();
    await jest.advanceTimersByTimeAsync(5_000);
    expect(readings('grid-1')).toHaveLength(1);
  });
});
