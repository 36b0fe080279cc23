import { batteryPowerOf, buildBattery, buildSiteState } from '../../testing';
import type { SiteState } from '../site-state';
import { frequencyResponseW, gridServicesStrategy, GridServicesConfigSchema, type GridServicesConfig } from './grid-services';

describe('grid-services strategy', () => {
  const config = GridServicesConfigSchema.parse({ frequencyResponse: { reservedPowerW: 4_000 } });
  const decide = (overrides: Partial<SiteState>, nowMs = 0, cfg: GridServicesConfig = config) =>
    gridServicesStrategy.decide(buildSiteState(overrides), cfg, { nowMs }, {});

  it('requires the reserved power while frequency response is enabled', () => {
    const result = GridServicesConfigSchema.safeParse({});
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['frequencyResponse', 'reservedPowerW']);
    expect(GridServicesConfigSchema.safeParse({ frequencyResponse: { enabled: false } }).success).toBe(true);
  });

  it.each([
    { name: 'nominal → 0 W', f: 50, expectedW: 0 },
    { name: 'inside the 10 mHz deadband → 0 W', f: 49.99, expectedW: 0 },
    { name: '−100 mHz → half the reserve, discharge', f: 49.9, expectedW: 2_000 },
    { name: '+100 mHz → half the reserve, charge', f: 50.1, expectedW: -2_000 },
    { name: '−200 mHz → full activation', f: 49.8, expectedW: 4_000 },
    { name: '−500 mHz → capped at the reserve', f: 49.5, expectedW: 4_000 },
  ])('droop: $name', ({ f, expectedW }) => {
    expect(frequencyResponseW(f, config.frequencyResponse)).toBeCloseTo(expectedW, 6);
  });

  it('discharges on under-frequency and charges on over-frequency', () => {
    expect(batteryPowerOf(decide({ frequencyHz: 49.9 }))).toBe(2_000);
    expect(batteryPowerOf(decide({ frequencyHz: 50.1 }))).toBe(-2_000);
  });

  it('respects SoC: no discharge when empty, no charge when full', () => {
    const empty = decide({ frequencyHz: 49.8, batteries: [buildBattery({ socPct: 10 })] });
    expect(batteryPowerOf(empty)).toBe(0);
    expect(empty.metrics.reason).toBe('battery-empty');
    const full = decide({ frequencyHz: 50.2, batteries: [buildBattery({ socPct: 95 })] });
    expect(batteryPowerOf(full)).toBe(0);
    expect(full.metrics.reason).toBe('battery-full');
  });

  it('says when the grid connection holds the response back', () => {
    // Over-frequency asks 2 kW of charge; 17 kW of load on a 17 kW connection leaves no import for it.
    const held = decide({ frequencyHz: 50.1, loadPowerW: 17_000 });
    expect(batteryPowerOf(held)).toBe(0);
    expect(held.metrics.reason).toBe('grid-import-limit');
  });

  it('without a frequency reading idles and says why', () => {
    const result = decide({});
    expect(batteryPowerOf(result)).toBe(0);
    expect(result.metrics.reason).toBe('no-frequency');
  });

  it('treats an implausible frequency as a measurement error', () => {
    expect(decide({ frequencyHz: 0 }).metrics.reason).toBe('implausible-frequency');
  });

  it('follows a demand-response event while it runs, with frequency response on top', () => {
    const cfg = GridServicesConfigSchema.parse({
      frequencyResponse: { reservedPowerW: 1_000 },
      demandResponse: [{ startMs: 1_000, endMs: 2_000, powerW: 3_000 }],
    });
    expect(batteryPowerOf(decide({ frequencyHz: 50 }, 999, cfg))).toBe(0);
    const during = decide({ frequencyHz: 49.9 }, 1_000, cfg);
    expect(batteryPowerOf(during)).toBe(3_500);
    expect(during.metrics.reason).toBe('demand-response');
    expect(batteryPowerOf(decide({ frequencyHz: 50 }, 2_000, cfg))).toBe(0);
  });

  it('refuses an event that ends before it starts', () => {
    const result = GridServicesConfigSchema.safeParse({ frequencyResponse: { enabled: false }, demandResponse: [{ startMs: 5, endMs: 5, powerW: 1 }] });
    expect(result.success).toBe(false);
  });

  it('holds 0 W on stale data', () => {
    const result = decide({ frequencyHz: 49.8, gridQuality: 'stale' });
    expect(batteryPowerOf(result)).toBe(0);
    expect(result.metrics.reason).toBe('stale-data');
  });
});
