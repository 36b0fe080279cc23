import type { AssetReading } from '@voltimax/contracts';
import { assetsOfReadings, assetsOfSite, powerFlow, type FlowAsset } from './power-flow';
import { reading, testSite } from './testing/fixtures';

const NOW = 1_750_000_000_000;
const opts = { nowMs: NOW, minStaleMs: 10_000 };

function byId(...list: AssetReading[]): Map<string, AssetReading> {
  return new Map(list.map((r) => [r.assetId, r]));
}

function asset(id: string, kind: FlowAsset['kind'], extra: Partial<FlowAsset> = {}): FlowAsset {
  return { id, name: id, kind, hasBattery: kind === 'battery', isEnabled: true, ...extra };
}

describe('powerFlow', () => {
  it('derives the load from the balance grid = load + ev − pv − battery when nothing measures it', () => {
    const assets = [
      asset('g', 'grid-meter'),
      asset('pv', 'pv-inverter'),
      asset('b', 'battery'),
      asset('ev', 'ev-charger'),
    ];
    const flow = powerFlow(
      byId(
        reading('g', 'grid-meter', NOW, { powerW: -1_000 }),
        reading('pv', 'pv-inverter', NOW, { powerW: 4_000 }),
        reading('b', 'battery', NOW, { powerW: -1_500, socPct: 40 }),
        reading('ev', 'ev-charger', NOW, { powerW: 700 }),
      ),
      assets,
      opts,
    );

    expect(flow).toMatchObject({
      gridW: -1_000,
      pvW: 4_000,
      batteryW: -1_500,
      evW: 700,
      loadW: 800,
      loadSource: 'derived',
    });
    expect(flow.gridW).toBe((flow.loadW ?? 0) + (flow.evW ?? 0) - (flow.pvW ?? 0) - (flow.batteryW ?? 0));
  });

  it('never derives a negative load', () => {
    const flow = powerFlow(byId(reading('g', 'grid-meter', NOW, { powerW: -500 })), [asset('g', 'grid-meter')], opts);
    expect(flow).toMatchObject({ loadW: 0, loadSource: 'derived' });
  });

  it("takes the grid from a hybrid inverter's gridPowerW when the site has no grid meter", () => {
    const flow = powerFlow(
      byId(reading('h', 'hybrid-inverter', NOW, { gridPowerW: 321, pvPowerW: 1_000, loadPowerW: 1_321, powerW: 0 })),
      [asset('h', 'hybrid-inverter')],
      opts,
    );
    expect(flow).toMatchObject({ gridW: 321, pvW: 1_000, loadW: 1_321, loadSource: 'measured', batteryW: null });
  });

  it('counts a hybrid inverter as a battery only when it has one, and weights SoC by capacity', () => {
    const assets = [
      asset('b', 'battery', { capacityWh: 30_000 }),
      asset('h', 'hybrid-inverter', { hasBattery: true, capacityWh: 10_000 }),
    ];
    const flow = powerFlow(
      byId(
        reading('b', 'battery', NOW, { powerW: 1_000, socPct: 80 }),
        reading('h', 'hybrid-inverter', NOW, { powerW: 500, socPct: 40 }),
      ),
      assets,
      opts,
    );
    expect(flow.batteryW).toBe(1_500);
    expect(flow.socPct).toBe(70);
    expect(flow.batteries.map((b) => b.assetId)).toEqual(['b', 'h']);
  });

  it('uses meters by what they measure, and a load meter over the derived load', () => {
    const assets = [
      asset('g', 'grid-meter'),
      asset('m-pv', 'meter', { measures: 'pv' }),
      asset('m-ev', 'meter', { measures: 'ev' }),
      asset('m-load', 'meter', { measures: 'load' }),
      asset('m-other', 'meter', { measures: 'other' }),
    ];
    const flow = powerFlow(
      byId(
        reading('g', 'grid-meter', NOW, { powerW: 100 }),
        reading('m-pv', 'meter', NOW, { powerW: 2_000 }),
        reading('m-ev', 'meter', NOW, { powerW: 1_100 }),
        reading('m-load', 'meter', NOW, { powerW: 1_000 }),
        reading('m-other', 'meter', NOW, { powerW: 9_999 }),
      ),
      assets,
      opts,
    );
    expect(flow).toMatchObject({ pvW: 2_000, evW: 1_100, loadW: 1_000, loadSource: 'measured' });
    expect(flow.sources.load).toEqual([{ assetId: 'm-load', atMs: NOW }]);
  });

  it.each([
    ['quality error', reading('g', 'grid-meter', NOW, { powerW: 1 }, { quality: 'error' })],
    ['quality stale', reading('g', 'grid-meter', NOW, { powerW: 1 }, { quality: 'stale' })],
    ['older than the limit', reading('g', 'grid-meter', NOW - 10_001, { powerW: 1 })],
    ['from too far in the future', reading('g', 'grid-meter', NOW + 10_001, { powerW: 1 })],
  ])('leaves out a reading with %s', (_name, r) => {
    expect(powerFlow(byId(r), [asset('g', 'grid-meter')], opts)).toMatchObject({
      gridW: null,
      loadW: null,
      loadSource: null,
    });
  });

  it('keeps a reading fresh for three poll intervals of a slowly polled asset', () => {
    const slow = asset('g', 'grid-meter', { pollIntervalMs: 5_000 });
    expect(powerFlow(byId(reading('g', 'grid-meter', NOW - 14_000, { powerW: 7 })), [slow], opts).gridW).toBe(7);
  });

  it('ignores disabled assets', () => {
    const flow = powerFlow(
      byId(reading('g', 'grid-meter', NOW, { powerW: 5 })),
      [asset('g', 'grid-meter', { isEnabled: false })],
      opts,
    );
    expect(flow.gridW).toBeNull();
  });
});

describe('assets', () => {
  it('come from the site configuration with names, capacities and meter roles', () => {
    const assets = assetsOfSite(testSite());
    expect(assets.map((a) => [a.id, a.kind, a.hasBattery])).toEqual([
      ['grid-1', 'grid-meter', false],
      ['bat-1', 'battery', true],
      ['inv-1', 'hybrid-inverter', false],
      ['ev-1', 'ev-charger', false],
    ]);
    expect(assets[1]).toMatchObject({ name: 'Battery', capacityWh: 10_000, pollIntervalMs: 1_000 });
  });

  it('come from the readings without a configuration (a hybrid reporting SoC has a battery)', () => {
    const assets = assetsOfReadings(
      byId(reading('h', 'hybrid-inverter', NOW, { socPct: 50 }), reading('a', 'grid-meter', NOW, {})),
    );
    expect(assets.map((a) => [a.id, a.hasBattery])).toEqual([
      ['a', false],
      ['h', true],
    ]);
  });
});
