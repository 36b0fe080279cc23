import type { Setpoint } from '@voltimax/contracts';
import { ViolationSchema } from '@voltimax/contracts';
import {
  BATTERY,
  BATTERY_LIMITS,
  battery,
  batteryInput,
  batteryReading,
  DRIVER_OK,
  evInput,
  evReading,
  EV,
  EV_LIMITS,
  GRID_LIMITS,
  gridReading,
  NOW_MS,
  pvInput,
} from '../testing/fixtures';
import { arbitrate, arbitrateWith } from './arbitrate';
import { SAFE_SETPOINT, VIOLATION_CODES } from './codes';
import type { ArbitrationInput } from './context';
import { RULE_ORDER, RULES } from './rules';

type Case = {
  name: string;
  input: ArbitrationInput;
  setpoint: Setpoint;
  outcome: 'applied' | 'clamped' | 'rejected' | 'safe';
  codes: string[];
};

function run({ input, setpoint, outcome, codes }: Case) {
  const result = arbitrate(input);
  expect(result.setpoint).toEqual(setpoint);
  expect(result.outcome).toBe(outcome);
  expect(result.violations.map((v) => v.code)).toEqual(codes);
  for (const v of result.violations) expect(ViolationSchema.safeParse(v).success).toBe(true);
}

