import { type CostBreakdown, computeCost } from './cost';
import { assertTimezone } from './local-time';
import type { SiteSeries } from './series';
import {
  type BatteryModel,
  BatteryModelSchema,
  type EvCharger,
  type EvSession,
  type SiteFlows,
  type SiteModel,
  type SiteState,
  evStepPowerW,
  stepSite,
} from './site';
import type { SimTariff } from './tariff';

const MS_PER_HOUR = 3_600_000;
const DEFAULT_FREQUENCY_HZ = 50;
/** SoC tolerance when checking the start of a run against the window, %. */
const SOC_TOLERANCE_PCT = 1e-9;

/** Site and run settings shared by evaluateSchedule and solveOptimum. */
export interface SimOptions {
  /** IANA time zone of the site, e.g. 'Europe/Paris' (ToU periods, months of the peak-demand charge). */
  readonly timezone: string;
  /** Battery SoC at the start of the first step, %; must lie in [minSocPct, maxSocPct]. */
  readonly initialSocPct: number;
  /** The site's EV charger; absent = no EV. */
  readonly evCharger?: EvCharger;
  /** EV sessions; they charge uncontrolled (session maximum current from arrival). */
  readonly evSessions?: readonly EvSession[];
  /** Grid frequency fed to the site model, Hz; default 50. */
  readonly gridFrequencyHz?: number;
}

/** One replayed step. */
export interface ReplayStep {
  /** Step start, epoch ms. */
  readonly atMs: number;
  readonly flows: SiteFlows;
  /** SoC at the end of the step, %. */
  readonly socPct: number;
}

/** A schedule run through the site model and billed. */
export interface ScheduleEvaluation {
  readonly steps: readonly ReplayStep[];
  readonly cost: CostBreakdown;
  readonly finalState: SiteState;
  /** Steps where the battery could not follow the schedule (limits, SoC window). */
  readonly limitedSteps: number;
}

/** Validated battery and site model for a run; throws on a configuration error (bad battery, zone, SoC). */
export function prepareRun(battery: BatteryModel, opts: SimOptions): SiteModel {
  const parsed = BatteryModelSchema.parse(battery);
  assertTimezone(opts.timezone);
  if (
    !Number.isFinite(opts.initialSocPct) ||
    opts.initialSocPct < parsed.minSocPct - SOC_TOLERANCE_PCT ||
    opts.initialSocPct > parsed.maxSocPct + SOC_TOLERANCE_PCT
  ) {
    throw new RangeError(
      `initialSocPct ${opts.initialSocPct} is outside the battery window [${parsed.minSocPct}, ${parsed.maxSocPct}]`,
    );
  }
  return {
    battery: parsed,
    ...(opts.evCharger ? { evCharger: opts.evCharger } : {}),
    evSessions: opts.evSessions ?? [],
  };
}

/** Mean EV power per step (W) of uncontrolled charging over the series, as stepSite produces it. */
export function evProfileW(series: SiteSeries, model: SiteModel): number[] {
  const profile: number[] = [];
  const delivered: Record<string, number> = {};
  for (const point of series.points) {
    const state: SiteState = { atMs: point.atMs, socPct: 0, evDeliveredWh: delivered };
    const { evW, session } = evStepPowerW(model, state, undefined, series.stepMs);
    if (session) delivered[session.id] = (delivered[session.id] ?? 0) + (evW * series.stepMs) / MS_PER_HOUR;
    profile.push(evW);
  }
  return profile;
}

/**
 * Replays a battery schedule (W per step, + = discharge) through stepSite over the series and bills the
 * resulting flows with the cost model. The battery may deviate from the schedule where its limits say so.
 */
export function evaluateSchedule(
  series: SiteSeries,
  batteryPowerW: readonly number[],
  battery: BatteryModel,
  tariff: SimTariff,
  opts: SimOptions,
): ScheduleEvaluation {
  if (batteryPowerW.length !== series.points.length) {
    throw new RangeError(`schedule has ${batteryPowerW.length} steps, series has ${series.points.length}`);
  }
  const model = prepareRun(battery, opts);
  const first = series.points[0];
  let state: SiteState = { atMs: first?.atMs ?? 0, socPct: opts.initialSocPct, evDeliveredWh: {} };
  const steps: ReplayStep[] = [];
  let limitedSteps = 0;
  series.points.forEach((point, k) => {
    const next = stepSite({ ...state, atMs: point.atMs }, { batteryPowerW: batteryPowerW[k] ?? 0 }, series.stepMs, {
      model,
      loadW: point.loadW,
      pvW: point.pvW,
      gridFrequencyHz: opts.gridFrequencyHz ?? DEFAULT_FREQUENCY_HZ,
    });
    if (next.flows.batteryLimit !== 'none') limitedSteps++;
    steps.push({ atMs: point.atMs, flows: next.flows, socPct: next.state.socPct });
    state = next.state;
  });
  const cost = computeCost(
    steps.map((s, k) => ({
      atMs: s.atMs,
      gridPowerW: s.flows.gridPowerW,
      batteryPowerW: s.flows.batteryPowerW,
      spotEurPerMwh: series.points[k]?.priceEurPerMwh ?? Number.NaN,
    })),
    series.stepMs,
    tariff,
    opts.timezone,
  );
  return { steps, cost, finalState: state, limitedSteps };
}
