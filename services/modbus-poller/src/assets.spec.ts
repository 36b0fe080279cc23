import { driverFor, fnv1a, planAssets, shardOf } from './assets';
import { siteWith, tcpAsset, type AssetInput } from './testing/site';

const rtuTcp = (id: string, unitId: number): AssetInput => ({
  id,
  name: id,
  kind: 'meter',
  profile: 'eastron.sdm630',
  connection: { protocol: 'modbus-rtu-tcp', host: '192.0.2.11', port: 8899, unitId },
});

describe('planAssets: which assets this instance drives', () => {
  const many = Array.from({ length: 40 }, (_, i) =>
    tcpAsset(`meter-${i}`, 'meter', 'eastron.sdm630', 502, { unitId: 1 + i }),
  );

  it.each([1, 2, 3, 5])('splits the Modbus assets over %i shards: disjoint and complete', (count) => {
    const site = siteWith(many);
    const shards = Array.from({ length: count }, (_, index) =>
      planAssets(site, { index, count }).owned.map((a) => a.id),
    );
    expect(shards.flat().sort()).toEqual(many.map((a) => a.id).sort());
    expect(new Set(shards.flat()).size).toBe(many.length);
    if (count > 1) expect(shards.every((ids) => ids.length > 0)).toBe(true);
  });

  it('assigns by a stable hash of the asset id (32-bit FNV-1a), independent of the site order', () => {
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(fnv1a('foobar')).toBe(0xbf9cf968);
    const forward = planAssets(siteWith(many), { index: 1, count: 3 }).owned.map((a) => a.id);
    const backward = planAssets(siteWith([...many].reverse()), { index: 1, count: 3 }).owned.map((a) => a.id);
    expect([...backward].sort()).toEqual([...forward].sort());
    expect(forward.every((id) => shardOf(id, 3) === 1)).toBe(true);
  });

  it('keeps every unit of one RS-485 line (serial gateway or port) on one instance', () => {
    const site = siteWith([rtuTcp('m-1', 1), rtuTcp('m-2', 2), rtuTcp('m-3', 3)]);
    for (const count of [2, 3, 4]) {
      const owners = Array.from({ length: count }, (_, index) => planAssets(site, { index, count }).owned.length);
      expect(owners.filter((n) => n > 0)).toEqual([3]);
    }
  });

  it('leaves HTTP, OCPP, simulated and disabled assets to others', () => {
    const site = siteWith([
      tcpAsset('grid-1', 'grid-meter', 'eastron.sdm630', 502),
      { ...tcpAsset('grid-2', 'grid-meter', 'eastron.sdm630', 502), enabled: false },
      {
        id: 'ev-9',
        name: 'ev',
        kind: 'ev-charger',
        profile: 'peblar.home',
        connection: { protocol: 'http', baseUrl: 'http://192.0.2.20' },
        evCharger: { maxCurrentA: 16 },
      },
      { id: 'sim-1', name: 'sim', kind: 'load', profile: 'sim.load', connection: { protocol: 'simulated' } },
    ]);
    const plan = planAssets(site, { index: 0, count: 1 });
    expect(plan.owned.map((a) => a.id)).toEqual(['grid-1']);
    expect(plan.notModbus).toEqual(['grid-2', 'ev-9', 'sim-1']);
    expect(plan.otherShards).toEqual([]);
  });

  it('refuses a second asset that describes the same endpoint differently (one endpoint is one connection)', () => {
    const plan = planAssets(
      siteWith([
        { ...rtuTcp('m-1', 1), connection: { protocol: 'modbus-tcp', host: '192.0.2.11', port: 8899, unitId: 1 } },
        rtuTcp('m-2', 2),
      ]),
      { index: 0, count: 1 },
    );
    expect(plan.owned.map((a) => a.driver)).toEqual([
      expect.objectContaining({ kind: 'modbus' }),
      { kind: 'unusable', reason: "connection settings of 192.0.2.11:8899 differ from asset 'm-1'" },
    ]);
  });

  it('leaves the RS-485 timing to the gateway behind Modbus TCP', () => {
    const plan = planAssets(siteWith([tcpAsset('grid-1', 'grid-meter', 'eastron.sdm630', 502)]), {
      index: 0,
      count: 1,
    });
    expect(plan.owned[0]?.endpoint).toEqual({ transport: 'tcp', host: '127.0.0.1', port: 502 });
  });

  it('gives every asset on one RS-485 line the largest inter-frame gap any of their profiles asks for', () => {
    const plan = planAssets(
      siteWith([
        rtuTcp('m-1', 1),
        { ...rtuTcp('ev-1', 2), kind: 'ev-charger', profile: 'peblar.home', evCharger: { maxCurrentA: 16 } },
      ]),
      {
        index: 0,
        count: 1,
      },
    );
    expect(plan.owned.map((a) => a.endpoint)).toEqual([
      { transport: 'rtu-over-tcp', host: '192.0.2.11', port: 8899, interFrameGapMs: 50 },
      { transport: 'rtu-over-tcp', host: '192.0.2.11', port: 8899, interFrameGapMs: 50 },
    ]);
  });
});

describe('driverFor', () => {
  it.each([
    { kind: 'grid-meter', profile: 'eastron.sdm630', expected: { kind: 'modbus' } },
    { kind: 'battery', profile: 'cnte.ess-cabinet', expected: { kind: 'modbus' } },
    { kind: 'grid-meter', profile: 'sunspec.generic', expected: { kind: 'sunspec', role: 'meter' } },
    { kind: 'hybrid-inverter', profile: 'sunspec.generic', expected: { kind: 'sunspec', role: 'hybrid-inverter' } },
    {
      kind: 'battery',
      profile: 'cnte.storage',
      expected: { kind: 'unusable', reason: "unknown profile 'cnte.storage'" },
    },
    {
      kind: 'battery',
      profile: 'eastron.sdm630',
      expected: { kind: 'unusable', reason: "profile 'eastron.sdm630' is a meter, the asset a battery" },
    },
    {
      kind: 'ev-charger',
      profile: 'sunspec.generic',
      expected: { kind: 'unusable', reason: "profile 'sunspec.generic' cannot serve a ev-charger" },
    },
    {
      kind: 'ev-charger',
      profile: 'autel.maxicharger-ac',
      expected: { kind: 'unusable', reason: "profile 'autel.maxicharger-ac' is OCPP only (ocpp-csms drives it)" },
    },
  ] as const)('$profile for a $kind → $expected.kind', ({ kind, profile, expected }) => {
    expect(driverFor({ kind, profile })).toMatchObject(expected);
  });
});
