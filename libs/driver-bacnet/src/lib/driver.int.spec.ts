// The bacnet driver through its DriverInstance against simulated BACnet/IP devices on loopback (127.81.x.y): real
// UDP datagrams, the same stack on both ends, the device built in src/testing.
import { waitFor } from '@voltimax/testing';
import { SimulatedBacnetDevice, startBacnetDriver, type DriverHarness, type SimulatedDeviceOptions } from '../testing';
import { BacnetPointError, BacnetTimeoutError } from './errors';
import { bacnetDriver } from './driver';
import { BacnetHostOptionsSchema } from './options';

jest.setTimeout(30_000);

const T0 = 1_700_000_000_000;
const clock = () => {
  let n = 0;
  return () => T0 + n++;
};
/** Short timeouts for the tests that wait one out; loopback answers in well under a millisecond, 1 s leaves room for a loaded machine. */
const HOST = { port: 0, apduTimeoutMs: 1_000, apduRetries: 0 };
const WAIT = { timeoutMs: 10_000 };

const open: { close(): Promise<void> }[] = [];
const drivers: DriverHarness[] = [];
async function device(options: SimulatedDeviceOptions): Promise<SimulatedBacnetDevice> {
  const d = await SimulatedBacnetDevice.start(options);
  open.push(d);
  return d;
}
async function driver(...args: Parameters<typeof startBacnetDriver>): Promise<DriverHarness> {
  const h = await startBacnetDriver(...args);
  drivers.push(h);
  return h;
}
afterEach(async () => {
  for (const h of drivers.splice(0)) await h.stop();
  for (const d of open.splice(0)) await d.close();
});

const battery = (host: string, extra: Partial<SimulatedDeviceOptions> = {}): SimulatedDeviceOptions => ({
  host,
  port: 0,
  deviceInstance: 1201,
  name: 'BESS-1',
  vendorName: 'Acme Storage',
  modelName: 'ESS 50',
  objects: [
    { object: 'analog-input:3', name: 'Battery power kW (+ charge)', presentValue: -2.5 },
    { object: 'analog-value:1', name: 'SoC', presentValue: 55 },
    { object: 'binary-input:2', name: 'Single-phase operation', presentValue: 1 },
    { object: 'analog-value:10', name: 'Power set-point W', presentValue: 0, commandable: true, min: -5000, max: 5000 },
  ],
  ...extra,
});

const batteryOptions = (address: string, extra: object = {}) => ({
  address,
  points: {
    powerW: { object: 'analog-input:3', scale: 1000, sign: -1 },
    socPct: 'analog-value:1',
    phases: { object: 'binary-input:2', offset: 0 },
  },
  setpoints: { 'battery-power': { object: 'analog-value:10' } },
  ...extra,
});

