import { localMonthKey } from './local-time';
import { type SimTariff, stepPrices } from './tariff';

const MS_PER_HOUR = 3_600_000;
const QUARTER_HOUR_MS = 900_000;
const WH_PER_MWH = 1_000_000;

/** One metering quarter hour: its mean import is Σ weight × importW of the steps it overlaps. */
export interface DemandBlock {
  /** Local calendar month ('YYYY-MM') the quarter hour is billed in. */
  readonly month: string;
  /** Step indexes and weights (sum 1) whose weighted import is the quarter hour's mean import. */
  readonly terms: readonly { readonly index: number; readonly weight: number }[];
}

/**
 * The distinct metering quarter hours (aligned to UTC quarter hours, which are local quarter hours in every
 * zone) of `count` steps of stepMs starting at startMs. Steps of 15 min or longer give one block per step;
 * a partial quarter at either end averages over the part covered.
 */
export function demandBlocks(startMs: number, stepMs: number, count: number, timezone: string): DemandBlock[] {
  const endMs = startMs + count * stepMs;
  const blocks = new Map<string, DemandBlock>();
  for (let q = Math.floor(startMs / QUARTER_HOUR_MS) * QUARTER_HOUR_MS; q < endMs; q += QUARTER_HOUR_MS) {
    const fromMs = Math.max(q, startMs);
    const toMs = Math.min(q + QUARTER_HOUR_MS, endMs);
    const coveredMs = toMs - fromMs;
    const first = Math.floor((fromMs - startMs) / stepMs);
    const last = Math.ceil((toMs - startMs) / stepMs) - 1;
    const terms: { index: number; weight: number }[] = [];
    for (let index = first; index <= last; index++) {
      const overlapMs = Math.min(toMs, startMs + (index + 1) * stepMs) - Math.max(fromMs, startMs + index * stepMs);
      if (overlapMs > 0) terms.push({ index, weight: overlapMs / coveredMs });
    }
    const month = localMonthKey(fromMs, timezone);
    const key = `${month}|${terms.map((t) => `${t.index}:${t.weight}`).join(',')}`;
    if (!blocks.has(key)) blocks.set(key, { month, terms });
  }
  return [...blocks.values()];
}

/** What one step contributes to the bill. */
export interface CostStep {
  /** Step start, epoch ms. */
  readonly atMs: number;
  /** Mean grid power, W: + = import, − = export. */
  readonly gridPowerW: number;
  /** Mean battery power, W: + = discharge, − = charge (for the wear cost). */
  readonly batteryPowerW: number;
  /** Day-ahead spot price of the step, EUR/MWh. */
  readonly spotEurPerMwh: number;
}

/** Highest quarter-hour import of one local calendar month and its charge. */
export interface MonthlyPeak {
  /** 'YYYY-MM', local time of the site. */
  readonly month: string;
  /** Highest 15-min mean import, W. */
  readonly peakImportW: number;
  /** peakDemandEurPerKw × peak (VAT excluded), EUR. */
  readonly chargeEur: number;
}

/** A bill split into its components, EUR (positive = the site pays, except feedInEur = the site earns). */
export interface CostBreakdown {
  /** Energy component of imports (spot, ToU or fixed), VAT excluded. */
  readonly energyEur: number;
  readonly energyTaxEur: number;
  readonly gridFeeEur: number;
  /** Monthly peak-demand charges, VAT excluded. */
  readonly peakDemandEur: number;
  /** VAT on energy, tax, grid fee and peak demand. */
  readonly vatEur: number;
  /** Feed-in compensation earned for exports (negative when exporting costs money). */
  readonly feedInEur: number;
  /** Battery wear. */
  readonly wearEur: number;
  /** energy + tax + fee + peak + VAT − feed-in + wear. */
  readonly totalEur: number;
  /** Wh imported. */
  readonly importWh: number;
  /** Wh exported (≥ 0). */
  readonly exportWh: number;
  /** Wh charged plus discharged at the battery's AC terminal. */
  readonly batteryThroughputWh: number;
  readonly monthlyPeaks: readonly MonthlyPeak[];
}

/** Monthly highest quarter-hour import (W) of a series of step imports (W, ≥ 0). */
export function monthlyPeakImportsW(blocks: readonly DemandBlock[], importW: readonly number[]): Map<string, number> {
  const peaks = new Map<string, number>();
  for (const block of blocks) {
    const meanW = block.terms.reduce((sum, t) => sum + t.weight * (importW[t.index] ?? 0), 0);
    peaks.set(block.month, Math.max(peaks.get(block.month) ?? 0, meanW));
  }
  return peaks;
}

/**
 * The bill of a run: steps of stepMs each (regular, consecutive). The peak-demand charge is billed per local
 * calendar month on its highest 15-min mean import; a month only partly in the run is billed in full.
 */
export function computeCost(
  steps: readonly CostStep[],
  stepMs: number,
  tariff: SimTariff,
  timezone: string,
): CostBreakdown {
  const hours = stepMs / MS_PER_HOUR;
  const vat = tariff.vatPct / 100;
  let energyEur = 0;
  let energyTaxEur = 0;
  let gridFeeEur = 0;
  let feedInEur = 0;
  let wearEur = 0;
  let importWh = 0;
  let exportWh = 0;
  let batteryThroughputWh = 0;
  const importW: number[] = [];
  for (const step of steps) {
    const prices = stepPrices(step.atMs, stepMs, step.spotEurPerMwh, tariff, timezone);
    const inWh = Math.max(0, step.gridPowerW) * hours;
    const outWh = Math.max(0, -step.gridPowerW) * hours;
    const cycledWh = Math.abs(step.batteryPowerW) * hours;
    importW.push(Math.max(0, step.gridPowerW));
    importWh += inWh;
    exportWh += outWh;
    batteryThroughputWh += cycledWh;
    energyEur += (prices.energyEurPerMwh * inWh) / WH_PER_MWH;
    energyTaxEur += (tariff.energyTaxEurPerMwh * inWh) / WH_PER_MWH;
    gridFeeEur += (tariff.gridFeeEurPerMwh * inWh) / WH_PER_MWH;
    feedInEur += (prices.exportEurPerMwh * outWh) / WH_PER_MWH;
    wearEur += (tariff.batteryWearEurPerMwh * cycledWh) / WH_PER_MWH;
  }
  const first = steps[0];
  const peaks =
    first && tariff.peakDemandEurPerKw > 0
      ? monthlyPeakImportsW(demandBlocks(first.atMs, stepMs, steps.length, timezone), importW)
      : new Map<string, number>();
  const monthlyPeaks = [...peaks.entries()].map(([month, peakImportW]) => ({
    month,
    peakImportW,
    chargeEur: (tariff.peakDemandEurPerKw * peakImportW) / 1000,
  }));
  const peakDemandEur = monthlyPeaks.reduce((sum, p) => sum + p.chargeEur, 0);
  const vatEur = vat * (energyEur + energyTaxEur + gridFeeEur + peakDemandEur);
  return {
    energyEur,
    energyTaxEur,
    gridFeeEur,
    peakDemandEur,
    vatEur,
    feedInEur,
    wearEur,
    totalEur: energyEur + energyTaxEur + gridFeeEur + peakDemandEur + vatEur - feedInEur + wearEur,
    importWh,
    exportWh,
    batteryThroughputWh,
    monthlyPeaks,
  };
}
