import { createMemoryNetwork } from '@voltimax/bus/testing';
import { ConnectionSchema, DiscoveryFoundSchema, subjects } from '@voltimax/contracts';
import { bacnetCandidate, guessBacnetKind } from './bacnet-candidates';
import { publishCandidates } from './bus';
import { mergeCandidates, toDiscoveryFound } from './candidate';

const iAm = {
  deviceInstance: 1201,
  device: { address: '192.168.1.20:47808' },
  maxApdu: 1476,
  segmentation: 3,
  vendorId: 5,
};
const identity = {
  deviceInstance: 1201,
  objectName: 'BESS-1',
  vendorName: 'Acme Storage',
  modelName: 'ESS 50',
  objectCount: 14,
  missing: [],
};

describe('bacnetCandidate', () => {
  it('proposes a plugin connection with address and instance, the drivers entry, and no profile', () => {
    const c = bacnetCandidate(iAm, identity);
    expect(c).toMatchObject({
      source: 'bacnet',
      kind: 'battery',
      connection: {
        protocol: 'plugin',
        driver: 'bacnet',
        options: { address: '192.168.1.20:47808', deviceInstance: 1201 },
      },
      drivers: [{ name: 'bacnet', module: '@voltimax/driver-bacnet' }],
      identity: { manufacturer: 'Acme Storage', model: 'ESS 50', host: '192.168.1.20', deviceId: 'device-1201' },
      confidence: 0.5,
      key: 'bacnet:device-1201',
      label: 'BESS-1 (Acme Storage ESS 50), BACnet device 1201 at 192.168.1.20:47808',
    });
    expect(c.profileId).toBeUndefined();
    expect(ConnectionSchema.safeParse(c.connection).success).toBe(true);
    expect(c.evidence).toEqual(
      expect.arrayContaining([
        'I-Am from 192.168.1.20:47808: device 1201, vendor id 5, max APDU 1476, segmentation none',
        "device object: name 'BESS-1', vendor 'Acme Storage', model 'ESS 50', 14 objects",
      ]),
    );
  });

  it('keeps the network and MAC of a routed device', () => {
    const c = bacnetCandidate({ ...iAm, device: { address: '10.0.0.9:47808', net: 7, adr: [0x0a] } }, identity);
    expect(c.connection).toMatchObject({ options: { network: { number: 7, mac: '0a' } } });
    expect(c.evidence).toContain('behind a BACnet router: network 7, MAC 0a');
  });

  it('still reports a device whose object could not be read, less sure', () => {
    const c = bacnetCandidate(iAm, undefined, 'no answer within 1000 ms');
    expect(c).toMatchObject({
      kind: 'load',
      confidence: 0.3,
      label: 'device 1201, BACnet device 1201 at 192.168.1.20:47808',
    });
    expect(c.evidence).toContain('device object not readable: no answer within 1000 ms');
  });

  it('one device heard twice (directly and through a BBMD) is one candidate', () => {
    const twice = mergeCandidates([
      bacnetCandidate(iAm, identity),
      bacnetCandidate({ ...iAm, device: { address: '10.9.9.9:47808' } }, identity),
    ]);
    expect(twice).toHaveLength(1);
  });
});

describe('guessBacnetKind', () => {
  it.each([
    [{ objectName: 'BESS-1' }, 'battery', true],
    [{ modelName: 'Energy Storage System' }, 'battery', true],
    [{ objectName: 'Wallbox garage' }, 'ev-charger', true],
    [{ modelName: 'Solar inverter 10k' }, 'pv-inverter', true],
    [{ modelName: 'PM5560 power meter' }, 'meter', true],
    [{ objectName: 'AHU-1', vendorName: 'Distech Controls' }, 'load', false],
    [{ objectName: 'Process controller' }, 'load', false],
  ])('%j → %s', (names, kind, guessed) => {
    expect(guessBacnetKind(names)).toEqual({ kind, guessed });
  });
});

describe('discovery.found and BACnet candidates', () => {
  it('publishes a BACnet candidate with its plugin connection and the driver the site must list', () => {
    const bus = createMemoryNetwork().connect();
    const sent = publishCandidates(bus, [bacnetCandidate(iAm, identity)], 1_700_000_000_000);
    expect(sent).toBe(1);
    const messages = bus.published(subjects.discoveryFound);
    expect(messages).toHaveLength(1);
    const found = DiscoveryFoundSchema.parse(messages[0]?.payload);
    expect(found).toMatchObject({ method: 'bacnet', connection: { protocol: 'plugin', driver: 'bacnet' } });
    expect(found.drivers).toEqual([{ name: 'bacnet', module: '@voltimax/driver-bacnet' }]);
    expect(toDiscoveryFound(bacnetCandidate(iAm, identity), 1).method).toBe('bacnet');
  });
});
