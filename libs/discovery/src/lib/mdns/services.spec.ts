import { HOMEWIZARD_P1_PROFILE_ID, mapMdnsService, pickAddress, type MdnsServiceRecord } from './services';

const record = (over: Partial<MdnsServiceRecord>): MdnsServiceRecord => ({
  name: 'device',
  type: 'http',
  protocol: 'tcp',
  host: 'device.local',
  port: 80,
  addresses: ['192.168.1.20'],
  txt: {},
  refererAddress: '192.168.1.20',
  ...over,
});

describe('mapMdnsService', () => {
  it('maps a HomeWizard P1 meter (local API v1 enabled) to a grid meter with the HTTP P1 profile', () => {
    const outcome = mapMdnsService(
      record({
        name: 'p1meter-0ABCDE',
        type: 'hwenergy',
        txt: {
          api_enabled: '1',
          path: '/api/v1',
          serial: '5c2faf0abcde',
          product_name: 'P1 meter',
          product_type: 'HWE-P1',
        },
      }),
    );
    expect(outcome).toMatchObject({
      kind: 'candidate',
      draft: {
        source: 'mdns',
        kind: 'grid-meter',
        profileId: HOMEWIZARD_P1_PROFILE_ID,
        connection: { protocol: 'http', baseUrl: 'http://192.168.1.20' },
        identity: {
          manufacturer: 'HomeWizard',
          model: 'HWE-P1',
          serial: '5c2faf0abcde',
          mac: '5c:2f:af:0a:bc:de',
          host: '192.168.1.20',
        },
        confidence: 0.9,
      },
    });
  });

  it('lowers the confidence and says why when the local API is disabled', () => {
    const outcome = mapMdnsService(
      record({ type: 'hwenergy', txt: { api_enabled: '0', product_type: 'HWE-P1', serial: '5c2faf0abcde' } }),
    );
    expect(outcome.kind === 'candidate' && outcome.draft.confidence).toBeCloseTo(0.6);
    expect(outcome.kind === 'candidate' && outcome.draft.evidence.join(' ')).toMatch(/local API disabled/);
  });

  it('maps API v2 announcements to HTTPS, and ignores the water meter', () => {
    expect(
      mapMdnsService(record({ type: 'homewizard', txt: { product_type: 'HWE-KWH3', serial: 'aabbccddeeff' } })),
    ).toMatchObject({
      kind: 'candidate',
      draft: { kind: 'meter', connection: { baseUrl: 'https://192.168.1.20' } },
    });
    expect(mapMdnsService(record({ type: 'hwenergy', txt: { product_type: 'HWE-WTR' } }))).toEqual({
      kind: 'ignored',
      reason: 'HomeWizard HWE-WTR measures no electricity',
    });
  });

  it('maps a Shelly Gen2 energy meter from _shelly._tcp with its MAC from the instance name', () => {
    const outcome = mapMdnsService(
      record({ name: 'ShellyPro3EM-C8F09E123456', type: 'shelly', txt: { gen: '2', app: 'Pro3EM', ver: '1.3.3' } }),
    );
    expect(outcome).toMatchObject({
      kind: 'candidate',
      draft: {
        kind: 'meter',
        profileId: 'shelly.pro-3em',
        connection: { protocol: 'mqtt', topicPrefix: 'shellypro3em-c8f09e123456' },
        identity: { manufacturer: 'Shelly', model: 'Pro3EM', mac: 'c8:f0:9e:12:34:56' },
      },
    });
  });

  it('takes Shellies from _http._tcp (Gen1 by name, Gen2 by TXT) and ignores other web servers and unmetered Shellies', () => {
    const gen1 = mapMdnsService(record({ name: 'shellyem-A4CF12F45678' }));
    expect(gen1).toMatchObject({
      kind: 'candidate',
      draft: { identity: { model: 'shellyem', mac: 'a4:cf:12:f4:56:78' }, connection: { protocol: 'http' } },
    });
    expect(gen1.kind === 'candidate' && gen1.draft.profileId).toBeUndefined();
    expect(mapMdnsService(record({ name: 'printer' })).kind).toBe('ignored');
    expect(
      mapMdnsService(record({ name: 'ShellyPlusI4-A1B2C3D4E5F6', type: 'shelly', txt: { gen: '2', app: 'PlusI4' } })),
    ).toEqual({
      kind: 'ignored',
      reason: 'Shelly PlusI4 meters no power',
    });
  });

  it('reports Home Assistant and Modbus gateways as hints, not assets', () => {
    expect(
      mapMdnsService(
        record({
          type: 'home-assistant',
          port: 8123,
          txt: { location_name: 'Home', internal_url: 'http://192.168.1.5:8123' },
        }),
      ),
    ).toMatchObject({
      kind: 'hint',
      hint: {
        kind: 'home-assistant',
        name: 'Home',
        detail: expect.stringContaining('--mqtt mqtt://192.168.1.20:1883'),
      },
    });
    expect(mapMdnsService(record({ type: 'modbus', port: 502 }))).toMatchObject({
      kind: 'hint',
      hint: { kind: 'modbus-gateway', detail: expect.stringContaining('--modbus 192.168.1.20/32 --ports 502') },
    });
  });
});

describe('pickAddress', () => {
  it('prefers the A record that also sent the answer, then any IPv4, then the sender', () => {
    expect(pickAddress(record({ addresses: ['fe80::1', '10.0.0.2', '192.168.1.20'] }))).toBe('192.168.1.20');
    expect(pickAddress(record({ addresses: ['fe80::1', '10.0.0.2'], refererAddress: '10.9.9.9' }))).toBe('10.0.0.2');
    expect(pickAddress(record({ addresses: [], refererAddress: '10.9.9.9' }))).toBe('10.9.9.9');
  });
});
