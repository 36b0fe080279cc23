// The KEBA driver on its own (no host) against a station double on real UDP sockets on the loopback: polls, writes
// with read-back, status messages as pushes, the guide's command pauses, a silent station and garbage on the wire.
import { AssetConfigSchema } from '@voltimax/contracts';
import type { DriverAsset, DriverInstance, DriverSample } from '@voltimax/driver-sdk';
import { waitFor } from '@voltimax/testing';
import { KebaStationDouble } from '../testing';
import { KebaAssetOptions, KebaHostOptions, kebaDriver, type KebaAssetOptions as AssetOptions } from './driver';

jest.setTimeout(60_000);

let station: KebaStationDouble;
let instance: DriverInstance<AssetOptions>;
let asset: DriverAsset<AssetOptions>;
const pushes: { assetId: string; sample: DriverSample }[] = [];
const logs: { level: string; message: string }[] = [];
const stopping = new AbortController();
const signal = new AbortController().signal;

beforeAll(async () => {
  station = await KebaStationDouble.start();
  asset = {
    id: 'ev-1',
    config: AssetConfigSchema.parse({
      id: 'ev-1',
      name: 'KEBA P30',
      kind: 'ev-charger',
      profile: 'keba.p30',
      connection: { protocol: 'plugin', driver: 'keba-udp', options: {} },
      evCharger: { minCurrentA: 6, maxCurrentA: 32, phases: 3 },
    }),
    // 2 s: a stalled event loop must not turn an answered command into a timeout (the counts below are exact).
    options: KebaAssetOptions.parse({ host: '127.0.0.1', port: station.port, replyTimeoutMs: 2_000 }),
  };
  const log = (level: string) => (_fields: object, message: string) => void logs.push({ level, message });
  instance = await kebaDriver.start(
    {
      options: KebaHostOptions.parse({ bindAddress: '127.0.0.1', localPort: 0 }),
      log: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
      now: () => Date.now(),
      push: (assetId, sample) => void pushes.push({ assetId, sample }),
      signal: stopping.signal,
    },
    [asset],
  );
});

afterAll(async () => {
  stopping.abort();
  await instance?.close();
  await station?.close();
});

describe('keba-udp driver', () => {
  it('reads reports 2 and 3 into measurements and the connector state', async () => {
    const sample = await instance.read?.(asset, signal);
    expect(sample).toMatchObject({
      chargerState: 'suspended',
      values: {
        currentLimitA: 16,
        powerW: 0,
        voltageL1V: 231,
        voltageL2V: 229,
        voltageL3V: 230,
        sessionEnergyWh: 1_234.5,
        importEnergyWh: 9_876_543.2,
      },
    });
    expect(station.commands.map((c) => c.text)).toEqual(['report 2', 'report 3']);
  });

  it('reuses the reports within reportIntervalMs (the guide asks for ≥ 5 s between repetitions)', async () => {
    const first = await instance.read?.(asset, signal);
    const sent = station.commands.length;
    const again = await instance.read?.(asset, signal);
    expect(station.commands.length).toBe(sent);
    expect(again?.atMs).toBe(first?.atMs);
  });

  it('writes a current as currtime, answers with the read-back, and pushes the status messages that follow', async () => {
    const outcome = await instance.write?.(asset, { kind: 'ev-current', currentA: 10 }, signal);
    expect(outcome).toEqual({ status: 'applied', readBack: 10 });
    expect(station.commands.slice(-2).map((c) => c.text)).toEqual(['currtime 10000 1', 'report 2']);
    // One second later the station applies it and reports the change to its last commander: pushed at once.
    const pushed = await waitFor(() => pushes.find((p) => p.sample.values.currentLimitA === 10), { timeoutMs: 10_000 });
    expect(pushed.assetId).toBe('ev-1');
    await waitFor(() => pushes.find((p) => p.sample.chargerState === 'charging'), {
      timeoutMs: 10_000,
      message: 'a charging push',
    });
  });

  it('refuses currents the station does not take, without sending anything', async () => {
    const sent = station.commands.length;
    const outcome = await instance.write?.(asset, { kind: 'ev-current', currentA: 5 }, signal);
    expect(outcome).toEqual({ status: 'rejected', error: 'KEBA takes 0 A or 6–63 A, not 5 A' });
    expect(station.commands.length).toBe(sent);
  });

  it('stops charging for the safe set-point and keeps the pause the station needs after it', async () => {
    const outcome = await instance.write?.(asset, { kind: 'safe' }, signal);
    expect(outcome).toEqual({ status: 'applied', readBack: 0 });
    const [disable, readBack] = station.commands.slice(-2);
    expect(disable?.text).toBe('currtime 0 1');
    expect((readBack?.atMs ?? 0) - (disable?.atMs ?? 0)).toBeGreaterThanOrEqual(2_000);
    // The double drops commands that come too soon; every one was answered, each ≥ 100 ms after the previous.
    expect(station.commands.every((c) => c.answered)).toBe(true);
    const gaps = station.commands.slice(1).map((c, i) => c.atMs - (station.commands[i]?.atMs ?? 0));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(100);
  });

  it('fails a command the station does not answer, and reports the station down in its health', async () => {
    station.silent = true;
    await expect(instance.write?.(asset, { kind: 'ev-current', currentA: 8 }, signal)).rejects.toThrow(
      `127.0.0.1:${station.port} did not answer 'currtime 8000 1' within 2000 ms`,
    );
    expect(instance.health?.()).toMatchObject({
      state: 'down',
      detail: 'no answer from 127.0.0.1',
      counters: { timeouts: 1 },
    });
    station.silent = false;
  });

  it('counts garbage on the wire and times out the report it never got', async () => {
    station.garbage = '<html>not a station</html>';
    const before = instance.health?.().counters?.['malformed'] ?? 0;
    await expect(instance.write?.(asset, { kind: 'ev-current', currentA: 8 }, signal)).rejects.toThrow(
      "did not answer 'report 2' within 2000 ms",
    );
    // Counted when the datagram is read: on a stalled event loop the reply timer can fire first (CI saw it).
    await waitFor(() => instance.health?.().counters?.['malformed'] === before + 1, {
      message: 'the garbage counted as malformed',
    });
    station.garbage = undefined;
  });
});
