// mDNS on the loopback interface: bonjour-service announces devices with IP_MULTICAST_IF = 127.0.0.1 and our browser
// queries the same way, so nothing leaves the machine. lo has no MULTICAST flag here, yet Linux loops the
// 224.0.0.251 datagrams back to members on 127.0.0.1 (checked in this sandbox); a private port keeps this test
// apart from any real mDNS responder on 5353.
import { networkInterfaces } from 'node:os';
import { Bonjour } from 'bonjour-service';
import { freePort } from '@voltimax/testing';
import { browseMdns } from './browse';
import { HOMEWIZARD_P1_PROFILE_ID } from './services';

const localIPv4 = new Set(
  Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((i) => i.family === 'IPv4')
    .map((i) => i.address),
);

let port: number;
let advertiser: Bonjour;

beforeAll(async () => {
  port = await freePort();
  const socket = { interface: '127.0.0.1', port, bind: '0.0.0.0' };
  advertiser = new Bonjour(socket as object, (err: unknown) => {
    throw err;
  });
  const common = { disableIPv6: true, probe: false } as const;
  advertiser.publish({
    ...common,
    name: 'p1meter-0ABCDE',
    type: 'hwenergy',
    port: 80,
    host: 'p1meter-0abcde.local',
    txt: {
      api_enabled: '1',
      path: '/api/v1',
      serial: '5c2faf0abcde',
      product_name: 'P1 meter',
      product_type: 'HWE-P1',
    },
  });
  // A Shelly Gen2 announces both _shelly._tcp and _http._tcp: one device after merging.
  for (const type of ['shelly', 'http']) {
    advertiser.publish({
      ...common,
      name: 'ShellyPro3EM-C8F09E123456',
      type,
      port: 80,
      host: 'shellypro3em-c8f09e123456.local',
      txt: { gen: '2', app: 'Pro3EM', ver: '1.3.3' },
    });
  }
  advertiser.publish({
    ...common,
    name: 'Home',
    type: 'home-assistant',
    port: 8123,
    host: 'ha.local',
    txt: { location_name: 'Home' },
  });
  advertiser.publish({ ...common, name: 'printer', type: 'http', port: 631, host: 'printer.local' });
});

afterAll(async () => {
  await new Promise<void>((resolve) => advertiser.unpublishAll(() => advertiser.destroy(() => resolve())));
});

describe('browseMdns on loopback', () => {
  it('finds the HomeWizard P1 meter and the Shelly, hints at Home Assistant, ignores the printer', async () => {
    const result = await browseMdns({
      durationMs: 2_500,
      requeryMs: 500,
      socket: { interface: '127.0.0.1', port, bind: '0.0.0.0' },
    });
    const p1 = result.candidates.find((c) => c.profileId === HOMEWIZARD_P1_PROFILE_ID);
    expect(p1).toMatchObject({
      kind: 'grid-meter',
      source: 'mdns',
      identity: { serial: '5c2faf0abcde', mac: '5c:2f:af:0a:bc:de', manufacturer: 'HomeWizard' },
    });
    expect(localIPv4.has(p1?.identity.host ?? '')).toBe(true);
    expect(p1?.connection).toEqual({ protocol: 'http', baseUrl: `http://${p1?.identity.host}` });
    const shellies = result.candidates.filter((c) => c.identity.manufacturer === 'Shelly');
    expect(shellies).toHaveLength(1);
    expect(shellies[0]).toMatchObject({ kind: 'meter', identity: { mac: 'c8:f0:9e:12:34:56', model: 'Pro3EM' } });
    expect(shellies[0]?.evidence.join('\n')).toMatch(/_shelly\._tcp[\s\S]*_http\._tcp|_http\._tcp[\s\S]*_shelly\._tcp/);
    expect(result.hints).toEqual([expect.objectContaining({ kind: 'home-assistant', name: 'Home', port: 8123 })]);
    expect(result.ignored).toContainEqual({
      service: '_http._tcp printer',
      reason: expect.stringMatching(/not a Shelly/),
    });
  });
});
