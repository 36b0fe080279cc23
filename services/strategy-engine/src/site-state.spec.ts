import { SiteConfigSchema, type AssetReading, type SiteConfigInput } from '@voltimax/contracts';
import { buildSiteState, canCurtailPv, essentialAssetIds, TelemetryCache } from './site-state';
import { buildSite, reading, siteReadings, T0 } from './testing';

const MAX_AGE_MS = 15_000;

function build(readings: readonly AssetReading[], nowMs = T0, site: SiteConfigInput = buildSite()) {
  const cache = new TelemetryCache();
  for (const r of readings) cache.update(r);
  return buildSiteState({ site: SiteConfigSchema.parse(site), readings: cache, nowMs, maxTelemetryAgeMs: MAX_AGE_MS });
}

describe('buildSiteState: signs and the balance', () => {
  it.each([
    { name: 'import while charging from PV', gridW: 1_000, batteryW: -2_000, pvW: 4_000, evW: 0, loadW: 3_000 },
    { name: 'export with the battery idle', gridW: -3_000, batteryW: 0, pvW: 5_000, evW: 0, loadW: 2_000 },
    { name: 'battery discharging covers the load', gridW: 0, batteryW: 1_500, pvW: 0, evW: 0, loadW: 1_500 },
    { name: 'EV charging is not building load', gridW: 5_000, batteryW: 0, pvW: 4_000, evW: 7_000, loadW: 2_000 },
  ])('$name: load = grid + pv + battery − ev = $loadW W', ({ gridW, batteryW, pvW, evW, loadW }) => {
    const { state } = build(siteReadings(T0, { gridW, batteryW, pvW, evW }));
    expect(state).toMatchObject({ gridPowerW: gridW, pvPowerW: pvW, loadPowerW: loadW, loadSource: 'derived' });
    expect(state.batteries[0]).toMatchObject({ assetId: 'bat-1', powerW: batteryW, socPct: 50, quality: 'good', ageMs: 0 });
    expect(state.evChargers[0]?.powerW).toBe(evW);
    // DESIGN balance: grid = load + ev − pv − battery.
    expect(state.loadPowerW + evW - state.pvPowerW - batteryW).toBe(state.gridPowerW);
  });

  it('takes a load meter as measured load', () => {
    const site = buildSite();
    const withMeter = {
      ...site,
      assets: [...(site.assets ?? []), { id: 'load-1', name: 'House', kind: 'meter' as const, measures: 'load' as const, profile: 'eastron.sdm630', connection: { protocol: 'simulated' as const } }],
    };
    const { state } = build([...siteReadings(T0, { gridW: 800 }), reading('load-1', 'meter', T0, { powerW: 1_234 })], T0, withMeter);
    expect(state).toMatchObject({ loadPowerW: 1_234, loadSource: 'measured' });
  });

  it('clamps PV to ≥ 0 (an inverter draws a little at night)', () => {
    const { state } = build(siteReadings(T0, { pvW: -12 }));
    expect(state.pvPowerW).toBe(0);
  });

  it('copies the grid limits, tariff and time zone from the site', () => {
    const { state } = build(siteReadings(T0));
    expect(state.limits).toEqual({ maxImportW: 17_000, maxExportW: 10_000, phases: 3, nominalVoltageV: 230 });
    expect(state.timezone).toBe('Europe/Paris');
    expect(state.tariff?.fixedEurPerMwh).toBe(250);
    expect(state.frequencyHz).toBe(50);
  });
});

