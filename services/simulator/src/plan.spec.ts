import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SiteConfigSchema, type SiteConfigInput } from '@voltimax/contracts';
import { resolvedSite, type ResolvedEndpoint } from './endpoints';
import { planSimulation } from './plan';
import { createSimulatedSite } from './site';
import { hybridBatterySite, pvInverterSite, simSite } from './testing/site';

const plan = (input: SiteConfigInput) => planSimulation(SiteConfigSchema.parse(input), { now: () => 0 });
const SIM_CONFIG = join(__dirname, '..', '..', '..', 'docker', 'config', 'assets.sim.json');

describe('simulation plan', () => {
  it('serves the battery as a CNTE cabinet, the hybrid as a Growatt SPH and the grid meter as an SDM630', () => {
    const p = plan(simSite());
    expect(p.served.map((s) => [s.assetId, s.servedProfile, s.unitId])).toEqual([
      ['bat-1', 'cnte.ess-cabinet', 1],
      ['inv-1', 'growatt.sph', 1],
      ['grid-1', 'eastron.sdm630', 1],
    ]);
    expect(p.notServed).toEqual([{ assetId: 'ev-1', reason: 'ev-charger has no simulated Modbus device' }]);
    expect(p.batteryAssetId).toBe('bat-1');
    expect(p.battery).toMatchObject({ capacityWh: 10_240, maxChargePowerW: 5_000, minSocPct: 10, maxSocPct: 95 });
    expect(p.pvRatedW).toBe(6_000);
  });

  it('lets the hybrid own the battery when the site has no battery asset', () => {
    const p = plan(hybridBatterySite());
    expect(p.batteryAssetId).toBe('inv-1');
    // Load first by default: the battery covers the net load.
    expect(p.batteryRequestW({ loadW: 1_200, pvW: 200, socPct: 50, minuteOfDay: 600 })).toBe(1_000);
  });

  it('simulates no battery when none is configured', () => {
    const site = simSite();
    const p = plan({ ...site, assets: (site.assets ?? []).filter((a) => a.kind !== 'battery') });
    expect(p.batteryAssetId).toBeUndefined();
    expect(p.battery).toMatchObject({ maxChargePowerW: 0, maxDischargePowerW: 0 });
  });

  it('serves load and EV sub-meters and leaves disabled assets alone', () => {
    const site = simSite();
    const p = plan({
      ...site,
      assets: [
        ...(site.assets ?? []),
        {
          id: 'load-1',
          name: 'House',
          kind: 'meter',
          measures: 'load',
          profile: 'eastron.sdm630',
          connection: { protocol: 'simulated' },
        },
        {
          id: 'pv-m',
          name: 'PV meter',
          kind: 'meter',
          measures: 'pv',
          profile: 'eastron.sdm630',
          connection: { protocol: 'simulated' },
        },
        {
          id: 'off',
          name: 'Old meter',
          kind: 'grid-meter',
          profile: 'eastron.sdm630',
          enabled: false,
          connection: { protocol: 'simulated' },
        },
      ],
    });
    expect(p.served.map((s) => s.assetId)).toContain('load-1');
    expect(p.notServed.map((s) => s.assetId)).toEqual(['ev-1', 'pv-m', 'off']);
  });

  const withPvInverter = (ratedW: number) => plan(pvInverterSite(ratedW));
  const servedDevice = (p: ReturnType<typeof plan>, assetId: string) => {
    const served = p.served.find((s) => s.assetId === assetId);
    if (served === undefined) throw new Error(`${assetId} is not served`);
    return served.device;
  };

  it('serves a PV inverter as a Growatt PV string inverter without storage registers', () => {
    const p = withPvInverter(4_000);
    expect(p.served.find((s) => s.assetId === 'pv-1')).toMatchObject({
      kind: 'pv-inverter',
      servedProfile: 'growatt.pv-tl-x',
    });
    expect(p.pvRatedW).toBe(10_000);
    expect(() => servedDevice(p, 'pv-1').read('input', 1000, 1)).toThrow(/not served/);
  });

  it('shares the sunshine by rating and caps each inverter at its power limit (holding 3)', () => {
    const p = withPvInverter(4_000);
    expect(p.pvOutput(5_000)).toEqual({ totalW: 5_000, byAssetW: { 'inv-1': 3_000, 'pv-1': 2_000 } }); // nobody limited
    servedDevice(p, 'pv-1').write(3, [25]); // 25 % of 4 kW = 1 kW
    expect(p.pvOutput(5_000)).toEqual({ totalW: 4_000, byAssetW: { 'inv-1': 3_000, 'pv-1': 1_000 } });
    // A limit caps the output, it does not scale it: 25 % of 4 kW is more than a cloudy 800 W share.
    expect(p.pvOutput(2_000)).toEqual({ totalW: 2_000, byAssetW: { 'inv-1': 1_200, 'pv-1': 800 } });
    servedDevice(p, 'pv-1').write(0, [0]); // switched off
    expect(p.pvOutput(5_000)).toEqual({ totalW: 3_000, byAssetW: { 'inv-1': 3_000, 'pv-1': 0 } });
  });

  /** The plan's devices in a running site: 500 W of load and 5 kW of sun, steps of `stepMs`. */
  const runningSite = (p: ReturnType<typeof plan>, stepMs: number) =>
    createSimulatedSite({
      model: { battery: p.battery },
      profile: { source: 'flat', at: () => ({ loadW: 500, pvW: 5_000 }) },
      frequencyAt: () => 50,
      startAtMs: Date.parse('2024-04-10T08:00:00Z'),
      initialSocPct: 50,
      stepMs,
      timezone: 'Europe/Paris',
      grid: { phases: 3, nominalVoltageV: 230 },
      batteryRequestW: p.batteryRequestW,
      pvOutput: p.pvOutput,
      devices: p.devices,
      now: () => 0,
    });
  /** A u32 of two registers (high word first) in the register's unit. */
  const u32 = (words: number[]) => (words[0] ?? 0) * 65_536 + (words[1] ?? 0);

  it("reports each inverter's own delivered PV in its registers (input 1, 0.1 W)", () => {
    const p = withPvInverter(4_000);
    servedDevice(p, 'pv-1').write(3, [25]);
    expect(runningSite(p, 1_000).step().flows.pvW).toBeCloseTo(4_000, 9);
    expect(u32(servedDevice(p, 'pv-1').read('input', 1, 2)) / 10).toBeCloseTo(1_000, 0);
    expect(u32(servedDevice(p, 'inv-1').read('input', 1, 2)) / 10).toBeCloseTo(3_000, 0);
  });

  it('counts the energy each inverter delivered: a later limit does not move what was counted (input 91, 0.1 kWh)', () => {
    const p = withPvInverter(4_000);
    const sim = runningSite(p, 3_600_000); // an hour a step
    const pvEnergyKwh = (assetId: string) => u32(servedDevice(p, assetId).read('input', 91, 2)) / 10;
    sim.step(); // unlimited: 3 kW + 2 kW for an hour
    expect([pvEnergyKwh('inv-1'), pvEnergyKwh('pv-1')]).toEqual([3, 2]);
    servedDevice(p, 'pv-1').write(3, [25]); // pv-1 at 1 kW from now on
    sim.step();
    expect([pvEnergyKwh('inv-1'), pvEnergyKwh('pv-1')]).toEqual([6, 3]);
    expect(sim.snapshot().pvInvertersWh['pv-1']).toEqual({ totalWh: 3_000, todayWh: 3_000 });
  });

  it('serves the simulated site npm start uses (docker/config/assets.sim.json)', () => {
    const p = plan(JSON.parse(readFileSync(SIM_CONFIG, 'utf8')) as SiteConfigInput);
    expect(p.served.map((s) => s.servedProfile).sort()).toEqual(['cnte.ess-cabinet', 'eastron.sdm630', 'growatt.sph']);
    expect(p.batteryAssetId).toBeDefined();
  });
});