describe('bacnet driver: reads', () => {
  it('reads every mapped point with one ReadPropertyMultiple, in our units and signs', async () => {
    const dev = await device(battery('127.81.1.2'));
    const h = await driver(
      { ...HOST, interface: '127.81.1.1' },
      [{ id: 'bess-1', options: batteryOptions(dev.address) }],
      clock(),
    );

    const sample = await h.instance.read?.(h.asset('bess-1'), new AbortController().signal);

    // the device reports −2.5 kW and counts charging positive: it discharges 2.5 kW, +2500 W for us; the binary
    // single-phase flag reads as 1
    expect(sample).toEqual({ values: { powerW: 2500, socPct: 55, phases: 1 }, atMs: T0 });
    expect(dev.requestsOf('read-property-multiple')).toHaveLength(1);
    expect(dev.requestsOf('read-property')).toHaveLength(0);
    expect(h.instance.health?.()).toMatchObject({
      state: 'ok',
      counters: { reads: 1, readErrors: 0, rpmFallbacks: 0 },
    });
  });

  it('falls back to ReadProperty when the device rejects ReadPropertyMultiple, and remembers it', async () => {
    const dev = await device(battery('127.81.2.2', { services: { readPropertyMultiple: false } }));
    const h = await driver(
      { ...HOST, interface: '127.81.2.1' },
      [{ id: 'bess-1', options: batteryOptions(dev.address) }],
      clock(),
    );
    const signal = new AbortController().signal;

    const first = await h.instance.read?.(h.asset('bess-1'), signal);
    const second = await h.instance.read?.(h.asset('bess-1'), signal);

    expect(first?.values).toEqual({ powerW: 2500, socPct: 55, phases: 1 });
    expect(second?.values).toEqual(first?.values);
    expect(dev.requestsOf('read-property-multiple')).toHaveLength(1);
    // present-value and status-flags of three objects, twice
    expect(dev.requestsOf('read-property')).toHaveLength(12);
    expect(h.instance.health?.()).toMatchObject({ state: 'ok', counters: { rpmFallbacks: 1, rpmRefusingDevices: 1 } });
    expect(h.logged.some((l) => l.level === 'warn' && l.message.includes('refused ReadPropertyMultiple'))).toBe(true);
  });

  it('a faulty, out-of-service or missing point makes the reading an error that names it', async () => {
    const dev = await device(battery('127.81.3.2'));
    const h = await driver(
      { ...HOST, interface: '127.81.3.1' },
      [
        {
          id: 'bess-1',
          options: batteryOptions(dev.address, { points: { socPct: 'av:1', temperatureC: 'ai:99', powerW: 'ai:3' } }),
        },
      ],
      clock(),
    );
    const signal = new AbortController().signal;
    dev.setFlags('av:1', { fault: true });
    dev.setFlags('ai:3', { outOfService: true });

    const failure = h.instance.read?.(h.asset('bess-1'), signal);

    await expect(failure).rejects.toBeInstanceOf(BacnetPointError);
    await expect(failure).rejects.toThrow('socPct (analog-value:1): fault');
    await expect(failure).rejects.toThrow('powerW (analog-input:3): out-of-service');
    await expect(failure).rejects.toThrow(/temperatureC \(analog-input:99\): .*unknown-object/);

    dev.setFlags('av:1', { fault: false });
    dev.setFlags('ai:3', { outOfService: false });
    await expect(h.instance.read?.(h.asset('bess-1'), signal)).rejects.toThrow(/temperatureC .*unknown-object/);
    expect(h.instance.health?.()).toMatchObject({ state: 'ok', counters: { readErrors: 2 } });
  });

  it('finds a device known only by its instance with Who-Is on the broadcast address', async () => {
    const dev = await device(battery('127.81.4.2', { deviceInstance: 4242 }));
    // lo has no broadcast: the device's own address stands in for the subnet's broadcast address
    const h = await driver(
      { ...HOST, interface: '127.81.4.1', broadcastAddress: dev.address },
      [{ id: 'bess-1', options: { deviceInstance: 4242, points: { socPct: 'av:1' } } }],
      clock(),
    );

    const sample = await h.instance.read?.(h.asset('bess-1'), new AbortController().signal);

    expect(sample?.values).toEqual({ socPct: 55 });
    expect(dev.requestsOf('who-is')).toHaveLength(1);
    expect(h.instance.health?.().counters).toMatchObject({ whoIsResolutions: 1 });
  });

  it('addresses a routed device by network number and MAC (the simulated router drops anything else)', async () => {
    const dev = await device(battery('127.81.5.2', { routed: { network: 7, mac: [0x0a] } }));
    const h = await driver(
      { ...HOST, interface: '127.81.5.1' },
      [
        {
          id: 'right',
          options: { address: dev.address, network: { number: 7, mac: '0a' }, points: { socPct: 'av:1' } },
        },
        {
          id: 'wrong-mac',
          options: { address: dev.address, network: { number: 7, mac: 11 }, points: { socPct: 'av:1' } },
        },
        { id: 'not-routed', options: { address: dev.address, points: { socPct: 'av:1' } } },
      ],
      clock(),
    );
    const signal = new AbortController().signal;

    await expect(h.instance.read?.(h.asset('right'), signal)).resolves.toMatchObject({ values: { socPct: 55 } });
    await expect(h.instance.read?.(h.asset('wrong-mac'), signal)).rejects.toBeInstanceOf(BacnetTimeoutError);
    await expect(h.instance.read?.(h.asset('not-routed'), signal)).rejects.toBeInstanceOf(BacnetTimeoutError);
    expect(h.instance.health?.()).toMatchObject({
      state: 'degraded',
      counters: { devices: 3, devicesNotAnswering: 2 },
    });
  });

  it('a device that goes away gives errors and degraded health, and readings again when it is back', async () => {
    const first = await device(battery('127.81.6.2'));
    const h = await driver(
      { ...HOST, interface: '127.81.6.1' },
      [{ id: 'bess-1', options: batteryOptions(first.address) }],
      clock(),
    );
    const signal = new AbortController().signal;
    await expect(h.instance.read?.(h.asset('bess-1'), signal)).resolves.toBeDefined();

    await first.close();
    await expect(h.instance.read?.(h.asset('bess-1'), signal)).rejects.toBeInstanceOf(BacnetTimeoutError);
    expect(h.instance.health?.()).toMatchObject({ state: 'degraded', detail: `not answering: ${first.address}` });

    const [host, port] = first.address.split(':');
    await device(battery(host ?? '', { port: Number(port) }));
    await expect(h.instance.read?.(h.asset('bess-1'), signal)).resolves.toMatchObject({ values: { socPct: 55 } });
    expect(h.instance.health?.()).toMatchObject({ state: 'ok', counters: { devicesNotAnswering: 0, timeouts: 1 } });
    expect(h.logged.map((l) => l.message)).toEqual(
      expect.arrayContaining(['device not answering', 'device answering again']),
    );
  });

  it('checks that the device at the address is the configured instance before reading or writing', async () => {
    const dev = await device(battery('127.81.8.2'));
    const h = await driver(
      { ...HOST, interface: '127.81.8.1' },
      [
        { id: 'right', options: batteryOptions(dev.address, { deviceInstance: 1201 }) },
        { id: 'moved', options: batteryOptions(dev.address, { deviceInstance: 999 }) },
      ],
      clock(),
    );
    const signal = new AbortController().signal;

    await expect(h.instance.read?.(h.asset('right'), signal)).resolves.toMatchObject({ values: { socPct: 55 } });
    await expect(h.instance.read?.(h.asset('moved'), signal)).rejects.toThrow(
      `the BACnet device at ${dev.address} is not device 999 (it has no such device object)`,
    );
    await expect(
      h.instance.write?.(h.asset('moved'), { kind: 'battery-power', powerW: 1000 }, signal),
    ).resolves.toMatchObject({ status: 'rejected', error: expect.stringContaining('is not device 999') });
    expect(dev.requestsOf('write-property')).toEqual([]);
    expect(dev.requestsOf('read-property', 'device:1201')).toHaveLength(1);
  });

  it('refuses to start when its port is taken, with the socket error', async () => {
    const dev = await device(battery('127.81.7.2'));
    const [host, port] = dev.address.split(':');
    await expect(
      bacnetDriver.start(
        {
          options: BacnetHostOptionsSchema.parse({ interface: host, port: Number(port) }),
          log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
          now: Date.now,
          push: () => undefined,
          signal: new AbortController().signal,
        },
        [],
      ),
    ).rejects.toThrow(/EADDRINUSE/);
  });
});

