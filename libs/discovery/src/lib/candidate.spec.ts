import { DiscoveryFoundSchema } from '@voltimax/contracts';
import {
  candidateId,
  finishCandidate,
  mergeCandidates,
  normalizeMac,
  toDiscoveryFound,
  type CandidateDraft,
} from './candidate';

const draft = (over: Partial<CandidateDraft>): CandidateDraft => ({
  source: 'modbus',
  kind: 'meter',
  identity: { host: '10.0.0.5' },
  confidence: 0.5,
  evidence: [],
  label: 'device',
  ...over,
});

describe('normalizeMac', () => {
  it.each([
    ['C8F09E123456', 'c8:f0:9e:12:34:56'],
    ['c8:f0:9e:12:34:56', 'c8:f0:9e:12:34:56'],
    ['C8-F0-9E-12-34-56', 'c8:f0:9e:12:34:56'],
    ['5c2faf0abcde', '5c:2f:af:0a:bc:de'],
    ['12345', undefined],
    ['zz:f0:9e:12:34:56', undefined],
    [undefined, undefined],
  ])('%s → %s', (text, expected) => expect(normalizeMac(text)).toBe(expected));
});

describe('finishCandidate', () => {
  it('keys by serial, then MAC, then endpoint, with a stable short id', () => {
    const bySerial = finishCandidate(draft({ identity: { serial: 'SN-1', mac: 'aa:bb:cc:dd:ee:ff', host: 'h' } }));
    expect(bySerial.key).toBe('serial:sn-1');
    expect(bySerial.id).toBe(candidateId('serial:sn-1'));
    expect(bySerial.id).toMatch(/^d-[0-9a-f]{6}$/);
    expect(finishCandidate(draft({ identity: { mac: 'aa:bb:cc:dd:ee:ff' } })).key).toBe('mac:aa:bb:cc:dd:ee:ff');
    expect(
      finishCandidate(draft({ connection: { protocol: 'modbus-tcp', host: '10.0.0.5', port: 502, unitId: 3 } })).key,
    ).toBe('modbus:10.0.0.5:502:3');
  });

  it('clamps the confidence to 0..1 and trims evidence to what discovery.found carries', () => {
    const c = finishCandidate(
      draft({ confidence: 1.4, evidence: [...Array.from({ length: 60 }, (_, i) => `e${i}`), 'x'.repeat(400)] }),
    );
    expect(c.confidence).toBe(1);
    expect(c.evidence).toHaveLength(50);
  });
});

describe('mergeCandidates', () => {
  it('merges reports that share a serial: evidence of both, the highest confidence, every source', () => {
    const modbus = finishCandidate(
      draft({
        profileId: 'sunspec.generic',
        connection: { protocol: 'modbus-tcp', host: '10.0.0.5', port: 502, unitId: 1 },
        identity: { serial: 'ABC', host: '10.0.0.5', manufacturer: 'Fronius' },
        confidence: 0.85,
        evidence: ['SunS marker at 40000'],
        kind: 'pv-inverter',
      }),
    );
    const mdns = finishCandidate(
      draft({
        source: 'mdns',
        identity: { serial: 'abc', mac: '00:11:22:33:44:55' },
        confidence: 0.6,
        evidence: ['mDNS _http._tcp'],
      }),
    );
    const merged = mergeCandidates([mdns, modbus]);
    expect(merged).toHaveLength(1);
    expect(merged[0]).toMatchObject({
      kind: 'pv-inverter',
      profileId: 'sunspec.generic',
      confidence: 0.85,
      sources: ['mdns', 'modbus'],
      identity: { serial: 'ABC', mac: '00:11:22:33:44:55', manufacturer: 'Fronius' },
    });
    expect(merged[0]?.evidence).toEqual(['mDNS _http._tcp', 'SunS marker at 40000']);
  });

  it('merges by MAC and by the same mDNS host, keeps different Modbus units of one gateway apart', () => {
    const shellyA = finishCandidate(
      draft({ source: 'mdns', identity: { host: '10.0.0.7' }, evidence: ['_shelly._tcp'] }),
    );
    const shellyB = finishCandidate(
      draft({ source: 'mdns', identity: { host: '10.0.0.7' }, evidence: ['_http._tcp'] }),
    );
    const unit1 = finishCandidate(
      draft({ connection: { protocol: 'modbus-tcp', host: '10.0.0.9', port: 502, unitId: 1 } }),
    );
    const unit2 = finishCandidate(
      draft({ connection: { protocol: 'modbus-tcp', host: '10.0.0.9', port: 502, unitId: 2 } }),
    );
    const viaMac1 = finishCandidate(draft({ source: 'mqtt', identity: { mac: 'aa:aa:aa:aa:aa:aa', deviceId: 'x' } }));
    const viaMac2 = finishCandidate(
      draft({ source: 'mdns', identity: { mac: 'aa:aa:aa:aa:aa:aa', host: '10.0.0.8' } }),
    );
    const merged = mergeCandidates([shellyA, shellyB, unit1, unit2, viaMac1, viaMac2]);
    expect(merged).toHaveLength(4);
    expect(merged.find((c) => c.identity.host === '10.0.0.7')?.evidence).toEqual(['_shelly._tcp', '_http._tcp']);
    expect(merged.find((c) => c.identity.mac === 'aa:aa:aa:aa:aa:aa')?.sources).toEqual(['mqtt', 'mdns']);
  });

  it('joins two groups when a later report links them (serial in one, MAC in the other)', () => {
    const a = finishCandidate(
      draft({ identity: { serial: 'S1' }, connection: { protocol: 'modbus-tcp', host: 'a', port: 502, unitId: 1 } }),
    );
    const b = finishCandidate(draft({ source: 'mdns', identity: { mac: '01:02:03:04:05:06', host: 'b' } }));
    const link = finishCandidate(
      draft({ source: 'mqtt', identity: { serial: 'S1', mac: '01:02:03:04:05:06', deviceId: 'd' } }),
    );
    expect(mergeCandidates([a, b, link])).toHaveLength(1);
  });
});

describe('toDiscoveryFound', () => {
  it('builds a message the contract accepts, with connection, MAC, sensors and the request id', () => {
    const c = finishCandidate(
      draft({
        source: 'mqtt',
        connection: { protocol: 'mqtt', topicPrefix: 'shellies/em', brokerUrl: 'mqtt://10.0.0.2:1883' },
        identity: { mac: 'c8:f0:9e:12:34:56', manufacturer: 'Shelly', model: 'Pro 3EM', deviceId: 'em' },
        sensors: [
          { key: 'powerW', stateTopic: 'shellies/em/status', jsonPath: 'total_act_power', unit: 'W', scale: 1 },
        ],
        evidence: ['x'],
      }),
    );
    const found = toDiscoveryFound(c, 1_700_000_000_000, 'req-7');
    expect(DiscoveryFoundSchema.parse(found)).toEqual(found);
    expect(found).toMatchObject({
      method: 'mqtt',
      mac: 'c8:f0:9e:12:34:56',
      requestId: 'req-7',
      address: 'mqtt://10.0.0.2:1883 shellies/em',
    });
  });
});
