import type { SiteConfig } from '@voltimax/contracts';
import { profileReadKeys, siteProfileProblems } from './site-profiles';
import { getProfile } from './registry';

type Asset = SiteConfig['assets'][number];
const tcp = { protocol: 'modbus-tcp', host: '127.0.0.1', port: 502, unitId: 1 } as const;
const asset = (patch: Partial<Asset> & Pick<Asset, 'kind' | 'profile'>): Asset =>
  ({ id: 'a-1', name: 'a', connection: tcp, pollIntervalMs: 1000, enabled: true, ...patch }) as Asset;

describe('siteProfileProblems', () => {
  it('accepts assets whose profile exists, serves the kind and speaks the protocol', () => {
    expect(siteProfileProblems({ assets: [asset({ kind: 'grid-meter', profile: 'eastron.sdm630' })] })).toEqual([]);
  });

  it('names an unknown profile and lists the known ones', () => {
    const [problem] = siteProfileProblems({ assets: [asset({ kind: 'grid-meter', profile: 'acme.pm3' })] });
    expect(problem?.path).toBe('$.assets[0].profile');
    expect(problem?.message).toMatch(/unknown profile 'acme\.pm3' \(known: .*eastron\.sdm630/);
  });

  it('refuses a meter profile for an EV charger', () => {
    const problems = siteProfileProblems({ assets: [asset({ kind: 'ev-charger', profile: 'eastron.sdm630' } as Partial<Asset> & Pick<Asset, 'kind' | 'profile'>)] });
    expect(problems.map((p) => p.message)).toContain("profile 'eastron.sdm630' is a meter profile and cannot serve a ev-charger");
  });

  it('refuses an OCPP-only charger on a Modbus connection', () => {
    const problems = siteProfileProblems({ assets: [asset({ kind: 'ev-charger', profile: 'autel.maxicharger-ac' } as Partial<Asset> & Pick<Asset, 'kind' | 'profile'>)] });
    expect(problems).toContainEqual({ path: '$.assets[0].connection.protocol', message: "profile 'autel.maxicharger-ac' speaks ocpp, not modbus-tcp" });
  });

  describe('a phase-current limit (grid.maxPhaseCurrentA) needs phase values in the grid reading', () => {
    const grid = { maxImportW: 12_000, maxExportW: 6_000, phases: 3 as const, nominalVoltageV: 230, maxPhaseCurrentA: 25 };
    const meter = (profile: string, patch: Partial<Asset> = {}) =>
      asset({ id: 'grid-1', kind: 'grid-meter', profile, ...patch } as Partial<Asset> & Pick<Asset, 'kind' | 'profile'>);
    const hybrid = asset({ id: 'inv-1', kind: 'hybrid-inverter', profile: 'growatt.sph', pv: { ratedPowerW: 6_000 } } as Partial<Asset> & Pick<Asset, 'kind' | 'profile'>);

    const mqtt = { connection: { protocol: 'mqtt', topicPrefix: 'tele/meter' } } as Partial<Asset>;

    it('accepts a meter with every phase (Modbus, HTTP, MQTT)', () => {
      expect(siteProfileProblems({ assets: [meter('eastron.sdm630'), hybrid], grid })).toEqual([]);
      const http = { connection: { protocol: 'http', baseUrl: 'http://127.0.0.1' } } as Partial<Asset>;
      expect(siteProfileProblems({ assets: [meter('homewizard.p1', http)], grid })).toEqual([]);
      expect(siteProfileProblems({ assets: [meter('shelly.pro-3em', mqtt)], grid })).toEqual([]);
    });

    it('refuses a meter without values on some phases, naming them (a single-phase meter on a three-phase site)', () => {
      expect([...(profileReadKeys(getProfile('tasmota.energy')!) ?? [])].filter((k) => /L[23]/.test(k))).toEqual([]);
      expect(siteProfileProblems({ assets: [meter('tasmota.energy', mqtt)], grid })).toEqual([
        {
          path: '$.grid.maxPhaseCurrentA',
          message: "25 A cannot be enforced: grid meter 'grid-1' (profile 'tasmota.energy') reports no power or current on L2, L3; add a grid meter with phase values or drop the limit",
        },
      ]);
      expect(siteProfileProblems({ assets: [meter('tasmota.energy', mqtt)], grid: { ...grid, phases: 1 } })).toEqual([]);
    });

    it('refuses a hybrid inverter as the grid reading (it reports the total), and says nothing without the limit', () => {
      expect(siteProfileProblems({ assets: [hybrid], grid })).toMatchObject([
        { path: '$.grid.maxPhaseCurrentA', message: expect.stringMatching(/hybrid inverter 'inv-1', which reports the total only/) },
      ]);
      const { maxPhaseCurrentA: _dropped, ...noLimit } = grid;
      expect(siteProfileProblems({ assets: [hybrid], grid: noLimit })).toEqual([]);
      expect(siteProfileProblems({ assets: [hybrid, meter('eastron.sdm630', { enabled: false })], grid })).toHaveLength(1);
    });
  });

  describe('a battery behind a register profile', () => {
    const limits = { capacityWh: 10_000, minSocPct: 10, maxSocPct: 95, reserveSocPct: 0 };
    const hybrid = (profile: string, battery: Record<string, number>): Asset =>
      asset({ kind: 'hybrid-inverter', profile, battery: { ...limits, ...battery } } as Partial<Asset> & Pick<Asset, 'kind' | 'profile'>);

    it.each(['growatt.sph', 'growatt.tl-xh'])('%s (charge rate in % of the rating) needs battery.ratedPowerW', (profile) => {
      const problems = siteProfileProblems({ assets: [hybrid(profile, { maxChargePowerW: 5_000, maxDischargePowerW: 5_000 })] });
      expect(problems).toEqual([{ path: '$.assets[0].battery.ratedPowerW', message: expect.stringMatching(/in % of the device's rating/) }]);
    });

    it('refuses limits below the rating of a device left to its own modes (they run up to the rating)', () => {
      const problems = siteProfileProblems({
        assets: [hybrid('growatt.sph', { ratedPowerW: 5_000, maxChargePowerW: 3_000, maxDischargePowerW: 4_000 })],
      });
      expect(problems.map((p) => p.path)).toEqual(['$.assets[0].battery.maxChargePowerW', '$.assets[0].battery.maxDischargePowerW']);
      expect(problems[0]?.message).toMatch(/maxChargePowerW 3000 W cannot be kept/);
    });

    it('accepts a rating the limits reach, and a value-controlled battery without any rating', () => {
      expect(siteProfileProblems({ assets: [hybrid('growatt.sph', { ratedPowerW: 5_000, maxChargePowerW: 5_000, maxDischargePowerW: 6_000 })] })).toEqual([]);
      const cabinet = asset({ kind: 'battery', profile: 'cnte.ess-cabinet', battery: { ...limits, maxChargePowerW: 3_000, maxDischargePowerW: 3_000 } } as Partial<Asset> & Pick<Asset, 'kind' | 'profile'>);
      expect(siteProfileProblems({ assets: [cabinet] })).toEqual([]);
    });
  });
});
