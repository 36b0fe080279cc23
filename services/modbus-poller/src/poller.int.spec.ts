// The poller against an independent Modbus server (the pymodbus peer) and a real nats-server with the production
// users and permissions (docker/nats/nats.conf): it connects as `modbus-poller`, a dashboard user observes.
import type { AssetReading } from '@voltimax/contracts';
import { NATS_CONFIG_PATH, startNats, waitFor, type NatsTestServer } from '@voltimax/testing';
import {
  connectAs,
  runPoller,
  sdm630PeerTables,
  writeSite,
  type BusClient,
  type RunningPoller,
} from './testing/harness';
import { SDM630_MEASUREMENTS } from './testing/images';
import { closedPort, startPeer, type Peer } from '@voltimax/modbus/testing';
import { siteWith, tcpAsset } from './testing/site';

const POLL_MS = 200;

describe('modbus-poller against the pymodbus peer over real NATS', () => {
  let nats: NatsTestServer;
  let observer: BusClient;
  let meterPeer: Peer;
  let partialPeer: Peer;
  let lateDevice: Peer | undefined;
  let downPort: number;
  let poller: RunningPoller;
  let site: { path: string; remove: () => void };

  const of = (assetId: string): AssetReading[] => observer.readings.filter((r) => r.assetId === assetId);
  const latest = (assetId: string): AssetReading | undefined => of(assetId).at(-1);

  beforeAll(async () => {
    [nats, meterPeer, partialPeer, downPort] = await Promise.all([
      startNats({ config: NATS_CONFIG_PATH }),
      startPeer({ map: { units: { '1': sdm630PeerTables() } }, watchS: 0.1 }),
      // A meter that refuses the frequency/energy block with exception 2 (those addresses do not exist).
      startPeer({ map: { units: { '1': sdm630PeerTables({ '70': undefined, '72': undefined, '74': undefined }) } } }),
      closedPort(),
    ]);
    observer = await connectAs(nats.url, 'dashboard', true);
    site = writeSite(
      siteWith([
        tcpAsset('grid-1', 'grid-meter', 'eastron.sdm630', meterPeer.port, { pollIntervalMs: POLL_MS }),
        tcpAsset('meter-partial', 'meter', 'eastron.sdm630', partialPeer.port, { pollIntervalMs: POLL_MS }),
        tcpAsset('meter-down', 'meter', 'eastron.sdm630', downPort, { pollIntervalMs: POLL_MS }),
      ]),
    );
    poller = await runPoller({ natsUrl: nats.url, siteFile: site.path, instanceId: 'poller-int' });
  });

  afterAll(async () => {
    await poller?.stop();
    await observer?.close();
    await Promise.all([meterPeer?.stop(), partialPeer?.stop(), lateDevice?.stop()]);
    await nats?.stop();
    site?.remove();
  });

  it('publishes the SDM630 values the peer serves (float32 total power and the rest) as good telemetry', async () => {
    const reading = await waitFor(() => of('grid-1').find((r) => r.quality === 'good'), {
      message: 'a good grid-1 reading',
    });
    expect(reading).toMatchObject({ v: 1, assetId: 'grid-1', kind: 'grid-meter', quality: 'good' });
    expect(reading.values).toEqual(SDM630_MEASUREMENTS);
    expect(reading.values.powerW).toBe(2_000);
  });

  it('publishes quality error without values for a device that refuses the connection, and keeps running', async () => {
    const reading = await waitFor(() => latest('meter-down'), { message: 'a meter-down reading' });
    expect(reading).toMatchObject({ quality: 'error', values: {} });
    expect(reading.error).toMatch(/ModbusConnectionError|CircuitOpenError/);
    const before = of('grid-1').length;
    await waitFor(() => of('grid-1').length >= before + 2, { message: 'grid-1 still polled' });
  });

  it('publishes quality error naming exception 2 when the device refuses one block', async () => {
    // Any error reading of the asset would do for a single read; a starved peer can time out instead. Wait for this one.
    const reading = await waitFor(
      () => of('meter-partial').find((r) => /FC4 @70 with exception 2 \(illegal-data-address\)/.test(r.error ?? '')),
      { message: 'a meter-partial reading naming exception 2' },
    );
    expect(reading).toMatchObject({ quality: 'error', values: {} });
  });

  it('never publishes a garbage value: NaN total power is dropped, reported and counted, and good values return', async () => {
    // 0x7FC0 0x0000 is a quiet NaN in float32 (typed as raw words).
    meterPeer.updateMap({ units: { '1': sdm630PeerTables({ '52': [0x7fc0, 0x0000] }) } });
    const bad = await waitFor(() => of('grid-1').find((r) => r.error?.includes('powerW=NaN')), {
      message: 'a grid-1 reading reporting the NaN',
    });
    expect(bad.quality).toBe('error');
    expect(bad.values).not.toHaveProperty('powerW');
    expect(bad.values.voltageL1V).toBe(230.5);
    expect(observer.readings.some((r) => r.values.powerW !== undefined && !Number.isFinite(r.values.powerW))).toBe(
      false,
    );
    await waitFor(
      () => observer.heartbeats.find((b) => b.instanceId === 'poller-int' && (b.counters?.['implausible'] ?? 0) > 0),
      { message: 'the implausible counter in a heartbeat' },
    );

    meterPeer.updateMap({ units: { '1': sdm630PeerTables() } });
    const seen = of('grid-1').length;
    await waitFor(
      () =>
        of('grid-1')
          .slice(seen)
          .find((r) => r.quality === 'good' && r.values.powerW === 2_000),
      {
        message: 'good grid-1 readings again',
      },
    );
  });

  it('recovers when the device comes back', async () => {
    lateDevice = await startPeer({ map: { units: { '1': sdm630PeerTables() } }, port: downPort });
    const reading = await waitFor(() => of('meter-down').find((r) => r.quality === 'good'), {
      timeoutMs: 5_000,
      message: 'a good meter-down reading after the device came back',
    });
    expect(reading.values).toEqual(SDM630_MEASUREMENTS);
  });

  it('lists its assets and counters in the heartbeat', async () => {
    const beat = await waitFor(
      () => observer.heartbeats.findLast((b) => b.instanceId === 'poller-int' && (b.counters?.['pollErrors'] ?? 0) > 0),
      { message: 'a heartbeat with poll errors' },
    );
    expect(beat).toMatchObject({ service: 'modbus-poller', assets: ['grid-1', 'meter-partial', 'meter-down'] });
    expect(beat.counters).toMatchObject({ 'breaker.grid-1': 0, busPublishRejected: 0 });
    expect(beat.counters?.['polls']).toBeGreaterThan(3);
    expect(beat.status).toBe('degraded');
    expect(beat.detail).toContain('meter-partial');
  });
});
