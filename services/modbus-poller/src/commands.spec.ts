import { BusRequestFailedError } from '@voltimax/bus';
import { captureLogger, createMemoryNetwork, LOG_LEVEL, type MemoryBus } from '@voltimax/bus/testing';
import { subjects, type DeviceWrite, type Setpoint, type WriteResult } from '@voltimax/contracts';
import { ModbusConnectionError, ModbusExceptionError, ModbusTimeoutError } from '@voltimax/modbus';
import type { OwnedAsset } from './assets';
import { startCommands, type Commands } from './commands';
import { FakeDevice, FakeHealth } from './testing/fake-device';
import { PEBLAR_HOLDING, PEBLAR_INPUT } from './testing/images';
import { ownedAssets, tcpAsset } from './testing/site';

const T0 = 1_700_000_000_000;

function peblar(): FakeDevice {
  const device = new FakeDevice('charger:502');
  for (const [address, words] of Object.entries(PEBLAR_INPUT)) device.set('input', Number(address), words);
  for (const [address, words] of Object.entries(PEBLAR_HOLDING)) device.set('holding', Number(address), words);
  return device;
}

/**
 * CNTE cabinet, SunSpec model 704 at 40134 (cnte-battery.md, model_704.json offsets): WSetEna 40156, WSetMod 40157,
 * WSet 40158–59 (int32), WSetRvrt 40160–61, WSetEnaRvrt 40164, WSetRvrtTms 40165–66 (uint32), WSet_SF 40189 = 0.
 * Everything starts at 0.
 */
function cnte(): FakeDevice {
  const device = new FakeDevice('cabinet:502');
  device.set('holding', 40134, [704, 65, ...Array.from({ length: 65 }, () => 0)]);
  return device;
}

