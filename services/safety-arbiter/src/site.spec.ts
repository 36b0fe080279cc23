import { SiteConfigSchema, type SiteConfigInput } from '@voltimax/contracts';
import { getBatteryEntry } from '@voltimax/devices';
import { planSite, tightestCatalogueLimits } from './site';
import { TEST_SITE, testSite } from './testing/site';

function siteWith(change: (site: SiteConfigInput) => void) {
  const site = structuredClone(TEST_SITE);
  change(site);
  return SiteConfigSchema.parse(site);
}

describe('planSite', () => {
  it('lists the controllable assets with what they accept, and the grid meter', () => {
    const plan = planSite(testSite());
    expect(plan.controllable.map((a) => [a.id, a.accepts])).toEqual([
      ['bat-1', ['battery-power']],
      ['ev-1', ['ev-current']],
      ['pv-1', ['pv-limit']],
    ]);
    expect(plan.gridMeter).toEqual({ assetId: 'grid-1', pollIntervalMs: 1_000, from: 'grid-meter' });
    expect([...plan.enabled.keys()]).toEqual(['bat-1', 'grid-1', 'ev-1', 'pv-1', 'load-1']);
    expect(plan.warnings).toEqual([]);
  });

  it('leaves disabled assets out entirely', () => {
    const plan = planSite(siteWith((s) => void Object.assign(s.assets[2] ?? {}, { enabled: false })));
    expect(plan.controllable.map((a) => a.id)).toEqual(['bat-1', 'pv-1']);
  });

  it('uses the one catalogue entry of the profile, tightened by the site', () => {
    const site = siteWith((s) => {
      const bat = s.assets[0];
      if (bat?.kind !== 'battery') throw new Error('fixture');
      bat.profile = 'growatt.ark';
      bat.battery.maxChargePowerW = 9_000;
    });
    // No entry lists growatt.ark: the site limits alone.
    expect(planSite(site).controllable[0]?.limits.battery?.maxChargePowerW).toBe(9_000);
    const chosen = planSite(site, new Map([['bat-1', 'growatt.ark-lv-10kwh']])).controllable[0];
    expect(chosen?.catalogueEntries).toEqual(['growatt.ark-lv-10kwh']);
    expect(chosen?.limits.battery).toMatchObject({
      maxChargePowerW: 5_120, // catalogue, tighter than the site's 9 000
      maxDischargePowerW: 5_000, // site, tighter than the catalogue's 5 120
      maxChargeCurrentA: 100,
      minSocPct: 10,
      chargeTemperatureC: [0, 45],
    });
  });

  it('enforces the tightest of all entries when the profile fits several, and says so', () => {
    const plan = planSite(
      siteWith((s) => {
        const bat = s.assets[0];
        if (bat?.kind !== 'battery') throw new Error('fixture');
        bat.profile = 'growatt.sph';
        bat.battery.maxDischargePowerW = 9_000;
      }),
    );
    expect(plan.controllable[0]?.catalogueEntries).toEqual(['growatt.ark-lv-10kwh', 'growatt.ark-hv-10kwh']);
    expect(plan.controllable[0]?.limits.battery).toMatchObject({
      maxDischargePowerW: 5_120,
      maxDischargeCurrentA: 12.5,
    });
    expect(plan.warnings[0]).toMatch(
      /bat-1: profile growatt\.sph fits several battery catalogue entries .*BATTERY_MODELS/,
    );
  });

  it('falls back to a hybrid inverter grid reading when there is no grid meter', () => {
    const plan = planSite(
      siteWith((s) => {
        s.assets = s.assets.filter((a) => a.kind !== 'grid-meter');
        s.assets.push({
          id: 'inv-1',
          name: 'Hybrid',
          kind: 'hybrid-inverter',
          profile: 'growatt.sph',
          connection: { protocol: 'simulated' },
          pollIntervalMs: 2_000,
          pv: { ratedPowerW: 4_000 },
        });
      }),
    );
    expect(plan.gridMeter).toEqual({ assetId: 'inv-1', pollIntervalMs: 2_000, from: 'hybrid-inverter' });
    expect(plan.controllable.find((a) => a.id === 'inv-1')?.accepts).toEqual(['pv-limit']);
  });

  it('warns about an asset it writes to, or the grid meter, polled too slowly for its staleness limit', () => {
    const slow = siteWith((s) => {
      for (const asset of s.assets) if (asset.id === 'ev-1' || asset.id === 'grid-1') asset.pollIntervalMs = 5_000;
    });
    expect(planSite(slow).warnings).toEqual([
      expect.stringMatching(/^ev-1 is polled every 5000 ms, .* stale after 5000 ms .* at most every 3333 ms/),
      expect.stringMatching(/^grid-1 is polled every 5000 ms/),
    ]);
    // With the arbiter's ceiling raised to fit, nothing to say.
    expect(planSite(slow, new Map(), { staleAfterPollIntervals: 1.5, maxTelemetryAgeMs: 7_500 }).warnings).toEqual([]);
  });
});

describe('tightestCatalogueLimits', () => {
  it('never widens any entry', () => {
    const lv = getBatteryEntry('growatt.ark-lv-10kwh');
    const hv = getBatteryEntry('growatt.ark-hv-10kwh');
    if (lv === undefined || hv === undefined) throw new Error('catalogue changed');
    expect(tightestCatalogueLimits([lv, hv])).toEqual({
      maxChargePowerW: 5_120,
      maxDischargePowerW: 5_120,
      maxChargeCurrentA: 12.5,
      maxDischargeCurrentA: 12.5,
      maxSocPct: 100,
      minSocPct: 5,
      chargeTemperatureC: [0, 45],
      dischargeTemperatureC: [-20, 55],
    });
    expect(tightestCatalogueLimits([])).toBeUndefined();
  });
});