describe('buildSiteState: curtailable PV (the feed-in limit)', () => {
  it('lists a PV inverter whose profile executes pv-limit, with its rating, and not one whose profile cannot', () => {
    expect(build(siteReadings(T0, { pvW: 3_000 })).state.pvInverters).toEqual([
      { assetId: 'pv-1', powerW: 3_000, ratedPowerW: 6_000, quality: 'good', ageMs: 0 },
    ]);
    const site = buildSite();
    const unknown = { ...site, assets: site.assets.map((a) => (a.id === 'pv-1' ? { ...a, profile: 'acme.plugin-pv' } : a)) };
    expect(build(siteReadings(T0, { pvW: 3_000 }), T0, unknown).state.pvInverters).toBeUndefined();
    // A plugin drives it, even under a registry profile: not curtailed (the plugin's abilities are not known here).
    const plugin = {
      ...site,
      drivers: [{ name: 'acme-pv', module: '@acme/voltimax-pv' }],
      assets: site.assets.map((a) =>
        a.id === 'pv-1' ? { ...a, connection: { protocol: 'plugin' as const, driver: 'acme-pv' } } : a,
      ),
    };
    expect(build(siteReadings(T0, { pvW: 3_000 }), T0, plugin).state.pvInverters).toBeUndefined();
  });

  it('knows which profiles can curtail: register controls, HTTP/MQTT writes; not SunSpec (the poller refuses its writes)', () => {
    expect(canCurtailPv('growatt.pv-tl-x')).toBe(true);
    expect(canCurtailPv('sunspec.generic')).toBe(false);
    expect(canCurtailPv('eastron.sdm630')).toBe(false);
    expect(canCurtailPv('acme.unknown')).toBe(false);
  });
});

describe('buildSiteState: batteries and chargers', () => {
  it('tightens the configured battery limits by what the BMS reports, never loosens them', () => {
    const readings = siteReadings(T0).map((r) =>
      r.assetId === 'bat-1' ? { ...r, values: { ...r.values, maxChargePowerW: 3_000, maxDischargePowerW: 9_000 } } : r,
    );
    const battery = build(readings).state.batteries[0];
    expect(battery).toMatchObject({ maxChargePowerW: 3_000, maxDischargePowerW: 5_000, minSocPct: 10, maxSocPct: 95, capacityWh: 10_000 });
  });

  it('marks a battery reading without SoC as an error with SoC NaN (the strategies hold it)', () => {
    const readings = siteReadings(T0).map((r) => (r.assetId === 'bat-1' ? { ...r, values: { powerW: 0 } } : r));
    const battery = build(readings).state.batteries[0];
    expect(battery?.quality).toBe('error');
    expect(battery?.socPct).toBeNaN();
  });

  it.each([
    { chargerState: 'charging' as const, connected: true },
    { chargerState: 'suspended' as const, connected: true },
    { chargerState: 'available' as const, connected: false },
    { chargerState: 'faulted' as const, connected: false },
  ])('a charger in state $chargerState is connected: $connected', ({ chargerState, connected }) => {
    const readings = siteReadings(T0).map((r) => (r.assetId === 'ev-1' ? { ...r, chargerState } : r));
    expect(build(readings).state.evChargers[0]).toMatchObject({ connected, minCurrentA: 6, maxCurrentA: 16, phases: 3 });
  });

  it('leaves disabled assets out', () => {
    const site = buildSite();
    const assets = (site.assets ?? []).map((a) => (a.id === 'ev-1' ? { ...a, enabled: false } : a));
    expect(build(siteReadings(T0), T0, { ...site, assets }).state.evChargers).toEqual([]);
  });

  it('reads a hybrid inverter: battery port as battery, its grid and PV flows when there is no grid meter', () => {
    const site = buildSite({
      assets: [
        {
          id: 'inv-1',
          name: 'Hybrid',
          kind: 'hybrid-inverter',
          profile: 'growatt.sph',
          connection: { protocol: 'simulated' },
          battery: { capacityWh: 5_000, maxChargePowerW: 2_500, maxDischargePowerW: 2_500 },
        },
      ],
    });
    const { state, gridSource } = build(
      [reading('inv-1', 'hybrid-inverter', T0, { powerW: -1_000, socPct: 40, gridPowerW: -500, pvPowerW: 3_000, loadPowerW: 1_500 })],
      T0,
      site,
    );
    expect(gridSource).toBe('inv-1');
    expect(state).toMatchObject({ gridPowerW: -500, gridQuality: 'good', pvPowerW: 3_000, loadPowerW: 1_500, loadSource: 'measured' });
    expect(state.batteries).toEqual([expect.objectContaining({ assetId: 'inv-1', powerW: -1_000, socPct: 40, reserveSocPct: 0 })]);
  });
});