describe('resolved site file (SIM_ASSETS_FILE)', () => {
  const endpoints: ResolvedEndpoint[] = [
    { assetId: 'bat-1', host: '127.0.0.1', port: 15020, unitId: 1, profile: 'cnte.ess-cabinet' },
    { assetId: 'grid-1', host: '127.0.0.1', port: 15022, unitId: 1, profile: 'eastron.sdm630' },
  ];

  it('points each served asset at its Modbus TCP endpoint and served profile, keeping everything else', () => {
    const raw = simSite() as unknown as Record<string, unknown>;
    const resolved = SiteConfigSchema.parse(resolvedSite(raw, endpoints));
    const byId = new Map(resolved.assets.map((a) => [a.id, a]));
    expect(byId.get('bat-1')).toMatchObject({
      profile: 'cnte.ess-cabinet',
      connection: { protocol: 'modbus-tcp', host: '127.0.0.1', port: 15020, unitId: 1 },
      battery: { capacityWh: 10_240 },
    });
    expect(byId.get('grid-1')?.connection).toEqual({
      protocol: 'modbus-tcp',
      host: '127.0.0.1',
      port: 15022,
      unitId: 1,
    });
    expect(byId.get('ev-1')?.connection).toEqual({ protocol: 'simulated' });
    expect(resolved.siteName).toBe('Simulator test site');
  });

  it('refuses to produce an invalid site', () => {
    expect(() =>
      resolvedSite(simSite() as unknown as Record<string, unknown>, [{ ...endpoints[0]!, port: 0 }]),
    ).toThrow(/resolved site is invalid/);
  });
});