describe('device writes (commands)', () => {
  let commands: Commands | undefined;
  let sequence = 0;

  beforeEach(() => {
    jest.useFakeTimers({ now: T0 });
  });

  afterEach(async () => {
    await commands?.stop();
    commands = undefined;
    jest.useRealTimers();
  });

  function run(assets: readonly OwnedAsset[], devices: Readonly<Record<string, FakeDevice>>) {
    const network = createMemoryNetwork();
    const driver = network.connect();
    const arbiter = network.connect();
    const health = new FakeHealth();
    const captured = captureLogger('debug');
    commands = startCommands({
      transport: driver.raw,
      log: captured.log,
      health,
      assets,
      clientFor: (asset) => {
        const device = devices[asset.id];
        if (device === undefined) throw new Error(`no fake device for ${asset.id}`);
        return device;
      },
      now: () => Date.now(),
    });
    return { arbiter, health, lines: captured.lines };
  }

  function deviceWrite(assetId: string, setpoint: Setpoint, validForMs = 30_000): DeviceWrite {
    sequence += 1;
    return {
      v: 1,
      commandId: `cmd-${sequence}`,
      intentId: `intent-${sequence}`,
      assetId,
      setpoint,
      issuedAtMs: Date.now(),
      expiresAtMs: Date.now() + validForMs,
    };
  }

  /** The arbiter's request; fake timers need a nudge for the promise chain to settle. */
  async function send(arbiter: MemoryBus, write: DeviceWrite, timeoutMs = 1_000): Promise<WriteResult> {
    const reply = arbiter.request(subjects.deviceWrite, { assetId: write.assetId }, write, { timeoutMs });
    reply.catch(() => undefined);
    await jest.advanceTimersByTimeAsync(1);
    return reply;
  }

  const charger = () => ownedAssets([tcpAsset('ev-1', 'ev-charger', 'peblar.home', 502)]);
  const tenAmps: Setpoint = { kind: 'ev-current', currentA: 10 };

  it('writes the set-point, reads it back and replies applied with the read-back value', async () => {
    const device = peblar();
    const { arbiter, health } = run(charger(), { 'ev-1': device });
    const write = deviceWrite('ev-1', tenAmps);

    await expect(send(arbiter, write)).resolves.toEqual({
      v: 1,
      commandId: write.commandId,
      assetId: 'ev-1',
      status: 'applied',
      readBack: 10,
      atMs: T0,
    });
    expect(device.get('holding', 40000, 2)).toEqual([0x0000, 0x2710]); // 10 000 mA
    expect(device.writes).toEqual([{ address: 40000, words: [0x0000, 0x2710] }]);
    expect(health.counter('writes')).toBe(1);
    expect(health.counter('writes.ev-1.evCurrentSetpointA')).toBe(1);
  });

  it('replies unchanged and issues no Modbus write when the register already holds the value', async () => {
    const device = peblar();
    const { arbiter, health } = run(charger(), { 'ev-1': device });
    await send(arbiter, deviceWrite('ev-1', tenAmps));

    await expect(send(arbiter, deviceWrite('ev-1', tenAmps))).resolves.toMatchObject({
      status: 'unchanged',
      readBack: 10,
    });
    expect(device.writes).toHaveLength(1);
    expect(health.counter('writes.ev-1.evCurrentSetpointA')).toBe(1);
    expect(health.counter('skipped.ev-1.evCurrentSetpointA')).toBe(1);
    expect(health.counter('skippedWrites')).toBe(1);
  });

  it('writes the profile steps in order (phase switch before the current)', async () => {
    const device = peblar();
    const { arbiter } = run(charger(), { 'ev-1': device });
    await expect(
      send(arbiter, deviceWrite('ev-1', { kind: 'ev-current', currentA: 6, phases: 1 })),
    ).resolves.toMatchObject({
      status: 'applied',
      readBack: 6,
    });
    expect(device.writes).toEqual([
      { address: 40002, words: [0x0001] },
      { address: 40000, words: [0x0000, 0x1770] }, // 6 000 mA
    ]);
  });

  it('replies mismatch, never applied, when the device acknowledges but does not take the value', async () => {
    const device = peblar();
    device.ignoreWrites = true;
    const { arbiter, health } = run(charger(), { 'ev-1': device });
    await expect(send(arbiter, deviceWrite('ev-1', tenAmps))).resolves.toMatchObject({
      status: 'mismatch',
      readBack: 16,
      error: 'evCurrentSetpointA@40000: wrote [0x0000 0x2710], read back [0x0000 0x3e80]',
    });
    expect(health.counter('writeMismatches')).toBe(1);
  });

  it('stays silent for an asset it does not own: another instance or driver answers', async () => {
    const device = peblar();
    const { arbiter, health } = run(charger(), { 'ev-1': device });
    const reply = arbiter.request(subjects.deviceWrite, { assetId: 'ev-2' }, deviceWrite('ev-2', tenAmps), {
      timeoutMs: 100,
    });
    reply.catch(() => undefined);
    await jest.advanceTimersByTimeAsync(100);
    await expect(reply).rejects.toBeInstanceOf(BusRequestFailedError);
    await expect(reply).rejects.toMatchObject({ reason: 'timeout' });
    expect(device.reads).toEqual([]);
    expect(health.counter('foreignWrites')).toBe(1);
  });

  it.each([
    {
      name: 'a value outside the control range',
      setpoint: { kind: 'ev-current', currentA: 40 },
      error: 'out-of-range: 40 is outside [0, 32]',
    },
    {
      name: 'a set-point kind the device cannot execute',
      setpoint: { kind: 'battery-power', powerW: 1_000 },
      error: 'unsupported-setpoint: peblar.home cannot execute battery-power',
    },
  ] as const)('rejects $name without writing', async ({ setpoint, error }) => {
    const device = peblar();
    const { arbiter, health } = run(charger(), { 'ev-1': device });
    await expect(send(arbiter, deviceWrite('ev-1', setpoint))).resolves.toMatchObject({ status: 'rejected', error });
    expect(device.writes).toEqual([]);
    expect(health.counter('writesRejected')).toBe(1);
  });

  it('rejects a write that expired before it arrived, without touching the device', async () => {
    const device = peblar();
    const { arbiter } = run(charger(), { 'ev-1': device });
    const write = { ...deviceWrite('ev-1', tenAmps), expiresAtMs: T0 - 1 };
    await expect(send(arbiter, write)).resolves.toMatchObject({
      status: 'rejected',
      error: `expired at ${T0 - 1} before it could be applied`,
    });
    expect(device.reads).toEqual([]);
  });

  it('rejects writes to a meter (no controls)', async () => {
    const device = new FakeDevice();
    const { arbiter } = run(ownedAssets([tcpAsset('grid-1', 'grid-meter', 'eastron.sdm630', 502)]), {
      'grid-1': device,
    });
    await expect(send(arbiter, deviceWrite('grid-1', { kind: 'safe' }))).resolves.toMatchObject({
      status: 'rejected',
      error: 'unsupported-setpoint: eastron.sdm630 has no controls',
    });
  });

  describe('battery power in % of the rating (growatt.sph)', () => {
    const growatt = (battery: { readonly ratedPowerW?: number }) =>
      ownedAssets([
        {
          id: 'inv-1',
          name: 'inv-1',
          kind: 'hybrid-inverter',
          profile: 'growatt.sph',
          connection: { protocol: 'modbus-tcp', host: '127.0.0.1', port: 502, unitId: 1 },
          pollIntervalMs: 1_000,
          battery: { capacityWh: 10_000, maxChargePowerW: 10_000, maxDischargePowerW: 10_000, ...battery },
        },
      ]);
    const charge2kW: Setpoint = { kind: 'battery-power', powerW: -2_000 };
    /** SPH holding 1090–1102 (charge rate, stop SoC, AC charge, battery-first slot 1), all 0. */
    const sph = () => new FakeDevice('inverter:502').set('holding', 1090, Array.from({ length: 13 }, () => 0));

    it("writes the charge rate as a % of the device's rating (battery.ratedPowerW), not of the site's limit", async () => {
      const device = sph();
      const { arbiter } = run(growatt({ ratedPowerW: 8_000 }), { 'inv-1': device });
      await expect(send(arbiter, deviceWrite('inv-1', charge2kW))).resolves.toMatchObject({ status: 'applied' });
      expect(device.get('holding', 1090, 1)).toEqual([25]); // 2 000 W of 8 000 W; 20 (of the 10 kW limit) before
      expect(device.get('holding', 1092, 1)).toEqual([1]);
    });

    it('refuses the write, touching nothing, without the rating', async () => {
      const device = sph();
      const { arbiter } = run(growatt({}), { 'inv-1': device });
      await expect(send(arbiter, deviceWrite('inv-1', charge2kW))).resolves.toMatchObject({
        status: 'rejected',
        error: expect.stringMatching(/missing-rated-power: abs-percent-of-rated needs the device's rated power/),
      });
      expect(device.writes).toEqual([]);
    });
  });

  it.each([
    {
      name: 'exception 3 (illegal value)',
      error: new ModbusExceptionError('charger:502', 1, 16, 40000, 3),
      status: 'rejected',
    },
    {
      name: 'exception 4 (device failure)',
      error: new ModbusExceptionError('charger:502', 1, 16, 40000, 4),
      status: 'failed',
    },
    { name: 'a timeout', error: new ModbusTimeoutError('charger:502', 1, 1_000), status: 'timeout' },
    {
      name: 'a lost connection',
      error: new ModbusConnectionError('charger:502', 'connection-lost', 'socket closed'),
      status: 'failed',
    },
  ])('maps $name on the write to $status', async ({ error, status }) => {
    const device = peblar();
    device.writeError = error;
    const { arbiter } = run(charger(), { 'ev-1': device });
    const result = await send(arbiter, deviceWrite('ev-1', tenAmps));
    expect(result.status).toBe(status);
    expect(result.error).toContain(error.message);
    expect(result.readBack).toBeUndefined();
  });

  it('answers an invalid request for an owned asset with invalid-request (the bus refuses it)', async () => {
    const { arbiter } = run(charger(), { 'ev-1': peblar() });
    const reply = arbiter.raw.request('device.ev-1.write', new TextEncoder().encode('{"v":1}'), {}, 100);
    await jest.advanceTimersByTimeAsync(1);
    const answer = await reply;
    expect(answer.headers['Voltimax-Error']).toMatch(/^invalid-request: invalid-schema/);
  });

  it('counts refused requests for its assets in the heartbeat', async () => {
    const { arbiter, health } = run(charger(), { 'ev-1': peblar() });
    const reply = arbiter.raw.request('device.ev-1.write', new TextEncoder().encode('not json'), {}, 100);
    await jest.advanceTimersByTimeAsync(1);
    await reply;
    expect(health.counter('writeBusDropped')).toBe(1);
  });

  it('rejects writes for an asset it cannot drive, without ever opening a Modbus client', async () => {
    const network = createMemoryNetwork();
    const arbiter = network.connect();
    const clientFor = jest.fn();
    commands = startCommands({
      transport: network.connect().raw,
      log: captureLogger('silent').log,
      health: new FakeHealth(),
      assets: ownedAssets([tcpAsset('bat-9', 'battery', 'cnte.storage', 502)]),
      clientFor,
      now: () => Date.now(),
    });
    await expect(send(arbiter, deviceWrite('bat-9', { kind: 'safe' }))).resolves.toMatchObject({
      status: 'rejected',
      error: "unknown profile 'cnte.storage'",
    });
    expect(clientFor).not.toHaveBeenCalled();
  });

  it('rejects a payload whose assetId differs from the subject', async () => {
    const device = peblar();
    const { arbiter } = run(charger(), { 'ev-1': device });
    const reply = arbiter.request(subjects.deviceWrite, { assetId: 'ev-1' }, deviceWrite('ev-9', tenAmps), {
      timeoutMs: 100,
    });
    await jest.advanceTimersByTimeAsync(1);
    await expect(reply).resolves.toMatchObject({
      status: 'rejected',
      error: "payload assetId 'ev-9' differs from the subject",
    });
    expect(device.writes).toEqual([]);
  });

  describe('watchdog', () => {
    it('writes the safe set-point when a write expires without a newer one, and logs it', async () => {
      const device = peblar();
      const { arbiter, health, lines } = run(charger(), { 'ev-1': device });
      const write = deviceWrite('ev-1', tenAmps, 5_000);
      await send(arbiter, write);
      await jest.advanceTimersByTimeAsync(4_990);
      expect(device.get('holding', 40000, 2)).toEqual([0x0000, 0x2710]);

      await jest.advanceTimersByTimeAsync(10);
      expect(device.get('holding', 40000, 2)).toEqual([0x0000, 0x0000]); // safe: 0 A (paused)
      expect(health.counter('watchdogSafe')).toBe(1);
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: LOG_LEVEL.warn,
          msg: 'write expired without a newer one; safe set-point applied',
          assetId: 'ev-1',
          commandId: write.commandId,
          expiredAtMs: write.expiresAtMs,
          status: 'applied',
        }),
      );
    });

    it('is re-armed by every newer write', async () => {
      const device = peblar();
      const { arbiter } = run(charger(), { 'ev-1': device });
      await send(arbiter, deviceWrite('ev-1', tenAmps, 5_000));
      await jest.advanceTimersByTimeAsync(3_000);
      await send(arbiter, deviceWrite('ev-1', tenAmps, 5_000)); // unchanged, but a newer command
      await jest.advanceTimersByTimeAsync(3_000);
      expect(device.get('holding', 40000, 2)).toEqual([0x0000, 0x2710]);
      await jest.advanceTimersByTimeAsync(2_000);
      expect(device.get('holding', 40000, 2)).toEqual([0x0000, 0x0000]);
    });

    it('keeps trying the safe set-point while the device refuses it', async () => {
      const device = peblar();
      const { arbiter, health } = run(charger(), { 'ev-1': device });
      await send(arbiter, deviceWrite('ev-1', tenAmps, 2_000));
      device.writeError = new ModbusTimeoutError('charger:502', 1, 1_000);
      await jest.advanceTimersByTimeAsync(2_000);
      expect(health.counter('watchdogFailures')).toBe(1);
      device.writeError = undefined;
      await jest.advanceTimersByTimeAsync(1_000);
      expect(device.get('holding', 40000, 2)).toEqual([0x0000, 0x0000]);
      expect(health.counter('watchdogSafe')).toBe(1);
    });
  });

  describe('keep-alive (cnte.ess-cabinet, keepAliveMs 10 s)', () => {
    const cabinet = () => ownedAssets([tcpAsset('bat-1', 'battery', 'cnte.ess-cabinet', 502)]);
    const charge3kW: Setpoint = { kind: 'battery-power', powerW: -3_000 };

    it('writes the 704 steps that differ, in profile order, with the scale factor read from the device', async () => {
      const device = cnte();
      const { arbiter, health } = run(cabinet(), { 'bat-1': device });
      await expect(send(arbiter, deviceWrite('bat-1', charge3kW, 60_000))).resolves.toMatchObject({
        status: 'applied',
        readBack: -3_000,
      });
      expect(device.writes).toEqual([
        { address: 40157, words: [0x0001] }, // WSetMod = watts
        { address: 40165, words: [0x0000, 0x001e] }, // WSetRvrtTms 30 s
        { address: 40164, words: [0x0001] }, // WSetEnaRvrt
        { address: 40158, words: [0xffff, 0xf448] }, // WSet −3000 W
        { address: 40156, words: [0x0001] }, // WSetEna
      ]);
      expect(health.counter('skipped.bat-1.setpointRevertW')).toBe(1); // already 0 W
    });

    it('rewrites the set-point register every keepAliveMs, also while identical commands are answered unchanged', async () => {
      const device = cnte();
      const { arbiter, health } = run(cabinet(), { 'bat-1': device });
      await send(arbiter, deviceWrite('bat-1', charge3kW, 60_000));
      const initial = device.writes.length;

      await jest.advanceTimersByTimeAsync(5_000);
      await expect(send(arbiter, deviceWrite('bat-1', charge3kW, 60_000))).resolves.toMatchObject({
        status: 'unchanged',
      });
      expect(device.writes).toHaveLength(initial);

      await jest.advanceTimersByTimeAsync(5_000); // 10 s after the real write
      expect(device.writes.slice(initial)).toEqual([{ address: 40158, words: [0xffff, 0xf448] }]);
      expect(health.counter('keepAlives')).toBe(1);
      await jest.advanceTimersByTimeAsync(10_000);
      expect(device.writes.slice(initial)).toHaveLength(2);
    });

    it('stops repeating an older set-point once a newer one fails', async () => {
      const device = cnte();
      const { arbiter } = run(cabinet(), { 'bat-1': device });
      await send(arbiter, deviceWrite('bat-1', charge3kW, 60_000));
      const initial = device.writes.length;
      device.writeError = new ModbusTimeoutError('cabinet:502', 1, 1_000);
      await expect(
        send(arbiter, deviceWrite('bat-1', { kind: 'battery-power', powerW: 1_000 }, 60_000)),
      ).resolves.toMatchObject({
        status: 'timeout',
      });
      device.writeError = undefined;
      await jest.advanceTimersByTimeAsync(30_000);
      expect(device.writes.slice(initial + 1)).toEqual([]);
    });

    it('stops repeating an expired set-point even while the safe one keeps failing', async () => {
      const device = cnte();
      const { arbiter, health } = run(cabinet(), { 'bat-1': device });
      await send(arbiter, deviceWrite('bat-1', charge3kW, 15_000));
      await jest.advanceTimersByTimeAsync(10_000);
      expect(health.counter('keepAlives')).toBe(1); // the set-point is kept alive while it is valid
      const beforeExpiry = device.writes.length;
      device.writeError = new ModbusTimeoutError('cabinet:502', 1, 1_000);
      await jest.advanceTimersByTimeAsync(40_000); // expiry at 15 s, then safe retries every second, all failing
      expect(health.counter('watchdogFailures')).toBeGreaterThan(1);
      expect(health.counter('keepAlives')).toBe(1);
      expect(health.counter('keepAliveFailures')).toBe(0);
      // Only the safe set-point's attempts (0 W) after the expiry, never −3000 W again.
      const after = device.writes.slice(beforeExpiry);
      expect(after.length).toBeGreaterThan(1);
      expect(after.filter((w) => w.address === 40158 && w.words.join() !== '0,0')).toEqual([]);
    });
  });
});
