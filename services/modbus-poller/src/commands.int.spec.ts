// The write path end to end: the arbiter (user safety-arbiter, the only one nats.conf lets publish device writes)
// sends device.<id>.write requests over a real nats-server; the poller (user modbus-poller) executes them on a Modbus
// TCP server holding a hand-typed Peblar register image.
import { BusRequestFailedError } from '@voltimax/bus';
import { subjects, type DeviceWrite, type Setpoint } from '@voltimax/contracts';
import { NATS_CONFIG_PATH, startNats, waitFor, type NatsTestServer } from '@voltimax/testing';
import { connectAs, runPoller, writeSite, type BusClient, type RunningPoller } from './testing/harness';
import { flatten, PEBLAR_HOLDING, PEBLAR_INPUT } from './testing/images';
import { startRegisterServer, type RegisterServer } from './testing/register-server';
import { siteWith, tcpAsset } from './testing/site';

describe('device writes over real NATS (safety-arbiter → modbus-poller → Modbus server)', () => {
  let nats: NatsTestServer;
  let arbiter: BusClient;
  let observer: BusClient;
  let charger: RegisterServer;
  let stubborn: RegisterServer;
  let poller: RunningPoller;
  let site: { path: string; remove: () => void };
  let sequence = 0;

  beforeAll(async () => {
    const image = { holding: flatten(PEBLAR_HOLDING), input: flatten(PEBLAR_INPUT) };
    [nats, charger, stubborn] = await Promise.all([
      startNats({ config: NATS_CONFIG_PATH }),
      startRegisterServer(image),
      startRegisterServer(image),
    ]);
    stubborn.ignoreWrites = true;
    [arbiter, observer] = await Promise.all([
      connectAs(nats.url, 'safety-arbiter', false),
      connectAs(nats.url, 'dashboard', true),
    ]);
    site = writeSite(
      siteWith([
        tcpAsset('ev-1', 'ev-charger', 'peblar.home', charger.port, { pollIntervalMs: 500 }),
        tcpAsset('ev-2', 'ev-charger', 'peblar.home', stubborn.port, { pollIntervalMs: 500 }),
        {
          id: 'ev-9',
          name: 'REST charger (http-devices drives it)',
          kind: 'ev-charger',
          profile: 'peblar.home',
          connection: { protocol: 'http', baseUrl: 'http://192.0.2.20' },
          evCharger: { maxCurrentA: 16 },
        },
      ]),
    );
    poller = await runPoller({ natsUrl: nats.url, siteFile: site.path, instanceId: 'poller-writes' });
  });

  afterAll(async () => {
    await poller?.stop();
    await Promise.all([arbiter?.close(), observer?.close()]);
    await Promise.all([charger?.close(), stubborn?.close()]);
    await nats?.stop();
    site?.remove();
  });

  function deviceWrite(assetId: string, setpoint: Setpoint, validForMs = 60_000): DeviceWrite {
    sequence += 1;
    const nowMs = Date.now();
    return {
      v: 1,
      commandId: `cmd-int-${sequence}`,
      assetId,
      setpoint,
      issuedAtMs: nowMs,
      expiresAtMs: nowMs + validForMs,
    };
  }

  const send = (write: DeviceWrite, timeoutMs = 3_000) =>
    arbiter.bus.request(subjects.deviceWrite, { assetId: write.assetId }, write, { timeoutMs });
  const currentLimitMa = (server: RegisterServer): number =>
    ((server.holding.get(40000) ?? 0) << 16) | (server.holding.get(40001) ?? 0);

  it('changes the register in the Modbus server and replies applied with the read-back', async () => {
    const write = deviceWrite('ev-1', { kind: 'ev-current', currentA: 10 });
    await expect(send(write)).resolves.toMatchObject({
      v: 1,
      commandId: write.commandId,
      assetId: 'ev-1',
      status: 'applied',
      readBack: 10,
    });
    expect([charger.holding.get(40000), charger.holding.get(40001)]).toEqual([0x0000, 0x2710]); // 10 000 mA
  });

  it('replies unchanged to an identical write and issues no Modbus write', async () => {
    const writesBefore = charger.writes.length;
    await expect(send(deviceWrite('ev-1', { kind: 'ev-current', currentA: 10 }))).resolves.toMatchObject({
      status: 'unchanged',
      readBack: 10,
    });
    expect(charger.writes).toHaveLength(writesBefore);
  });

  it('replies mismatch when the device acknowledges the write but does not take it', async () => {
    const result = await send(deviceWrite('ev-2', { kind: 'ev-current', currentA: 8 }));
    expect(result).toMatchObject({ status: 'mismatch', readBack: 16 });
    expect(result.error).toBe('evCurrentSetpointA@40000: wrote [0x0000 0x1f40], read back [0x0000 0x3e80]');
    expect(stubborn.writes.length).toBeGreaterThan(0);
  });

  it('does not answer a write for an asset it does not own', async () => {
    const reply = send(deviceWrite('ev-9', { kind: 'ev-current', currentA: 6 }), 400);
    await expect(reply).rejects.toBeInstanceOf(BusRequestFailedError);
    await expect(reply).rejects.toMatchObject({ reason: 'timeout' });
  });

  it('writes the safe set-point (0 A) when a write expires without a newer one', async () => {
    // Valid for 2 s: long enough that a stalled loop cannot expire it before it is applied (or before the read below).
    await expect(send(deviceWrite('ev-1', { kind: 'ev-current', currentA: 12 }, 2_000))).resolves.toMatchObject({
      status: 'applied',
    });
    expect(currentLimitMa(charger)).toBe(12_000);
    await waitFor(() => currentLimitMa(charger) === 0, { timeoutMs: 10_000, message: 'the watchdog to write 0 mA' });
    // The register changes before the read-back and the log line: wait for the line too.
    const line = await waitFor(
      () => poller.lines.find((l) => l.msg === 'write expired without a newer one; safe set-point applied'),
      { message: 'the watchdog log line' },
    );
    expect(line).toMatchObject({ level: 40, assetId: 'ev-1', status: 'applied' });
    await waitFor(
      () =>
        observer.heartbeats.find((b) => b.instanceId === 'poller-writes' && (b.counters?.['watchdogSafe'] ?? 0) >= 1),
      { message: 'watchdogSafe in a heartbeat' },
    );
  });

  it('counts performed and skipped writes per register in the heartbeat (flash-wear budget)', async () => {
    const beat = await waitFor(
      () =>
        observer.heartbeats.findLast(
          (b) => b.instanceId === 'poller-writes' && (b.counters?.['watchdogSafe'] ?? 0) >= 1,
        ),
      { message: 'a recent heartbeat' },
    );
    expect(beat.counters).toMatchObject({
      'writes.ev-1.evCurrentSetpointA': 3, // 10 A, 12 A, safe 0 A
      'skipped.ev-1.evCurrentSetpointA': 1, // the identical 10 A
      'writes.ev-2.evCurrentSetpointA': 1,
      writeMismatches: 1,
    });
    expect(beat.counters?.['foreignWrites']).toBeGreaterThanOrEqual(1);
  });
});