describe('bacnet driver: change of value', () => {
  it('subscribes, pushes the initial values and every change the device notifies', async () => {
    const dev = await device(battery('127.81.10.2'));
    const h = await driver(
      { ...HOST, interface: '127.81.10.1' },
      [{ id: 'bess-1', options: batteryOptions(dev.address, { cov: { lifetimeS: 300 } }) }],
      clock(),
    );

    await waitFor(() => dev.subscriptions().length === 3, { ...WAIT, message: 'three subscriptions' });
    await waitFor(() => h.pushed.some((p) => p.sample.values.powerW === 2500 && p.sample.values.socPct === 55), WAIT);

    dev.setValue('ai:3', 1.2); // the device now charges 1.2 kW (the REAL on the wire is 1.2000000476837158)
    const pushed = await waitFor(() => h.pushed.find((p) => p.sample.values.powerW === -1200), {
      ...WAIT,
      message: 'the change pushed',
    });

    expect(pushed.assetId).toBe('bess-1');
    expect(pushed.sample.values).toEqual({ powerW: -1200, socPct: 55, phases: 1 });
    expect(pushed.sample.atMs).toBeGreaterThanOrEqual(T0);
    expect(
      dev.subscriptions().map((s) => ({ object: s.object, lifetimeS: s.lifetimeS, confirmed: s.confirmed })),
    ).toEqual(
      expect.arrayContaining([
        { object: 'analog-input:3', lifetimeS: 300, confirmed: false },
        { object: 'analog-value:1', lifetimeS: 300, confirmed: false },
        { object: 'binary-input:2', lifetimeS: 300, confirmed: false },
      ]),
    );
    // Counted when the driver has the device's acknowledgement, which may come after the device lists the subscription.
    await waitFor(() => h.instance.health?.().counters?.['covActive'] === 3, { ...WAIT, message: 'three acknowledged' });
    expect(h.instance.health?.().counters).toMatchObject({ covActive: 3, covRefused: 0 });
  });

  it('a notification with a fault flag drops that point from the pushes', async () => {
    const dev = await device(battery('127.81.11.2'));
    const h = await driver(
      { ...HOST, interface: '127.81.11.1' },
      [{ id: 'bess-1', options: batteryOptions(dev.address, { cov: { points: ['powerW', 'socPct'] } }) }],
      clock(),
    );
    await waitFor(() => dev.subscriptions().length === 2, WAIT);
    await waitFor(() => h.pushed.some((p) => p.sample.values.socPct === 55 && p.sample.values.powerW === 2500), WAIT);

    dev.setFlags('av:1', { fault: true });
    await waitFor(() => (h.instance.health?.().counters?.['covFaulty'] ?? 0) >= 1, WAIT);
    dev.setValue('ai:3', 1);

    const last = await waitFor(() => h.pushed.find((p) => p.sample.values.powerW === -1000), WAIT);
    expect(last.sample.values).toEqual({ powerW: -1000 });
    expect(h.logged.some((l) => l.message === 'cov notification with an unusable value')).toBe(true);
  });

  it('renews each subscription before its lifetime ends', async () => {
    const dev = await device(battery('127.81.12.2'));
    const h = await driver(
      { ...HOST, interface: '127.81.12.1' },
      [{ id: 'bess-1', options: batteryOptions(dev.address, { cov: { lifetimeS: 1, points: ['socPct'] } }) }],
      clock(),
    );

    // The device sees a request before the driver has its acknowledgement (and counts the renewal): wait for both.
    const renewals = () => h.instance.health?.().counters?.['covRenewals'] ?? 0;
    await waitFor(() => dev.requestsOf('subscribe-cov', 'av:1').length >= 4 && renewals() >= 3, { ...WAIT, message: 'three acknowledged renewals' });

    expect(dev.requestsOf('subscribe-cov', 'av:1').every((r) => r.lifetimeS === 1 && r.cancel === false)).toBe(true);
    // renewed in time: the device still holds it
    expect(dev.subscriptions()).toHaveLength(1);
  });

  it('leaves points to polling when the device refuses COV, for the whole device or one object', async () => {
    const noCov = await device(battery('127.81.13.2', { services: { subscribeCov: false } }));
    const oneObject = await device({
      ...battery('127.81.13.3'),
      objects: [
        { object: 'analog-input:3', presentValue: -2.5, cov: false },
        { object: 'analog-value:1', presentValue: 55 },
      ],
    });
    const h = await driver(
      { ...HOST, interface: '127.81.13.1' },
      [
        { id: 'a', options: { address: noCov.address, points: { socPct: 'av:1', powerW: 'ai:3' }, cov: {} } },
        { id: 'b', options: { address: oneObject.address, points: { socPct: 'av:1', powerW: 'ai:3' }, cov: {} } },
      ],
      clock(),
    );

    await waitFor(() => h.instance.health?.().counters?.['covRefusedPoints'] === 3, {
      ...WAIT,
      message: 'three refused',
    });

    expect(h.instance.health?.().counters).toMatchObject({ covActive: 1, covRefused: 3 });
    await expect(h.instance.read?.(h.asset('a'), new AbortController().signal)).resolves.toMatchObject({
      values: { socPct: 55, powerW: -2.5 },
    });
    expect(h.logged.filter((l) => l.message === 'cov refused; the point is polled')).toHaveLength(3);
  });

  it('acknowledges confirmed notifications', async () => {
    const dev = await device(battery('127.81.14.2'));
    const h = await driver(
      { ...HOST, interface: '127.81.14.1' },
      [{ id: 'bess-1', options: batteryOptions(dev.address, { cov: { confirmed: true, points: ['socPct'] } }) }],
      clock(),
    );
    await waitFor(() => dev.subscriptions().some((s) => s.confirmed), WAIT);

    dev.setValue('av:1', 56);

    await waitFor(() => dev.notificationsAcknowledged >= 2, { ...WAIT, message: 'initial and change acknowledged' });
    await waitFor(() => h.pushed.some((p) => p.sample.values.socPct === 56), WAIT);
  });

  it('subscribes again when a restarted device answers (it forgot its subscriptions), and cancels them on close', async () => {
    const first = await device(battery('127.81.15.2'));
    const h = await driver(
      { ...HOST, interface: '127.81.15.1' },
      [{ id: 'bess-1', options: batteryOptions(first.address, { cov: { points: ['socPct'] } }) }],
      clock(),
    );
    const signal = new AbortController().signal;
    await waitFor(() => first.subscriptions().length === 1, WAIT);

    await first.close();
    await expect(h.instance.read?.(h.asset('bess-1'), signal)).rejects.toBeInstanceOf(BacnetTimeoutError);
    const [host, port] = first.address.split(':');
    const second = await device(battery(host ?? '', { port: Number(port) }));
    await expect(h.instance.read?.(h.asset('bess-1'), signal)).resolves.toBeDefined();

    await waitFor(() => second.subscriptions().length === 1, { ...WAIT, message: 'subscribed again' });
    second.setValue('av:1', 61);
    await waitFor(() => h.pushed.some((p) => p.sample.values.socPct === 61), WAIT);

    await h.stop();
    drivers.splice(drivers.indexOf(h), 1);
    expect(second.subscriptions()).toEqual([]);
    expect(second.requestsOf('subscribe-cov').at(-1)).toMatchObject({ cancel: true, object: 'analog-value:1' });
  });
});

