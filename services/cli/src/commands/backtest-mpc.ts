import {
  type BacktestContext,
  type LpConstraint,
  type LpTerm,
  type ScheduleEvaluation,
  evaluateSchedule,
  forecastAt,
  localMonthKey,
  selfDischargeFraction,
  stepPrices,
  stepSite,
  toLpText,
} from '@voltimax/sim';
import type { Highs } from 'highs';

const MS_PER_HOUR = 3_600_000;

/** The outcome of the information-limited LP reference. */
export interface MpcReference {
  /** The realized schedule replayed and billed like every run. */
  readonly evaluation: ScheduleEvaluation;
  /** LPs solved (one per step). */
  readonly solves: number;
  /** Steps whose LP did not solve (the battery idled in them). */
  readonly failedSolves: number;
}

/**
 * The yardstick of what *the information the strategies get* allows: an exact LP planner (the optimum's cost model:
 * import/feed-in prices, wear, monthly peak with the peak reached so far as a floor) re-solved at every step over the
 * forecast horizon with the same inputs a strategy sees — the measured net demand of the step itself, the
 * `--forecast` net demand after it (persistence: yesterday), the prices known at that instant — and only its first
 * step applied (model-predictive control). With a perfect forecast and perfect prices it reaches the optimum; the gap
 * it leaves with persistence is the price of not knowing load and PV. Grid limits and the reserve are ignored, as in
 * the optimum. One LP per step (≈ 20–40 ms each): minutes for 61 days.
 */
export function mpcReference(ctx: BacktestContext, highs: Highs, onProgress?: (done: number, total: number) => void): MpcReference {
  const { periodSeries, fullSeries, firstIndex, battery, options, priceBook } = ctx;
  const { tariff } = ctx.input;
  const timezone = ctx.input.site.timezone;
  const stepMs = periodSeries.stepMs;
  const hours = stepMs / MS_PER_HOUR;
  const horizonSteps = Math.max(1, Math.round(options.forecastHorizonMs / stepMs));
  const keep = 1 - selfDischargeFraction(battery, stepMs);
  const capacityKwh = battery.capacityWh / 1000;
  const minKwh = (battery.minSocPct / 100) * capacityKwh;
  const maxKwh = (battery.maxSocPct / 100) * capacityKwh;
  const chargeMaxKw = battery.maxChargePowerW / 1000;
  const dischargeMaxKw = battery.maxDischargePowerW / 1000;
  const wear = tariff.batteryWearEurPerMwh * hours;
  const peakCoef = tariff.peakDemandEurPerKw * (1 + tariff.vatPct / 100) * 1000;
  const source = {
    stepMs,
    startMs: fullSeries.points[0]?.atMs ?? 0,
    loadW: fullSeries.points.map((p) => p.loadW),
    pvW: fullSeries.points.map((p) => p.pvW),
  };
  const count = periodSeries.points.length;
  const monthPeaksKw = new Map<string, number>();
  const schedule: number[] = [];
  let state = { atMs: periodSeries.points[0]?.atMs ?? 0, socPct: options.initialSocPct, evDeliveredWh: {} as Record<string, number> };
  let failedSolves = 0;

  for (let k = 0; k < count; k++) {
    const point = periodSeries.points[k];
    if (!point) break;
    const known = priceBook.knownAt(point.atMs);
    const priceAt = (atMs: number): number | undefined => known.find((p) => p.startMs <= atMs && atMs < p.endMs)?.eurPerMwh;
    const forecast = forecastAt(source, firstIndex + k, options.forecast, horizonSteps);
    const objective: LpTerm[] = [];
    const constraints: LpConstraint[] = [];
    const bounds: { name: string; lower?: number; upper?: number }[] = [];
    const peaks = new Map<string, string>();
    for (let t = 0; t < horizonSteps && k + t < count; t++) {
      const atMs = point.atMs + t * stepMs;
      const spot = priceAt(atMs);
      if (spot === undefined) break;
      const netW = t === 0 ? point.loadW - point.pvW : forecast ? (forecast.loadW[t] ?? 0) - (forecast.pvW[t] ?? 0) : 0;
      const netKw = netW / 1000;
      const prices = stepPrices(atMs, stepMs, spot, tariff, timezone);
      const [c, d, i, x, s] = [`c${t}`, `d${t}`, `i${t}`, `x${t}`, `s${t}`];
      objective.push(
        { coef: prices.importEurPerMwh * hours, name: i },
        { coef: -prices.exportEurPerMwh * hours, name: x },
        { coef: wear, name: c },
        { coef: wear, name: d },
      );
      constraints.push({ name: `b${t}`, terms: [{ coef: 1, name: i }, { coef: -1, name: x }, { coef: -1, name: c }, { coef: 1, name: d }], sense: '=', rhs: netKw });
      const soc: LpTerm[] = [{ coef: 1, name: s }, { coef: -battery.chargeEfficiency * hours, name: c }, { coef: hours / battery.dischargeEfficiency, name: d }];
      if (t > 0) soc.push({ coef: -keep, name: `s${t - 1}` });
      constraints.push({ name: `q${t}`, terms: soc, sense: '=', rhs: t === 0 ? keep * (state.socPct / 100) * capacityKwh : 0 });
      bounds.push(
        { name: c, upper: chargeMaxKw },
        { name: d, upper: dischargeMaxKw },
        { name: i, upper: Math.max(0, netKw + chargeMaxKw) },
        { name: x, upper: Math.max(0, -netKw + dischargeMaxKw) },
        { name: s, lower: minKwh, upper: maxKwh },
      );
      if (peakCoef > 0) {
        // Steps are the metering quarter hours here, so a step's import is its block's mean.
        const month = localMonthKey(atMs, timezone);
        let pk = peaks.get(month);
        if (!pk) {
          pk = `p${peaks.size}`;
          peaks.set(month, pk);
          objective.push({ coef: peakCoef, name: pk });
          bounds.push({ name: pk, lower: monthPeaksKw.get(month) ?? 0 });
        }
        constraints.push({ name: `pk${t}`, terms: [{ coef: 1, name: pk }, { coef: -1, name: i }], sense: '>=', rhs: 0 });
      }
    }
    let powerW = 0;
    if (constraints.length > 0) {
      const result = highs.solve(toLpText({ objective, constraints, bounds, binaries: [] }), { output_flag: false });
      if (result.Status === 'Optimal') {
        const value = (name: string): number => {
          const column = result.Columns[name];
          return column && 'Primal' in column ? column.Primal : 0;
        };
        powerW = (value('d0') - value('c0')) * 1000;
      } else {
        failedSolves++;
      }
    }
    const next = stepSite(state, { batteryPowerW: powerW }, stepMs, { model: { battery, evSessions: [] }, loadW: point.loadW, pvW: point.pvW, gridFrequencyHz: 50 });
    schedule.push(next.flows.batteryPowerW);
    const month = localMonthKey(point.atMs, timezone);
    monthPeaksKw.set(month, Math.max(monthPeaksKw.get(month) ?? 0, Math.max(0, next.flows.gridPowerW) / 1000));
    state = { ...next.state, atMs: point.atMs + stepMs };
    if (onProgress && (k + 1) % 96 === 0) onProgress(k + 1, count);
  }
  return { evaluation: evaluateSchedule(periodSeries, schedule, battery, tariff, ctx.sim), solves: count, failedSolves };
}
