import type { StrategyName } from '@voltimax/contracts';
import { type BatteryModelInput, type SimTariffInput } from '@voltimax/sim';
import type { GridLimits } from '@voltimax/strategies';

/** The shared development data set (a sibling of the repository, see ../shared/data/README.md). */
export const DEFAULT_DATA_FILE = '../shared/data/fr_lorraine_household_202404_202405_30min.csv';

/** Site time zone of the development data (Lorraine, France). */
export const DEFAULT_TIMEZONE = 'Europe/Paris';

/** 10 kWh / 5 kW home battery, 95 % efficient each way, SoC window 10–95 %, no self-discharge. */
export const DEFAULT_BATTERY: BatteryModelInput = {
  capacityWh: 10_000,
  maxChargePowerW: 5_000,
  maxDischargePowerW: 5_000,
  minSocPct: 10,
  maxSocPct: 95,
  chargeEfficiency: 0.95,
  dischargeEfficiency: 0.95,
  selfDischargePctPerDay: 0,
};

/** Single-phase household connection: 9 kW import (9 kVA subscription), 6 kW export. */
export const DEFAULT_GRID_LIMITS: GridLimits = {
  maxImportW: 9_000,
  maxExportW: 6_000,
  phases: 1,
  nominalVoltageV: 230,
};

const TAXES = { energyTaxEurPerMwh: 100, gridFeeEurPerMwh: 50, vatPct: 21 } as const;

/** Built-in tariffs (`--tariff <name>`). Every one bills battery wear at 20 EUR/MWh of throughput. */
export const TARIFF_PRESETS = {
  /** Day-ahead spot + 100 energy tax + 50 grid fee, 21 % VAT; feed-in paid at spot; 4 EUR/kW monthly peak charge. */
  dynamic: { kind: 'dynamic', ...TAXES, feedIn: { rule: 'spot' }, peakDemandEurPerKw: 4, batteryWearEurPerMwh: 20 },
  /**
   * The same with a two-period time-of-use energy price instead of spot (French "heures creuses" style):
   * 22:00–06:00 60 EUR/MWh, 06:00–22:00 140 EUR/MWh, every day.
   */
  tou: {
    kind: 'time-of-use',
    ...TAXES,
    touPeriods: [
      { from: '22:00', to: '06:00', days: [0, 1, 2, 3, 4, 5, 6], eurPerMwh: 60 },
      { from: '06:00', to: '22:00', days: [0, 1, 2, 3, 4, 5, 6], eurPerMwh: 140 },
    ],
    feedIn: { rule: 'spot' },
    peakDemandEurPerKw: 4,
    batteryWearEurPerMwh: 20,
  },
  /** A market battery: buys and sells at the spot price, no taxes, fees or peak charge (pure arbitrage). */
  market: { kind: 'dynamic', feedIn: { rule: 'spot' }, batteryWearEurPerMwh: 20 },
} as const satisfies Record<string, SimTariffInput>;
export type TariffPreset = keyof typeof TARIFF_PRESETS;

/**
 * Config blocks the backtest uses when the user gives none: only what a strategy needs to run (every other key takes
 * the strategy's own default). PeakShaving runs in its 'forecast' mode, which sizes its target itself (the fixed and
 * monthly-peak modes need a hand-picked thresholdW); GridServices needs a reserved power (it idles at the constant
 * 50 Hz of the simulation anyway).
 */
export const DEFAULT_STRATEGY_CONFIGS: Readonly<Partial<Record<StrategyName, Record<string, unknown>>>> = {
  'peak-shaving': { mode: 'forecast' },
  'grid-services': { frequencyResponse: { reservedPowerW: 2_500 } },
};

/**
 * Decision interval used inside each 15-min step when `--substep auto`: NetZero is a PI controller tuned for the
 * engine's 1-s tick (the discrete loop gain kp + ki·dt must stay below 2·(1 − kp) ≈ 1.2, i.e. dt ≲ 2 s with the
 * defaults kp = ki = 0.4; at 10 s or more it swings between the power limits), so it runs at 2 s. Every other strategy
 * decides once per step (PeakShaving integrates the 15-min import from readings of any spacing).
 */
export const AUTO_SUBSTEP_MS: Readonly<Partial<Record<StrategyName, number>>> = {
  'net-zero': 2_000,
};