describe('buildSiteState: staleness', () => {
  it('gives every reading its age at the tick', () => {
    const { state, stale } = build(siteReadings(T0), T0 + 4_000);
    expect(state.gridAgeMs).toBe(4_000);
    expect(state.batteries[0]?.ageMs).toBe(4_000);
    expect(state.gridQuality).toBe('good');
    expect(stale).toEqual([]);
  });

  it('marks good readings older than MAX_TELEMETRY_AGE_MS as stale', () => {
    const { state, stale } = build(siteReadings(T0), T0 + MAX_AGE_MS + 1);
    expect(state.gridQuality).toBe('stale');
    expect(state.batteries[0]?.quality).toBe('stale');
    expect(stale).toEqual(['grid-1', 'bat-1', 'ev-1', 'pv-1']);
  });

  it('counts stale PV and EV values as 0 W instead of assuming the last value', () => {
    const readings = [
      ...siteReadings(T0 + 20_000, { gridW: 500 }).filter((r) => r.assetId === 'grid-1' || r.assetId === 'bat-1'),
      ...siteReadings(T0, { pvW: 3_000, evW: 7_000 }).filter((r) => r.assetId === 'pv-1' || r.assetId === 'ev-1'),
    ];
    const { state, stale } = build(readings, T0 + 20_000);
    expect(state.pvPowerW).toBe(0);
    expect(state.evChargers[0]).toMatchObject({ powerW: 0, connected: false, quality: 'stale' });
    expect(stale).toEqual(['ev-1', 'pv-1']);
  });

  it('passes the driver’s quality through', () => {
    const readings = siteReadings(T0).map((r): AssetReading => (r.assetId === 'grid-1' ? { ...r, quality: 'error', values: {}, error: 'timeout' } : r));
    expect(build(readings).state.gridQuality).toBe('error');
  });

  it('reports a missing grid reading as an error with an infinite age', () => {
    const { state, missing } = build(siteReadings(T0).filter((r) => r.assetId !== 'grid-1'));
    expect(state).toMatchObject({ gridPowerW: 0, gridQuality: 'error', gridAgeMs: Number.POSITIVE_INFINITY });
    expect(missing).toEqual(['grid-1']);
  });

  it('does not act on a reading from the far future (a wrong clock)', () => {
    const { state } = build(siteReadings(T0 + 60_000));
    expect(state.gridQuality).toBe('stale');
    expect(state.gridAgeMs).toBe(0);
  });
});

describe('TelemetryCache', () => {
  it('keeps the newest measurement when an older one arrives late', () => {
    const cache = new TelemetryCache();
    cache.update(reading('grid-1', 'grid-meter', T0 + 1_000, { powerW: 2 }));
    expect(cache.update(reading('grid-1', 'grid-meter', T0, { powerW: 1 }))).toBe(false);
    expect(cache.get('grid-1')?.values.powerW).toBe(2);
  });

  it('forgets assets the configuration no longer has', () => {
    const cache = new TelemetryCache();
    cache.update(reading('old-1', 'meter', T0, { powerW: 1 }));
    cache.retain(new Set(['grid-1']));
    expect(cache.has('old-1')).toBe(false);
  });
});

it('waits after a start for the grid meter and the batteries only', () => {
  expect(essentialAssetIds(SiteConfigSchema.parse(buildSite()))).toEqual(['grid-1', 'bat-1']);
});