describe('bacnet driver: writes', () => {
  const write = (h: DriverHarness, powerW: number) =>
    h.instance.write?.(h.asset('bess-1'), { kind: 'battery-power', powerW }, new AbortController().signal);

  it('writes at its priority; a higher priority holding the object is a mismatch, with our slot verified', async () => {
    const dev = await device(battery('127.81.20.2'));
    const h = await driver(
      { ...HOST, interface: '127.81.20.1' },
      [{ id: 'bess-1', options: batteryOptions(dev.address) }],
      clock(),
    );
    dev.command('av:10', 3, -300); // an operator holds the set-point at priority 3

    const held = await write(h, 1500);

    expect(held).toEqual({
      status: 'mismatch',
      readBack: -300,
      error: 'analog-value:10: present-value is -300, not 1500: priority 3 (higher than our 8) holds -300',
    });
    expect(dev.priorityArray('av:10')[7]).toBe(1500);
    expect(dev.requestsOf('write-property', 'av:10')).toEqual([
      expect.objectContaining({ priority: 8, value: 1500, property: 85 }),
    ]);

    dev.command('av:10', 3, null); // the operator lets go: our slot rules
    expect(dev.presentValue('av:10')).toBe(1500);
    await expect(write(h, 1200)).resolves.toEqual({ status: 'applied', readBack: 1200 });
    expect(h.instance.health?.().counters).toMatchObject({ writes: 2, writesApplied: 1, writesMismatch: 1 });
  });

  it('the safe set-point relinquishes our slot (NULL at our priority) and reports what the device falls back to', async () => {
    const dev = await device(battery('127.81.21.2'));
    const h = await driver(
      { ...HOST, interface: '127.81.21.1' },
      [
        {
          id: 'bess-1',
          options: batteryOptions(dev.address, { setpoints: { 'battery-power': { object: 'av:10', priority: 10 } } }),
        },
      ],
      clock(),
    );
    dev.command('av:10', 14, 250); // a schedule at a lower priority
    await expect(write(h, 2000)).resolves.toEqual({ status: 'applied', readBack: 2000 });

    const safe = await h.instance.write?.(h.asset('bess-1'), { kind: 'safe' }, new AbortController().signal);

    expect(safe).toEqual({ status: 'applied', readBack: 250 });
    expect(dev.priorityArray('av:10')).toEqual([...Array(9).fill(null), null, null, null, null, 250, null, null]);
    expect(dev.requestsOf('write-property', 'av:10').at(-1)).toMatchObject({ priority: 10, value: null });
  });

  it('a configured safe value is written instead of relinquishing', async () => {
    const dev = await device(battery('127.81.22.2'));
    const h = await driver(
      { ...HOST, interface: '127.81.22.1' },
      [
        {
          id: 'bess-1',
          options: batteryOptions(dev.address, {
            setpoints: { 'battery-power': { object: 'av:10', scale: 1000, safe: { value: 0 } } },
          }),
        },
      ],
      clock(),
    );
    await expect(write(h, 3000)).resolves.toEqual({ status: 'applied', readBack: 3000 });
    expect(dev.priorityArray('av:10')[7]).toBe(3); // the device takes kW
    await expect(
      h.instance.write?.(h.asset('bess-1'), { kind: 'safe' }, new AbortController().signal),
    ).resolves.toEqual({
      status: 'applied',
      readBack: 0,
    });
    expect(dev.priorityArray('av:10')[7]).toBe(0);
  });

  it('rejected when the device refuses the value or the kind is not mapped; timeout when the device is gone', async () => {
    const dev = await device(battery('127.81.23.2'));
    const h = await driver(
      { ...HOST, interface: '127.81.23.1' },
      [{ id: 'bess-1', options: batteryOptions(dev.address) }],
      clock(),
    );
    const signal = new AbortController().signal;

    await expect(write(h, 6000)).resolves.toMatchObject({
      status: 'rejected',
      error: expect.stringContaining('value-out-of-range'),
    });
    await expect(
      h.instance.write?.(h.asset('bess-1'), { kind: 'ev-current', currentA: 16 }, signal),
    ).resolves.toMatchObject({
      status: 'rejected',
      error: 'asset bess-1 has no BACnet object for ev-current (map it under setpoints)',
    });
    dev.silent = true;
    await expect(write(h, 100)).resolves.toMatchObject({
      status: 'timeout',
      error: expect.stringContaining('did not answer'),
    });
    expect(h.instance.health?.().counters).toMatchObject({ writes: 3, writesRejected: 2, writesFailed: 1 });
  });
});
