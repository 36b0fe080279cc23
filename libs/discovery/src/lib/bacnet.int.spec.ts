// BACnet Who-Is → I-Am discovery against simulated devices on loopback (127.82.x.y, the standard port 47808 on each
// address). lo has no broadcast, so the sweep is unicast; one device's address stands in for a broadcast address.
import { SimulatedBacnetDevice, type SimulatedDeviceOptions } from '@voltimax/driver-bacnet/testing';
import { BacnetDiscoveryError, discoverBacnet } from './bacnet';
import { runDiscovery } from './discover';

jest.setTimeout(60_000);

const devices: SimulatedBacnetDevice[] = [];
async function start(options: SimulatedDeviceOptions): Promise<SimulatedBacnetDevice> {
  const device = await SimulatedBacnetDevice.start(options);
  devices.push(device);
  return device;
}
const point = { object: 'analog-value:1', presentValue: 1 };

describe('discoverBacnet on 127.82.0.0/28', () => {
  let bess: SimulatedBacnetDevice;
  let ahu: SimulatedBacnetDevice;
  let routedMeter: SimulatedBacnetDevice;
  let noRpm: SimulatedBacnetDevice;
  let mute: SimulatedBacnetDevice;
  let otherPort: SimulatedBacnetDevice;

  beforeAll(async () => {
    bess = await start({
      host: '127.82.0.2',
      deviceInstance: 1201,
      name: 'BESS-1',
      vendorName: 'Acme Storage',
      vendorId: 777,
      modelName: 'ESS 50',
      firmwareRevision: '2.4.1',
      objects: [
        point,
        { object: 'analog-input:3', presentValue: 0 },
        { object: 'analog-value:10', presentValue: 0, commandable: true },
      ],
    });
    ahu = await start({
      host: '127.82.0.3',
      deviceInstance: 3001,
      name: 'AHU-1',
      vendorName: 'Distech Controls',
      modelName: 'ECY-303',
      objects: [point],
    });
    routedMeter = await start({
      host: '127.82.0.4',
      deviceInstance: 7010,
      name: 'Main meter',
      vendorName: 'Schneider Electric',
      modelName: 'PM5560 power meter',
      objects: [point],
      routed: { network: 7, mac: [0x0a] },
    });
    noRpm = await start({
      host: '127.82.0.5',
      deviceInstance: 5005,
      name: 'Old controller',
      vendorName: 'Legacy',
      modelName: 'LC-1',
      objects: [point],
      services: { readPropertyMultiple: false },
    });
    mute = await start({ host: '127.82.0.6', deviceInstance: 6006, objects: [point], services: { whoIs: false } });
    otherPort = await start({
      host: '127.82.0.7',
      port: 47809,
      deviceInstance: 9009,
      name: 'Soft device',
      objects: [point],
    });
  });

  afterAll(async () => {
    for (const device of devices.splice(0)) await device.close();
  });

  it('finds every device that answers Who-Is, reads its identity, and proposes a bacnet plugin connection', async () => {
    const result = await discoverBacnet({ cidr: '127.82.0.0/28', interface: '127.82.0.1', listenMs: 1_500 });

    expect(result.whoIsSent).toBe(14);
    expect(result.localAddress).toBe('127.82.0.1:47808');
    expect(result.broadcastAnswersMissed).toBe(false);
    expect(result.devices.map((d) => d.iAm.deviceInstance)).toEqual([1201, 3001, 5005, 7010]);
    const byInstance = new Map(result.candidates.map((c) => [c.identity.deviceId, c]));

    expect(byInstance.get('device-1201')).toMatchObject({
      source: 'bacnet',
      kind: 'battery',
      identity: { manufacturer: 'Acme Storage', model: 'ESS 50', host: '127.82.0.2' },
      connection: {
        protocol: 'plugin',
        driver: 'bacnet',
        options: { address: '127.82.0.2:47808', deviceInstance: 1201 },
      },
      drivers: [{ name: 'bacnet', module: '@voltimax/driver-bacnet' }],
    });
    expect(byInstance.get('device-1201')?.evidence).toEqual(
      expect.arrayContaining([
        'I-Am from 127.82.0.2:47808: device 1201, vendor id 777, max APDU 1482, segmentation none',
        "device object: name 'BESS-1', vendor 'Acme Storage', model 'ESS 50', firmware 2.4.1, 4 objects",
      ]),
    );
    expect(byInstance.get('device-3001')).toMatchObject({
      kind: 'load',
      identity: { manufacturer: 'Distech Controls' },
    });
    expect(byInstance.get('device-7010')).toMatchObject({
      kind: 'meter',
      connection: { options: { address: '127.82.0.4:47808', deviceInstance: 7010, network: { number: 7, mac: '0a' } } },
    });
    // identity read property by property: the device rejects ReadPropertyMultiple
    expect(byInstance.get('device-5005')).toMatchObject({ identity: { manufacturer: 'Legacy', model: 'LC-1' } });
    expect(noRpm.requestsOf('read-property').length).toBeGreaterThanOrEqual(6);
    expect(byInstance.has('device-6006')).toBe(false);
    expect(byInstance.has('device-9009')).toBe(false);
  });

  it('only asks: every device saw Who-Is and reads, nothing else', () => {
    for (const device of [bess, ahu, routedMeter, noRpm, mute]) {
      expect(
        device.requests.filter((r) => !['who-is', 'read-property', 'read-property-multiple'].includes(r.service)),
      ).toEqual([]);
      expect(device.requestsOf('who-is').length).toBeGreaterThanOrEqual(1);
    }
  });

  it('tries the ports it is given', async () => {
    const result = await discoverBacnet({
      cidr: '127.82.0.7',
      ports: [47808, 47809],
      interface: '127.82.0.1',
      localPort: 0,
      listenMs: 1_500,
    });
    expect(result.whoIsSent).toBe(2);
    expect(result.candidates.map((c) => c.connection)).toEqual([
      { protocol: 'plugin', driver: 'bacnet', options: { address: '127.82.0.7:47809', deviceInstance: 9009 } },
    ]);
    expect(otherPort.requestsOf('who-is')).toHaveLength(1);
  });

  it('sends one Who-Is to the broadcast address (here a device address stands in for it)', async () => {
    const result = await discoverBacnet({
      broadcast: '127.82.0.3',
      interface: '127.82.0.1',
      localPort: 0,
      listenMs: 1_500,
    });
    expect(result.whoIsSent).toBe(1);
    expect(result.candidates.map((c) => c.identity.deviceId)).toEqual(['device-3001']);
  });

  it('falls back to a free local port when 47808 is taken, and still hears unicast answers', async () => {
    const blocker = await start({ host: '127.82.1.1', deviceInstance: 1, objects: [point] });
    const result = await discoverBacnet({ cidr: '127.82.0.2', interface: '127.82.1.1', listenMs: 1_500 });
    expect(result.broadcastAnswersMissed).toBe(true);
    expect(result.localAddress).not.toBe('127.82.1.1:47808');
    expect(result.candidates.map((c) => c.identity.deviceId)).toEqual(['device-1201']);
    expect(blocker.requests).toEqual([]);
  });

  it('stops sending when aborted and reports what it heard so far', async () => {
    const controller = new AbortController();
    const run = discoverBacnet({
      cidr: '127.82.0.0/24',
      interface: '127.82.0.1',
      localPort: 0,
      whoIsPerSecond: 20,
      listenMs: 30_000,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 300);
    const result = await run;
    expect(result.aborted).toBe(true);
    expect(result.whoIsSent).toBeLessThan(254);
  });

  it('runs as a source of runDiscovery, merged with the others', async () => {
    const run = await runDiscovery({
      bacnet: { cidr: '127.82.0.2/31', interface: '127.82.0.1', localPort: 0, listenMs: 1_500 },
    });
    expect(run.errors).toEqual([]);
    expect(run.bacnet?.devices).toHaveLength(2);
    expect(run.candidates.map((c) => [c.sources, c.identity.deviceId])).toEqual(
      expect.arrayContaining([
        [['bacnet'], 'device-1201'],
        [['bacnet'], 'device-3001'],
      ]),
    );
  });

  it('refuses to run without a range or a broadcast address, and names a bad range', async () => {
    await expect(discoverBacnet({})).rejects.toBeInstanceOf(BacnetDiscoveryError);
    await expect(discoverBacnet({ broadcast: 'everyone' })).rejects.toThrow(
      "broadcast must be an IPv4 address with an optional port, got 'everyone'",
    );
    const run = await runDiscovery({ bacnet: { cidr: '10.0.0.0/8' } });
    expect(run.errors).toEqual([{ source: 'bacnet', message: expect.stringContaining("cannot scan '10.0.0.0/8'") }]);
  });
});
