import { SiteConfigSchema, StrategyNameSchema } from '@voltimax/contracts';
import { STRATEGY_REASONS } from './reasons';
import { parseSiteStrategies, parseStrategyConfig, parseStrategySelection, strategies } from './registry';

/** A site with a battery (bat-1, max SoC 95 %) and a charger (ev-1), and the given strategy block. */
function siteWith(strategy: unknown) {
  return SiteConfigSchema.parse({
    v: 1,
    gatewayId: 'gw-1',
    siteName: 'Site',
    timezone: 'Europe/Paris',
    grid: { maxImportW: 17_000, maxExportW: 10_000, phases: 3, nominalVoltageV: 230 },
    assets: [
      { id: 'bat-1', name: 'B', kind: 'battery', profile: 'acme.battery', connection: { protocol: 'simulated' }, battery: { capacityWh: 10_000, maxChargePowerW: 5_000, maxDischargePowerW: 5_000 } },
      { id: 'ev-1', name: 'E', kind: 'ev-charger', profile: 'acme.wallbox', connection: { protocol: 'simulated' }, evCharger: { minCurrentA: 6, maxCurrentA: 16, phases: 3 } },
    ],
    strategy,
    tariff: { kind: 'fixed', fixedEurPerMwh: 200 },
  });
}

describe('registry', () => {
  it('has exactly the eleven strategies of the contracts, each under its own name', () => {
    expect(Object.keys(strategies).sort()).toEqual([...StrategyNameSchema.options].sort());
    for (const [name, strategy] of Object.entries(strategies)) expect(strategy.name).toBe(name);
  });

  it.each([
    ['null', 'primary'],
    ['charge', 'primary'],
    ['discharge', 'primary'],
    ['net-zero', 'primary'],
    ['time-of-use', 'primary'],
    ['self-consumption', 'primary'],
    ['grid-services', 'primary'],
    ['arbitrage', 'primary'],
    ['peak-shaving', 'layer'],
    ['backup-power', 'layer'],
    ['ev-charging', 'ev'],
  ] as const)('%s has role %s', (name, role) => {
    expect(strategies[name].role).toBe(role);
  });

  it('refuses ev-charging keys (modeByCharger, departures) that name no charger of the site', () => {
    const site = siteWith({
      active: ['ev-charging'],
      config: {
        'ev-charging': {
          mode: 'scheduled',
          modeByCharger: { 'ev-l': 'fast' },
          departures: { 'ev-1': { at: '07:30', energyWh: 20_000 }, 'bat-1': { at: '07:30', energyWh: 1 } },
        },
      },
    });
    expect(parseSiteStrategies(site).problems).toEqual([
      { path: '$.strategy.config["ev-charging"].modeByCharger["ev-l"]', message: "'ev-l' is not an ev-charger of the site (ev-1)" },
      { path: '$.strategy.config["ev-charging"].departures["bat-1"]', message: "'bat-1' is not an ev-charger of the site (ev-1)" },
    ]);
  });

  it('refuses a backup reserve above a battery’s max SoC, naming the battery', () => {
    const site = (reserveSocPct: number) =>
      siteWith({ active: ['self-consumption', 'backup-power'], config: { 'backup-power': { reserveSocPct } } });
    expect(parseSiteStrategies(site(99)).problems).toEqual([
      {
        path: '$.strategy.config["backup-power"].reserveSocPct',
        message: '99 % is above the maxSocPct of bat-1 (95 %): it could never be reached, and the battery would never discharge',
      },
    ]);
    expect(parseSiteStrategies(site(95)).problems).toEqual([]);
  });

  it('gives layers and the EV strategy a constrain function', () => {
    expect(strategies['peak-shaving'].constrain).toBeDefined();
    expect(strategies['backup-power'].constrain).toBeDefined();
    expect(strategies['ev-charging'].constrain).toBeDefined();
  });

  it.each(Object.keys(strategies).filter((n) => n !== 'peak-shaving' && n !== 'grid-services'))('%s parses {} to its defaults', (name) => {
    expect(strategies[name as keyof typeof strategies].configSchema.safeParse({}).success).toBe(true);
  });

  it.each(Object.keys(strategies))('%s refuses unknown keys (strict)', (name) => {
    expect(strategies[name as keyof typeof strategies].configSchema.safeParse({ thresholdW: 1, frequencyResponse: { reservedPowerW: 1 }, typo: 1 }).success).toBe(false);
  });

  it('explains an invalid block with the strategy name and the path', () => {
    const result = parseStrategyConfig('net-zero', { kp: -1 });
    expect(result.success).toBe(false);
    if (!result.success) {
      expect(result.error).toContain("strategy 'net-zero'");
      expect(result.error).toContain('kp');
    }
  });

  it('parses the config of every active strategy and collects every error', () => {
    const parsed = parseStrategySelection({
      active: ['net-zero', 'peak-shaving', 'grid-services'],
      config: { 'net-zero': { targetGridW: 100 } },
    });
    expect(parsed.configs['net-zero']?.targetGridW).toBe(100);
    expect(parsed.errors).toHaveLength(2);
    expect(parsed.errors[0]).toContain('thresholdW is required');
  });

  it('uses kebab-case reason codes only', () => {
    for (const reason of STRATEGY_REASONS) expect(reason).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
    expect(new Set(STRATEGY_REASONS).size).toBe(STRATEGY_REASONS.length);
  });
});
