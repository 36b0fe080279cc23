// Test fixtures: a small simulated site (battery, hybrid PV inverter, grid meter, EV charger) as assets.json.
import type { SiteConfigInput } from '@voltimax/contracts';

/** A valid site with a CNTE battery (5 kW / 10.24 kWh), a Growatt hybrid (6 kW PV), an SDM630 and an EV charger. */
export function simSite(overrides: Partial<SiteConfigInput> = {}): SiteConfigInput {
  return {
    v: 1,
    gatewayId: 'gw-test',
    siteName: 'Simulator test site',
    timezone: 'Europe/Paris',
    grid: { maxImportW: 12_000, maxExportW: 6_000, phases: 3, nominalVoltageV: 230 },
    assets: [
      {
        id: 'bat-1',
        name: 'Battery',
        kind: 'battery',
        profile: 'cnte.storage',
        connection: { protocol: 'simulated' },
        battery: {
          capacityWh: 10_240,
          maxChargePowerW: 5_000,
          maxDischargePowerW: 5_000,
          minSocPct: 10,
          maxSocPct: 95,
        },
      },
      {
        id: 'inv-1',
        name: 'Hybrid inverter',
        kind: 'hybrid-inverter',
        profile: 'growatt.sph',
        connection: { protocol: 'simulated' },
        pv: { ratedPowerW: 6_000 },
      },
      {
        id: 'grid-1',
        name: 'Grid meter',
        kind: 'grid-meter',
        profile: 'eastron.sdm630',
        connection: { protocol: 'simulated' },
      },
      {
        id: 'ev-1',
        name: 'Wallbox',
        kind: 'ev-charger',
        profile: 'peblar.home',
        connection: { protocol: 'simulated' },
        evCharger: { minCurrentA: 6, maxCurrentA: 16, phases: 3 },
      },
    ],
    strategy: { active: ['self-consumption'] },
    tariff: { kind: 'fixed', fixedEurPerMwh: 250, feedIn: { rule: 'none' } },
    ...overrides,
  };
}

/** The same site without the battery asset: the hybrid inverter owns a 5 kWh / 2.5 kW battery instead. */
export function hybridBatterySite(): SiteConfigInput {
  const site = simSite();
  return {
    ...site,
    assets: (site.assets ?? [])
      .filter((a) => a.kind !== 'battery')
      .map((a) =>
        a.kind === 'hybrid-inverter'
          ? { ...a, battery: { capacityWh: 5_000, ratedPowerW: 2_500, maxChargePowerW: 2_500, maxDischargePowerW: 2_500 } }
          : a,
      ),
  };
}

/** The test site with a Growatt PV string inverter `pv-1` of `ratedW` beside the hybrid's 6 kW of PV. */
export function pvInverterSite(ratedW: number): SiteConfigInput {
  const site = simSite();
  return {
    ...site,
    assets: [
      ...(site.assets ?? []),
      {
        id: 'pv-1',
        name: 'Carport PV',
        kind: 'pv-inverter',
        profile: 'growatt.pv-tl-x',
        connection: { protocol: 'simulated' },
        pv: { ratedPowerW: ratedW },
      },
    ],
  };
}