describe('rule order', () => {
  it('is fixed data, gates first, ramp last', () => {
    expect(RULE_ORDER.map((rule) => rule.name)).toEqual([
      'emergency-stop',
      'driver-heartbeat',
      'telemetry',
      'setpoint',
      'soc-window',
      'backup-reserve',
      'power-limit',
      'current-limit',
      'temperature-window',
      'grid-connection',
      'ev-current',
      'pv-limit',
      'ramp-rate',
    ]);
  });

  it('covers every violation code exactly once', () => {
    const codes = [...RULE_ORDER.flatMap((rule) => rule.codes), 'ev-phases', 'ev-limit-hold'];
    expect([...codes].sort()).toEqual([...VIOLATION_CODES].sort());
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('uses kebab-case codes and names', () => {
    for (const rule of RULE_ORDER) {
      expect(rule.name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      for (const code of rule.codes) expect(code).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
    }
  });
});

describe('no request', () => {
  it('gives the safe setpoint without violations', () => {
    expect(arbitrate(batteryInput(undefined))).toEqual({ setpoint: SAFE_SETPOINT, outcome: 'safe', violations: [] });
  });

  it('applies an explicit safe request', () => {
    expect(arbitrate(batteryInput(SAFE_SETPOINT))).toEqual({
      setpoint: SAFE_SETPOINT,
      outcome: 'applied',
      violations: [],
    });
  });
});

describe('emergency-stop', () => {
  it.each<Case>([
    {
      name: 'latched → safe',
      input: batteryInput(battery(1_000), {
        estop: { engaged: true, engagedAtMs: NOW_MS - 1, engagedBy: 'op', engagedReason: 'fire' },
      }),
      setpoint: SAFE_SETPOINT,
      outcome: 'safe',
      codes: ['emergency-stop'],
    },
    {
      name: 'released → applied',
      input: batteryInput(battery(1_000), { estop: { engaged: false, releasedAtMs: NOW_MS - 1 } }),
      setpoint: battery(1_000),
      outcome: 'applied',
      codes: [],
    },
    {
      name: 'latched wins over every other fault',
      input: batteryInput(battery(Number.NaN), { estop: { engaged: true }, reading: undefined }),
      setpoint: SAFE_SETPOINT,
      outcome: 'safe',
      codes: ['emergency-stop'],
    },
  ])('$name', run);
});

describe('driver-heartbeat', () => {
  it.each<Case>([
    {
      name: 'never heard → safe',
      input: batteryInput(battery(1_000), { driver: undefined }),
      setpoint: SAFE_SETPOINT,
      outcome: 'safe',
      codes: ['driver-lost'],
    },
    {
      name: 'silent for more than 3 intervals → safe',
      input: batteryInput(battery(1_000), { driver: { lastSeenAtMs: NOW_MS - 15_001, intervalMs: 5_000 } }),
      setpoint: SAFE_SETPOINT,
      outcome: 'safe',
      codes: ['driver-lost'],
    },
    {
      name: 'silent for exactly 3 intervals → still alive',
      input: batteryInput(battery(1_000), { driver: { lastSeenAtMs: NOW_MS - 15_000, intervalMs: 5_000 } }),
      setpoint: battery(1_000),
      outcome: 'applied',
      codes: [],
    },
    {
      name: 'reports error → safe',
      input: batteryInput(battery(1_000), { driver: { ...DRIVER_OK, status: 'error' } }),
      setpoint: SAFE_SETPOINT,
      outcome: 'safe',
      codes: ['driver-lost'],
    },
    {
      name: 'reports stopping → safe',
      input: batteryInput(battery(1_000), { driver: { ...DRIVER_OK, status: 'stopping' } }),
      setpoint: SAFE_SETPOINT,
      outcome: 'safe',
      codes: ['driver-lost'],
    },
    {
      name: 'degraded is still alive',
      input: batteryInput(battery(1_000), { driver: { ...DRIVER_OK, status: 'degraded' } }),
      setpoint: battery(1_000),
      outcome: 'applied',
      codes: [],
    },
    {
      name: 'heartbeat from the future beyond the skew allowance → safe',
      input: batteryInput(battery(1_000), { driver: { ...DRIVER_OK, lastSeenAtMs: NOW_MS + 2_001 } }),
      setpoint: SAFE_SETPOINT,
      outcome: 'safe',
      codes: ['driver-lost'],
    },
  ])('$name', run);

  it('reports the silence and the allowance in ms', () => {
    const result = arbitrate(
      batteryInput(battery(1_000), { driver: { lastSeenAtMs: NOW_MS - 20_000, intervalMs: 5_000, status: 'ok' } }),
    );
    expect(result.violations).toEqual([
      { code: 'driver-lost', limit: 15_000, value: 20_000, unit: 'ms', detail: 'driver status ok' },
    ]);
  });
});

describe('telemetry', () => {
  it.each<Case>([
    {
      name: 'no asset reading → safe',
      input: batteryInput(battery(1_000), { reading: undefined }),
      setpoint: SAFE_SETPOINT,
      outcome: 'safe',
      codes: ['missing-telemetry'],
    },
    {
      name: 'reading of another asset → safe',
      input: batteryInput(battery(1_000), { reading: batteryReading({}, { assetId: 'bat-2' }) }),
      setpoint: SAFE_SETPOINT,
      outcome: 'safe',
      codes: ['missing-telemetry'],
    },
    {
      name: 'quality stale → safe',
      input: batteryInput(battery(1_000), { reading: batteryReading({}, { quality: 'stale' }) }),
      setpoint: SAFE_SETPOINT,
      outcome: 'safe',
      codes: ['stale-telemetry'],
    },
    {
      name: 'quality error → safe',
      input: batteryInput(battery(1_000), { reading: batteryReading({}, { quality: 'error' }) }),
      setpoint: SAFE_SETPOINT,
      outcome: 'safe',
      codes: ['stale-telemetry'],
    },
    {
      name: 'older than maxTelemetryAgeMs → safe',
      input: batteryInput(battery(1_000), { reading: batteryReading({}, { atMs: NOW_MS - 5_001 }) }),
      setpoint: SAFE_SETPOINT,
      outcome: 'safe',
      codes: ['stale-telemetry'],
    },
    {
      name: 'exactly maxTelemetryAgeMs old → fresh',
      input: batteryInput(battery(1_000), { reading: batteryReading({}, { atMs: NOW_MS - 5_000 }) }),
      setpoint: battery(1_000),
      outcome: 'applied',
      codes: [],
    },
    {
      name: 'configurable age',
      input: batteryInput(battery(1_000), {
        reading: batteryReading({}, { atMs: NOW_MS - 5_001 }),
        options: { maxTelemetryAgeMs: 10_000 },
      }),
      setpoint: battery(1_000),
      outcome: 'applied',
      codes: [],
    },
    {
      name: 'from the future beyond the skew allowance → safe',
      input: batteryInput(battery(1_000), { reading: batteryReading({}, { atMs: NOW_MS + 2_001 }) }),
      setpoint: SAFE_SETPOINT,
      outcome: 'safe',
      codes: ['stale-telemetry'],
    },
    {
      name: 'no grid-meter reading → safe (battery)',
      input: batteryInput(battery(1_000), { grid: { limits: GRID_LIMITS } }),
      setpoint: SAFE_SETPOINT,
      outcome: 'safe',
      codes: ['missing-telemetry'],
    },
    {
      name: 'stale grid-meter reading → safe (EV)',
      input: evInput(
        { kind: 'ev-current', currentA: 10 },
        { grid: { limits: GRID_LIMITS, reading: gridReading({}, { atMs: NOW_MS - 60_000 }) } },
      ),
      setpoint: SAFE_SETPOINT,
      outcome: 'safe',
      codes: ['stale-telemetry'],
    },
    {
      name: 'grid-meter reading without power → safe',
      input: batteryInput(battery(1_000), {
        grid: { limits: GRID_LIMITS, reading: gridReading({ powerW: Number.NaN }) },
      }),
      setpoint: SAFE_SETPOINT,
      outcome: 'safe',
      codes: ['missing-telemetry'],
    },
    {
      name: 'PV limit does not need the grid meter',
      input: pvInput({ kind: 'pv-limit', maxPowerW: 4_000 }, { grid: { limits: GRID_LIMITS } }),
      setpoint: { kind: 'pv-limit', maxPowerW: 4_000 },
      outcome: 'applied',
      codes: [],
    },
  ])('$name', run);

  it('reports the age and the limit in ms', () => {
    const result = arbitrate(batteryInput(battery(1_000), { reading: batteryReading({}, { atMs: NOW_MS - 7_000 }) }));
    expect(result.violations).toEqual([
      { code: 'stale-telemetry', limit: 5_000, value: 7_000, unit: 'ms', detail: 'asset reading age' },
    ]);
  });
});

describe('setpoint', () => {
  it.each<Case>([
    {
      name: 'NaN power → rejected',
      input: batteryInput(battery(Number.NaN)),
      setpoint: SAFE_SETPOINT,
      outcome: 'rejected',
      codes: ['invalid-value'],
    },
    {
      name: '+Infinity power → rejected',
      input: batteryInput(battery(Number.POSITIVE_INFINITY)),
      setpoint: SAFE_SETPOINT,
      outcome: 'rejected',
      codes: ['invalid-value'],
    },
    {
      name: '−Infinity power → rejected',
      input: batteryInput(battery(Number.NEGATIVE_INFINITY)),
      setpoint: SAFE_SETPOINT,
      outcome: 'rejected',
      codes: ['invalid-value'],
    },
    {
      name: 'negative EV current → rejected',
      input: evInput({ kind: 'ev-current', currentA: -1 }),
      setpoint: SAFE_SETPOINT,
      outcome: 'rejected',
      codes: ['invalid-value'],
    },
    {
      name: 'NaN EV current → rejected',
      input: evInput({ kind: 'ev-current', currentA: Number.NaN }),
      setpoint: SAFE_SETPOINT,
      outcome: 'rejected',
      codes: ['invalid-value'],
    },
    {
      name: 'Infinite PV limit → rejected',
      input: pvInput({ kind: 'pv-limit', maxPowerW: Number.POSITIVE_INFINITY }),
      setpoint: SAFE_SETPOINT,
      outcome: 'rejected',
      codes: ['invalid-value'],
    },
    {
      name: 'EV current for a battery → rejected',
      input: batteryInput({ kind: 'ev-current', currentA: 10 }),
      setpoint: SAFE_SETPOINT,
      outcome: 'rejected',
      codes: ['unsupported-setpoint'],
    },
    {
      name: 'battery power for an EV charger → rejected',
      input: evInput(battery(1_000)),
      setpoint: SAFE_SETPOINT,
      outcome: 'rejected',
      codes: ['unsupported-setpoint'],
    },
    {
      name: 'PV limit for a battery → rejected',
      input: batteryInput({ kind: 'pv-limit', maxPowerW: 1_000 }),
      setpoint: SAFE_SETPOINT,
      outcome: 'rejected',
      codes: ['unsupported-setpoint'],
    },
  ])('$name', run);

  it('never lets a non-finite value through, whatever the rule order', () => {
    const limitRulesOnly = RULES.filter((rule) => !['setpoint'].includes(rule.name));
    for (const powerW of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const result = arbitrateWith(limitRulesOnly, batteryInput(battery(powerW)));
      expect(result).toMatchObject({ setpoint: SAFE_SETPOINT, outcome: 'rejected' });
      expect(result.violations.map((v) => v.code)).toEqual(['invalid-value']);
      expect(arbitrateWith([], batteryInput(battery(powerW))).outcome).toBe('rejected');
    }
  });
});

describe('soc-window and backup-reserve', () => {
  const at = (socPct: number | undefined, overrides: Partial<ArbitrationInput> = {}) => ({
    reading: batteryReading(socPct === undefined ? { socPct: undefined } : { socPct }),
    ...overrides,
  });
  it.each<Case>([
    {
      name: 'discharge at minSoc → 0',
      input: batteryInput(battery(3_000), at(10, { gridDown: true })),
      setpoint: battery(0),
      outcome: 'clamped',
      codes: ['soc-min'],
    },
    {
      name: 'discharge below minSoc → 0',
      input: batteryInput(battery(3_000), at(5, { gridDown: true })),
      setpoint: battery(0),
      outcome: 'clamped',
      codes: ['soc-min'],
    },
    {
      name: 'charge at minSoc → allowed',
      input: batteryInput(battery(-3_000), at(10)),
      setpoint: battery(-3_000),
      outcome: 'applied',
      codes: [],
    },
    {
      name: 'charge at maxSoc → 0',
      input: batteryInput(battery(-3_000), at(95)),
      setpoint: battery(0),
      outcome: 'clamped',
      codes: ['soc-max'],
    },
    {
      name: 'charge above maxSoc → 0',
      input: batteryInput(battery(-3_000), at(99)),
      setpoint: battery(0),
      outcome: 'clamped',
      codes: ['soc-max'],
    },
    {
      name: 'discharge at maxSoc → allowed',
      input: batteryInput(battery(3_000), at(95)),
      setpoint: battery(3_000),
      outcome: 'applied',
      codes: [],
    },
    {
      name: 'SoC unknown, discharge → 0',
      input: batteryInput(battery(3_000), at(undefined)),
      setpoint: battery(0),
      outcome: 'clamped',
      codes: ['missing-soc'],
    },
    {
      name: 'SoC unknown, charge → 0',
      input: batteryInput(battery(-3_000), at(undefined)),
      setpoint: battery(0),
      outcome: 'clamped',
      codes: ['missing-soc'],
    },
    {
      name: 'SoC NaN, discharge → 0',
      input: batteryInput(battery(3_000), at(Number.NaN)),
      setpoint: battery(0),
      outcome: 'clamped',
      codes: ['missing-soc'],
    },
    {
      name: 'discharge at the reserve → 0',
      input: batteryInput(battery(3_000), at(20)),
      setpoint: battery(0),
      outcome: 'clamped',
      codes: ['backup-reserve'],
    },
    {
      name: 'discharge just above the reserve → allowed',
      input: batteryInput(battery(3_000), at(20.1)),
      setpoint: battery(3_000),
      outcome: 'applied',
      codes: [],
    },
    {
      name: 'charge at the reserve → allowed',
      input: batteryInput(battery(-3_000), at(20)),
      setpoint: battery(-3_000),
      outcome: 'applied',
      codes: [],
    },
    {
      name: 'grid down: the reserve may be used',
      input: batteryInput(battery(3_000), at(15, { gridDown: true })),
      setpoint: battery(3_000),
      outcome: 'applied',
      codes: [],
    },
    {
      name: 'grid down: minSoc still holds',
      input: batteryInput(battery(3_000), at(10, { gridDown: true })),
      setpoint: battery(0),
      outcome: 'clamped',
      codes: ['soc-min'],
    },
    {
      name: 'at minSoc and below the reserve: the first rule reports',
      input: batteryInput(battery(3_000), at(10)),
      setpoint: battery(0),
      outcome: 'clamped',
      codes: ['soc-min'],
    },
  ])('$name', run);

  it('reports SoC and limit in %', () => {
    expect(arbitrate(batteryInput(battery(3_000), at(18))).violations).toEqual([
      { code: 'backup-reserve', limit: 20, value: 18, unit: '%' },
    ]);
  });
});

describe('power-limit', () => {
  it.each<Case>([
    {
      name: 'discharge above the limit → clamped',
      input: batteryInput(battery(8_000)),
      setpoint: battery(6_000),
      outcome: 'clamped',
      codes: ['max-discharge-power'],
    },
    {
      name: 'charge above the limit → clamped',
      input: batteryInput(battery(-7_000)),
      setpoint: battery(-5_000),
      outcome: 'clamped',
      codes: ['max-charge-power'],
    },
    {
      name: 'at the limit → applied',
      input: batteryInput(battery(6_000)),
      setpoint: battery(6_000),
      outcome: 'applied',
      codes: [],
    },
    {
      name: 'BMS live discharge limit is tighter → clamped to it',
      input: batteryInput(battery(5_000), { reading: batteryReading({ maxDischargePowerW: 3_000 }) }),
      setpoint: battery(3_000),
      outcome: 'clamped',
      codes: ['max-discharge-power'],
    },
    {
      name: 'BMS live charge limit 0 → no charge',
      input: batteryInput(battery(-2_000), { reading: batteryReading({ maxChargePowerW: 0 }) }),
      setpoint: battery(0),
      outcome: 'clamped',
      codes: ['max-charge-power'],
    },
    {
      name: 'BMS live limit looser than the configured one → configured applies',
      input: batteryInput(battery(8_000), { reading: batteryReading({ maxDischargePowerW: 9_000 }) }),
      setpoint: battery(6_000),
      outcome: 'clamped',
      codes: ['max-discharge-power'],
    },
    {
      name: 'BMS live limit NaN → treated as 0',
      input: batteryInput(battery(2_000), { reading: batteryReading({ maxDischargePowerW: Number.NaN }) }),
      setpoint: battery(0),
      outcome: 'clamped',
      codes: ['max-discharge-power'],
    },
  ])('$name', run);

  it('names the BMS as the source of a live limit', () => {
    const result = arbitrate(batteryInput(battery(5_000), { reading: batteryReading({ maxDischargePowerW: 3_000 }) }));
    expect(result.violations).toEqual([
      { code: 'max-discharge-power', limit: 3_000, value: 5_000, unit: 'W', detail: 'BMS live limit' },
    ]);
  });
});

describe('current-limit', () => {
  it.each<Case>([
    {
      name: 'discharge current above the limit at 40 V → clamped to 120 A × 40 V',
      input: batteryInput(battery(6_000), { reading: batteryReading({ batteryVoltageV: 40 }) }),
      setpoint: battery(4_800),
      outcome: 'clamped',
      codes: ['max-discharge-current'],
    },
    {
      name: 'charge current above the limit at 40 V → clamped to 100 A × 40 V',
      input: batteryInput(battery(-5_000), { reading: batteryReading({ batteryVoltageV: 40 }) }),
      setpoint: battery(-4_000),
      outcome: 'clamped',
      codes: ['max-charge-current'],
    },
    {
      name: 'voltage unknown → only the power limits apply',
      input: batteryInput(battery(6_000), { reading: batteryReading({ batteryVoltageV: undefined }) }),
      setpoint: battery(6_000),
      outcome: 'applied',
      codes: [],
    },
    {
      name: 'at 400 V the current limit does not bind',
      input: batteryInput(battery(6_000)),
      setpoint: battery(6_000),
      outcome: 'applied',
      codes: [],
    },
  ])('$name', run);

  it('reports the current in A', () => {
    const result = arbitrate(batteryInput(battery(6_000), { reading: batteryReading({ batteryVoltageV: 40 }) }));
    expect(result.violations).toEqual([
      { code: 'max-discharge-current', limit: 120, value: 150, unit: 'A', detail: 'at 40 V' },
    ]);
  });
});

describe('temperature-window', () => {
  const at = (temperatureC: number | undefined) => ({ reading: batteryReading({ temperatureC }) });
  it.each<Case>([
    {
      name: 'charge below the charge window → 0',
      input: batteryInput(battery(-2_000), at(-5)),
      setpoint: battery(0),
      outcome: 'clamped',
      codes: ['charge-temperature'],
    },
    {
      name: 'discharge below the charge window but inside the discharge window → allowed',
      input: batteryInput(battery(2_000), at(-5)),
      setpoint: battery(2_000),
      outcome: 'applied',
      codes: [],
    },
    {
      name: 'discharge above the discharge window → 0',
      input: batteryInput(battery(2_000), at(55)),
      setpoint: battery(0),
      outcome: 'clamped',
      codes: ['discharge-temperature'],
    },
    {
      name: 'charge above the charge window → 0',
      input: batteryInput(battery(-2_000), at(46)),
      setpoint: battery(0),
      outcome: 'clamped',
      codes: ['charge-temperature'],
    },
    {
      name: 'charge at the window edge → allowed',
      input: batteryInput(battery(-2_000), at(45)),
      setpoint: battery(-2_000),
      outcome: 'applied',
      codes: [],
    },
    {
      name: 'temperature unknown → no charge',
      input: batteryInput(battery(-2_000), at(undefined)),
      setpoint: battery(0),
      outcome: 'clamped',
      codes: ['charge-temperature'],
    },
    {
      name: 'temperature unknown → no discharge',
      input: batteryInput(battery(2_000), at(undefined)),
      setpoint: battery(0),
      outcome: 'clamped',
      codes: ['discharge-temperature'],
    },
    {
      name: 'no window configured → temperature not needed',
      input: batteryInput(battery(2_000), {
        ...at(undefined),
        asset: {
          assetId: 'bat-1',
          battery: { ...BATTERY_LIMITS, chargeTemperatureC: undefined, dischargeTemperatureC: undefined },
        },
      }),
      setpoint: battery(2_000),
      outcome: 'applied',
      codes: [],
    },
  ])('$name', run);

  it('reports the temperature and the crossed bound in °C', () => {
    expect(arbitrate(batteryInput(battery(-2_000), at(-5))).violations).toEqual([
      { code: 'charge-temperature', limit: 0, value: -5, unit: '°C', detail: 'below the window' },
    ]);
  });
});

describe('grid-connection', () => {
  const grid = (values: Parameters<typeof gridReading>[0]) => ({
    grid: { limits: GRID_LIMITS, reading: gridReading(values) },
  });
  it.each<Case>([
    {
      name: 'charging may not push import above maxImportW',
      input: batteryInput(battery(-3_000), grid({ powerW: 16_000 })),
      setpoint: battery(-1_000),
      outcome: 'clamped',
      codes: ['grid-import-limit'],
    },
    {
      name: 'discharging may not push export beyond maxExportW',
      input: batteryInput(battery(3_000), grid({ powerW: -9_000 })),
      setpoint: battery(1_000),
      outcome: 'clamped',
      codes: ['grid-export-limit'],
    },
    {
      name: 'reducing a discharge counts: import may not exceed the limit',
      input: batteryInput(battery(3_500), { ...grid({ powerW: 16_000 }), reading: batteryReading({ powerW: 4_000 }) }),
      setpoint: battery(3_500),
      outcome: 'applied',
      codes: [],
    },
    {
      // The discharge holds the import under the limit; 0 W would import 4 kW more, the request 2 kW more.
      name: 'a discharge that holds the import, asked for less: the request, not 0 W (which imports more)',
      input: batteryInput(battery(2_000), { ...grid({ powerW: 16_000 }), reading: batteryReading({ powerW: 4_000 }) }),
      setpoint: battery(2_000),
      outcome: 'clamped',
      codes: ['grid-import-limit'],
    },
    {
      name: 'already beyond the import limit, asked for a little less discharge: the request, not 0 W',
      input: batteryInput(battery(850), {
        ...grid({ powerW: 17_100 }),
        reading: batteryReading({ powerW: 854 }),
        lastApplied: { setpoint: battery(854), atMs: NOW_MS - 1_000 },
      }),
      setpoint: battery(850),
      outcome: 'clamped',
      codes: ['grid-import-limit'],
    },
    {
      name: 'a discharge that holds the import, where the ramp allows less: as much as the ramp allows',
      input: batteryInput(battery(4_000), {
        ...grid({ powerW: 16_000 }),
        reading: batteryReading({ powerW: 4_000 }),
        lastApplied: { setpoint: battery(0), atMs: NOW_MS - 1_000 },
      }),
      setpoint: battery(1_000),
      outcome: 'clamped',
      codes: ['ramp-rate'],
    },
    {
      name: 'a discharge that holds the import, at the minimum SoC: 0 W (the battery comes first)',
      input: batteryInput(battery(4_000), {
        ...grid({ powerW: 16_000 }),
        reading: batteryReading({ powerW: 4_000, socPct: 10 }),
      }),
      setpoint: battery(0),
      outcome: 'clamped',
      codes: ['soc-min'],
    },
    {
      name: 'charging that holds the export, asked to charge less: the request, not 0 W (which exports more)',
      input: batteryInput(battery(-1_000), {
        ...grid({ powerW: -9_000 }),
        reading: batteryReading({ powerW: -3_000 }),
        lastApplied: { setpoint: battery(-3_000), atMs: NOW_MS - 1_000 },
      }),
      setpoint: battery(-1_000),
      outcome: 'clamped',
      codes: ['grid-export-limit'],
    },
    {
      name: 'already 1 kW above the import limit: a 1 kW charge is cut to 0 W, which brings it back',
      input: batteryInput(battery(-2_000), {
        ...grid({ powerW: 18_000 }),
        reading: batteryReading({ powerW: -1_000 }),
      }),
      setpoint: battery(0),
      outcome: 'clamped',
      codes: ['grid-import-limit'],
    },
    {
      name: 'already 500 W above the import limit: a 1 kW charge is cut to 500 W',
      input: batteryInput(battery(-1_000), {
        ...grid({ powerW: 17_500 }),
        reading: batteryReading({ powerW: -1_000 }),
      }),
      setpoint: battery(-500),
      outcome: 'clamped',
      codes: ['grid-import-limit'],
    },
    {
      name: 'already 1.8 kW beyond the export limit: a 5 kW discharge is cut to 3.2 kW',
      input: batteryInput(battery(5_000), {
        ...grid({ powerW: -11_800 }),
        reading: batteryReading({ powerW: 5_000 }),
        lastApplied: { setpoint: battery(5_000), atMs: NOW_MS - 1_000 },
      }),
      setpoint: battery(3_200),
      outcome: 'clamped',
      codes: ['grid-export-limit'],
    },
    {
      name: 'already above the import limit: discharging is allowed',
      input: batteryInput(battery(2_000), grid({ powerW: 18_000 })),
      setpoint: battery(2_000),
      outcome: 'applied',
      codes: [],
    },
    {
      name: 'phase current limit: a loaded phase limits charging',
      input: batteryInput(battery(-3_000), grid({ powerW: 8_000, powerL1W: 24 * 230, powerL2W: 2_000, powerL3W: 480 })),
      setpoint: battery(-690),
      outcome: 'clamped',
      codes: ['phase-current-limit'],
    },
    {
      name: 'a single-phase battery (battery.phases 1) puts its whole current on the loaded phase',
      input: batteryInput(battery(-3_000), {
        ...grid({ powerW: 8_000, powerL1W: 24 * 230, powerL2W: 2_000, powerL3W: 480 }),
        asset: { ...BATTERY, batteryPhases: 1 },
      }),
      setpoint: battery(-230),
      outcome: 'clamped',
      codes: ['phase-current-limit'],
    },
    {
      name: 'phase current magnitude without sign counts both ways',
      input: batteryInput(battery(3_000), grid({ powerW: 0, currentL2A: 24 })),
      setpoint: battery(690),
      outcome: 'clamped',
      codes: ['phase-current-limit'],
    },
    {
      name: 'pending changes of other assets count',
      input: batteryInput(battery(-3_000), {
        grid: { limits: GRID_LIMITS, reading: gridReading({ powerW: 10_000 }), pending: { minW: 0, maxW: 6_000 } },
      }),
      setpoint: battery(-1_000),
      outcome: 'clamped',
      codes: ['grid-import-limit'],
    },
  ])('$name', run);

  it('reports the worst-case grid import with the requested value', () => {
    expect(arbitrate(batteryInput(battery(-3_000), grid({ powerW: 16_000 }))).violations).toEqual([
      { code: 'grid-import-limit', limit: 17_000, value: 19_000, unit: 'W', detail: 'worst case after the change' },
    ]);
  });

  it('assumes the worst when the battery power is unknown', () => {
    const result = arbitrate(
      batteryInput(battery(-1_000), { ...grid({ powerW: 12_000 }), reading: batteryReading({ powerW: undefined }) }),
    );
    // Unknown power may be up to 6 kW discharge that the new setpoint would stop: 12 + 6 + 1 > 17 kW.
    expect(result.setpoint).toEqual(battery(0));
    expect(result.violations.map((v) => v.code)).toEqual(['grid-import-limit']);
  });
});

describe('ev-current', () => {
  const ev = (currentA: number, phases?: 1 | 3): Setpoint =>
    phases === undefined ? { kind: 'ev-current', currentA } : { kind: 'ev-current', currentA, phases };
  it.each<Case>([
    { name: 'within [min, max] → applied', input: evInput(ev(10)), setpoint: ev(10), outcome: 'applied', codes: [] },
    { name: '0 → applied (paused)', input: evInput(ev(0)), setpoint: ev(0), outcome: 'applied', codes: [] },
    {
      name: 'above the maximum → maximum',
      input: evInput(ev(20)),
      setpoint: ev(16),
      outcome: 'clamped',
      codes: ['ev-max-current'],
    },
    {
      name: 'below the minimum → 0 (paused)',
      input: evInput(ev(4)),
      setpoint: ev(0),
      outcome: 'clamped',
      codes: ['ev-min-current'],
    },
    {
      name: 'three phases on a single-phase charger → one phase',
      input: evInput(ev(10, 3), { asset: { ...EV, evCharger: { ...EV_LIMITS, phases: 1 } } }),
      setpoint: ev(10, 1),
      outcome: 'clamped',
      codes: ['ev-phases'],
    },
    {
      name: 'grid headroom below the minimum current → 0 (paused)',
      input: evInput(ev(16), { grid: { limits: GRID_LIMITS, reading: gridReading({ powerW: 15_000 }) } }),
      setpoint: ev(0),
      outcome: 'clamped',
      codes: ['grid-import-limit', 'ev-min-current'],
    },
    {
      name: 'grid headroom above the minimum current → headroom',
      input: evInput(ev(16), { grid: { limits: GRID_LIMITS, reading: gridReading({ powerW: 10_100 }) } }),
      setpoint: ev(10),
      outcome: 'clamped',
      codes: ['grid-import-limit'],
    },
    {
      name: 'the present draw is freed headroom',
      input: evInput(ev(16), {
        reading: evReading({ powerW: 6 * 690 }),
        grid: { limits: GRID_LIMITS, reading: gridReading({ powerW: 10_100 }) },
      }),
      setpoint: ev(16),
      outcome: 'applied',
      codes: [],
    },
    {
      // 17 690 W against 17 000 W with the car drawing 16 A (11 040 W): 690 W over, 1 A less brings it back.
      name: 'already beyond the import limit while charging: cut back as far as it takes',
      input: evInput(ev(16), {
        reading: evReading({ powerW: 16 * 690 }),
        grid: { limits: GRID_LIMITS, reading: gridReading({ powerW: 17_690 }) },
      }),
      setpoint: ev(15),
      outcome: 'clamped',
      codes: ['grid-import-limit'],
    },
  ])('$name', run);
});

describe('grid-connection: a grid reading older than the asset reading', () => {
  it('counts a charger at what it drew when the grid was read, when its newer reading says more', () => {
    // The grid (16 kW of 17 kW) was read while the car drew 6 A (4 140 W); the charger now reads 10 A (6 900 W),
    // which the grid reading does not show yet. Freeing only what the grid reading holds: (1 000 + 4 140) / 690.
    const input = evInput(
      { kind: 'ev-current', currentA: 12 },
      {
        reading: evReading({ powerW: 6_900 }),
        readingAtGrid: evReading({ powerW: 4_140 }, { atMs: NOW_MS - 800 }),
        grid: { limits: GRID_LIMITS, reading: gridReading({ powerW: 16_000 }, { atMs: NOW_MS - 700 }) },
      },
    );
    const result = arbitrate(input);
    expect(result.outcome).toBe('clamped');
    expect(result.setpoint.kind === 'ev-current' && result.setpoint.currentA).toBeCloseTo(5_140 / 690, 9);
    // Without the older reading the charger would be given the 2 760 W the grid reading does not show.
    const { readingAtGrid: _older, ...latestOnly } = input;
    const loose = arbitrate(latestOnly);
    expect(loose.setpoint.kind === 'ev-current' && loose.setpoint.currentA).toBeCloseTo(7_900 / 690, 9);
  });
});

describe('grid-connection: a write the reading of the asset does not show yet', () => {
  it('does not free a cut the grid reading already shows: a charger cut to 0 A, still read at 8 A', () => {
    // Cut to 0 A 300 ms ago; the charger's last reading (1.2 s old) still says 8 A; the meter (100 ms old) shows the
    // cut. Freeing the 8 A again would give 9.4 A on a grid with 1 kW of headroom: only 1.4 A is there → paused.
    const input = evInput(
      { kind: 'ev-current', currentA: 16 },
      {
        reading: evReading({ powerW: 8 * 690 }, { atMs: NOW_MS - 1_200 }),
        lastApplied: { setpoint: { kind: 'ev-current', currentA: 0 }, atMs: NOW_MS - 300 },
        grid: { limits: GRID_LIMITS, reading: gridReading({ powerW: 16_000 }, { atMs: NOW_MS - 100 }) },
      },
    );
    expect(arbitrate(input).setpoint).toEqual({ kind: 'ev-current', currentA: 0 });
    // A reading taken after the write and its settling (2 s) shows where the charger is: its 8 A are freed.
    const settled = arbitrate({
      ...input,
      reading: evReading({ powerW: 8 * 690 }, { atMs: NOW_MS - 200 }),
      lastApplied: { setpoint: { kind: 'ev-current', currentA: 0 }, atMs: NOW_MS - 2_500 },
    });
    expect(settled.setpoint.kind === 'ev-current' && settled.setpoint.currentA).toBeCloseTo(6_520 / 690, 9);
  });
});

describe('grid-connection: the reading of an asset lags its own last write', () => {
  it('keeps a discharge written after the battery was read and before the meter was: no cut to 0 and back', () => {
    // Live trial: the battery was raised to 985 W, the meter then read the export at the 10 kW limit, and the battery's
    // own reading (from before the write) still said 0 W. The worst case put the battery at 0 W when the meter read
    // and cut it to 0 W; a second later the reading caught up and it was raised again, every second.
    const input = batteryInput(battery(5_000), {
      reading: batteryReading({ powerW: 0 }, { atMs: NOW_MS - 700 }),
      lastApplied: { setpoint: battery(985), atMs: NOW_MS - 600 },
      grid: { limits: GRID_LIMITS, reading: gridReading({ powerW: -10_000 }, { atMs: NOW_MS - 100 }) },
    });
    expect(arbitrate(input).setpoint).toEqual(battery(985));
    // A write the meter cannot have seen yet (after the grid reading) is not kept: the worst case decides.
    const unseen = arbitrate({ ...input, lastApplied: { setpoint: battery(985), atMs: NOW_MS - 50 } });
    expect(unseen.setpoint).toEqual(battery(0));
    // Written the same ms the battery was read (the reading that decided it): that reading cannot show it either.
    const tie = arbitrate({ ...input, lastApplied: { setpoint: battery(985), atMs: NOW_MS - 700 } });
    expect(tie.setpoint).toEqual(battery(985));
    // The other order (trial F): the battery read 0 W, was written 985 W, the meter read, then the battery read 985 W.
    // The meter is compared with the 0-W reading (readingAtGrid); the write between them is kept too.
    const caughtUp = arbitrate({
      ...input,
      readingAtGrid: batteryReading({ powerW: 0 }, { atMs: NOW_MS - 700 }),
      reading: batteryReading({ powerW: 985 }, { atMs: NOW_MS - 20 }),
    });
    expect(caughtUp.setpoint).toEqual(battery(985));
  });
});

describe('grid-connection: a cut the meter has not seen yet is not repeated', () => {
  it('holds a battery already cut to 1 230 W while the meter still shows it at 4 240 W', () => {
    // The meter (11.2 kW export against 10 kW) was read with the battery at 4 240 W; the battery was then cut and now
    // reads 1 230 W. Cutting again from the meter's excess would take it to ~0 W and the next reading would raise it
    // back (the sawtooth of the second trial): it stays at 1 230 W until the meter shows the cut.
    const input = batteryInput(battery(5_000), {
      grid: { limits: GRID_LIMITS, reading: gridReading({ powerW: -11_200 }, { atMs: NOW_MS - 600 }) },
      readingAtGrid: batteryReading({ powerW: 4_240 }, { atMs: NOW_MS - 900 }),
      reading: batteryReading({ powerW: 1_230 }, { atMs: NOW_MS - 100 }),
      lastApplied: { setpoint: battery(1_230), atMs: NOW_MS - 800 },
    });
    expect(arbitrate(input).setpoint).toEqual(battery(1_230));
  });
});

describe('pv-limit', () => {
  it.each<Case>([
    {
      name: 'within rating → applied',
      input: pvInput({ kind: 'pv-limit', maxPowerW: 5_000 }),
      setpoint: { kind: 'pv-limit', maxPowerW: 5_000 },
      outcome: 'applied',
      codes: [],
    },
    {
      name: 'above rating → rating',
      input: pvInput({ kind: 'pv-limit', maxPowerW: 9_000 }),
      setpoint: { kind: 'pv-limit', maxPowerW: 8_000 },
      outcome: 'clamped',
      codes: ['pv-rated-power'],
    },
    {
      name: '0 → applied',
      input: pvInput({ kind: 'pv-limit', maxPowerW: 0 }),
      setpoint: { kind: 'pv-limit', maxPowerW: 0 },
      outcome: 'applied',
      codes: [],
    },
    {
      name: 'negative → rejected',
      input: pvInput({ kind: 'pv-limit', maxPowerW: -1 }),
      setpoint: SAFE_SETPOINT,
      outcome: 'rejected',
      codes: ['invalid-value'],
    },
  ])('$name', run);
});

describe('ramp-rate', () => {
  const last = (powerW: number, agoMs: number) => ({
    lastApplied: { setpoint: battery(powerW), atMs: NOW_MS - agoMs },
  });
  it.each<Case>([
    {
      name: 'from 0 W, 2 s ago, 1 kW/s → 2 kW',
      input: batteryInput(battery(5_000), last(0, 2_000)),
      setpoint: battery(2_000),
      outcome: 'clamped',
      codes: ['ramp-rate'],
    },
    {
      name: 'from 1 kW, 1 s ago → up to 2 kW',
      input: batteryInput(battery(5_000), last(1_000, 1_000)),
      setpoint: battery(2_000),
      outcome: 'clamped',
      codes: ['ramp-rate'],
    },
    {
      name: 'charging ramps too',
      input: batteryInput(battery(-4_000), last(-1_000, 1_000)),
      setpoint: battery(-2_000),
      outcome: 'clamped',
      codes: ['ramp-rate'],
    },
    {
      name: 'towards 0 is never limited',
      input: batteryInput(battery(0), last(5_000, 100)),
      setpoint: battery(0),
      outcome: 'applied',
      codes: [],
    },
    {
      name: 'a smaller magnitude is never limited',
      input: batteryInput(battery(1_000), last(5_000, 100)),
      setpoint: battery(1_000),
      outcome: 'applied',
      codes: [],
    },
    {
      name: 'a reversal passes through 0',
      input: batteryInput(battery(-3_000), last(4_000, 1_000)),
      setpoint: battery(0),
      outcome: 'clamped',
      codes: ['ramp-rate'],
    },
    {
      name: 'no last setpoint → starts from 0 W now',
      input: batteryInput(battery(3_000), { lastApplied: undefined }),
      setpoint: battery(0),
      outcome: 'clamped',
      codes: ['ramp-rate'],
    },
    {
      name: 'last setpoint was safe → starts from 0 W',
      input: batteryInput(battery(3_000), { lastApplied: { setpoint: SAFE_SETPOINT, atMs: NOW_MS - 1_000 } }),
      setpoint: battery(1_000),
      outcome: 'clamped',
      codes: ['ramp-rate'],
    },
    {
      name: 'a ramp start never loosens a last setpoint that is there',
      input: batteryInput(battery(5_000), { ...last(1_000, 0), rampFrom: { setpoint: battery(3_000), atMs: NOW_MS } }),
      setpoint: battery(1_000),
      outcome: 'clamped',
      codes: ['ramp-rate'],
    },
    {
      name: 'a ramp start tightens the last setpoint',
      input: batteryInput(battery(5_000), { ...last(0, 10_000), rampFrom: { setpoint: battery(3_000), atMs: NOW_MS } }),
      setpoint: battery(3_000),
      outcome: 'clamped',
      codes: ['ramp-rate'],
    },
    {
      name: 'without a last setpoint (a failed write) the ramp start takes its place; a reading of 4 kW does not loosen it',
      input: batteryInput(battery(5_000), {
        lastApplied: undefined,
        rampFrom: { setpoint: battery(1_000), atMs: NOW_MS - 1_000 },
        reading: batteryReading({ powerW: 4_000 }),
      }),
      setpoint: battery(2_000),
      outcome: 'clamped',
      codes: ['ramp-rate'],
    },
    {
      name: 'last setpoint in the future → no elapsed time',
      input: batteryInput(battery(3_000), last(1_000, -5_000)),
      setpoint: battery(1_000),
      outcome: 'clamped',
      codes: ['ramp-rate'],
    },
    {
      name: 'no ramp limit configured → anything',
      input: batteryInput(battery(5_000), {
        asset: { ...BATTERY, battery: { ...BATTERY_LIMITS, maxRampWPerS: undefined } },
        lastApplied: undefined,
      }),
      setpoint: battery(5_000),
      outcome: 'applied',
      codes: [],
    },
    {
      // Re-asserted every 10 s, a held setpoint's last write can be 9 s old: that must not earn a 9-s step.
      name: 'credits at most maxRampIntervalMs: held at 0 W for 9 s, 1 kW/s, 1.5 s → 1.5 kW',
      input: batteryInput(battery(5_000), { ...last(0, 9_000), options: { maxRampIntervalMs: 1_500 } }),
      setpoint: battery(1_500),
      outcome: 'clamped',
      codes: ['ramp-rate'],
    },
  ])('$name', run);
});

describe('several rules at once', () => {
  it('reports every rule that narrowed, in rule order', () => {
    const result = arbitrate(
      batteryInput(battery(9_000), {
        reading: batteryReading({ maxDischargePowerW: 4_000, batteryVoltageV: 30 }),
        lastApplied: { setpoint: battery(0), atMs: NOW_MS - 2_000 },
      }),
    );
    expect(result.setpoint).toEqual(battery(2_000));
    expect(result.violations.map((v) => v.code)).toEqual(['max-discharge-power', 'max-discharge-current', 'ramp-rate']);
  });
});

describe('each rule alone', () => {
  it.each(RULES.map((rule) => [rule.name, rule] as const))('%s passes a harmless request', (_name, rule) => {
    expect(
      arbitrateWith(
        [rule],
        batteryInput(battery(500), { lastApplied: { setpoint: battery(500), atMs: NOW_MS - 1_000 } }),
      ).outcome,
    ).toBe('applied');
  });
});
