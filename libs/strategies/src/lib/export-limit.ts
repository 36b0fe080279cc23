import type { Setpoint } from '@voltimax/contracts';
import { isGridStale, isStale } from './battery';
import type { PvInverterState, SiteState } from './site-state';
import { finiteValues, type MetricValues, type StrategySetpoints } from './strategy';

/**
 * The feed-in limit: PV curtailment that keeps the export under the grid connection's `maxExportW` when the
 * batteries cannot take the surplus (full, at their charge limit, or none). It is not a strategy one may leave out:
 * `combine` runs it last, after the battery set-points are final, on every site with curtailable PV inverters
 * (`SiteState.pvInverters`). The arbiter cannot do it (it never raises a PV limit, and a limit is only ever a
 * narrowing of what the inverter would do anyway), and without it a full battery on a sunny day exports whatever
 * the roof makes.
 *
 * A controller on the projected grid power (the grid reading moved by the change the battery set-points ask):
 * - **start** when the projected export exceeds the target (`maxExportW − margin`) by more than half the margin: the
 *   PV limit is the PV power minus the excess over the target;
 * - **follow** while curtailing: whenever the projected export is that far over the target the limit falls at once to
 *   the PV power minus the excess (the load dropped, the battery filled) — in proportion to the excess when the
 *   inverters have had `followMs` and still make more than the limit —; while it is under, the limit rises by the
 *   headroom less a quarter margin (a dead band), by at most `maxRiseFraction` of the rating per tick (the PV answers
 *   within seconds; a whole roof released at once would overshoot), and not by less than `minStepFraction` of it (no
 *   write per tick) — each tick while the limit binds (some inverter makes its share, within `bindingFraction` of its
 *   rating), else at most once an `idleRiseMs`: under a cloud a rise each tick would change nothing the PV makes, cost
 *   writes (many inverters keep the limit in non-volatile memory) and let the export overshoot when the sun comes
 *   back; it still rises, so a limit no inverter reaches (the evening, a rating smaller than configured) is released;
 * - **release** once even the inverters' full rating would keep the export under the target, or the limit has risen
 *   to the rating: no set-point any more, the engine's intent expires and the arbiter writes the PV inverter's safe
 *   state (unlimited).
 * The grid and the inverters are read at other moments: the grid reading is paired with each inverter's readings
 * either side of it, bounded by the limits sent in between (`pvAtGrid`), and one taken before the last change is not
 * acted on (held until the grid is read after it).
 * The total limit is shared out in proportion to the inverters' ratings. The export that counts is the larger of the
 * measured one and the one the battery set-points would leave (a battery asked to charge may not). A stale grid
 * reading holds a limit in force (and starts none); a stale inverter is left alone (its power still counts in the
 * grid reading; its intent expires).
 */

/** The curtailment's memory (plain JSON, kept by the engine between ticks and across a quick restart). */
export interface ExportLimitMemory {
  /** The total PV limit sent last, W; absent while not curtailing. */
  readonly limitW?: number;
  /**
   * When it was sent, epoch ms. It binds the inverters until its intents expire (`limitInForceMs`); an older one no
   * longer does (the arbiter has released the inverters) and counts as none. Absent: taken as just sent.
   */
  readonly sentAtMs?: number;
  /** When the limit last changed value, epoch ms (the inverters get `followMs` to follow a change). */
  readonly changedAtMs?: number;
  /** When some inverter last ran at its share of the limit, epoch ms (an idle limit rises once an `idleRiseMs`). */
  readonly boundAtMs?: number;
  /**
   * The limits sent lately, oldest first: each in force from `atMs` until the next (`limitW` absent: none, the
   * inverters released). Kept for as long as a reading may be used (`maxReadingAgeMs` and `followMs`), so the PV a
   * reading shows can be paired with a grid reading taken at another moment. Also kept while not curtailing.
   */
  readonly history?: readonly LimitChange[];
  /**
   * Each curtailable inverter's readings lately (by asset id, oldest first, those of the last `maxReadingAgeMs` and
   * the one before): a grid reading is paired with the inverter's reading taken at or just before it.
   */
  readonly readings?: Readonly<Record<string, readonly PvReading[]>>;
  /**
   * The inverters' total rating the history was kept under, W: the shares of its limits. Another total (an inverter
   * added, gone or back from stale) starts the history afresh — its shares would be wrong.
   */
  readonly historyRatedW?: number;
}

/** What an inverter made (W, ≥ 0) when it was read (epoch ms). */
export interface PvReading {
  readonly atMs: number;
  readonly powerW: number;
}

/** A total PV limit sent at `atMs` (`limitW` absent: none). */
export interface LimitChange {
  readonly atMs: number;
  readonly limitW?: number;
}

export interface ExportLimitOptions {
  /** Readings older than this are stale, ms. */
  readonly maxReadingAgeMs: number;
  /** Aim this far under `maxExportW`, W: the larger of this fraction of the limit and `minMarginW`. */
  readonly marginFraction: number;
  readonly minMarginW: number;
  /** Largest rise of the total limit per tick, as a fraction of the inverters' total rating. */
  readonly maxRiseFraction: number;
  /** Smallest rise worth a new set-point, as a fraction of the total rating. */
  readonly minStepFraction: number;
  /**
   * An inverter making its share of the limit less this fraction of its rating (or more) runs at the limit: the limit
   * binds, and may rise. Covers a device that applies whole percent below the share, and meter noise.
   */
  readonly bindingFraction: number;
  /**
   * How long a limit sent stays in force at the inverters without being sent again, ms: the engine's intent TTL
   * (after it the arbiter writes the inverters' safe state, unlimited).
   */
  readonly limitInForceMs: number;
  /** A limit that does not bind rises at most once in this long, ms. */
  readonly idleRiseMs: number;
  /**
   * Time the inverters get to follow (and ramp to) a limit, ms. When together they still make more than the limit in
   * readings taken that long after it last changed (some are larger than their configured `ratedPowerW`), the limit
   * is cut in proportion to the excess.
   */
  readonly followMs: number;
}

export const DEFAULT_EXPORT_LIMIT_OPTIONS: ExportLimitOptions = {
  maxReadingAgeMs: 15_000,
  marginFraction: 0.02,
  minMarginW: 50,
  maxRiseFraction: 0.1,
  minStepFraction: 0.01,
  bindingFraction: 0.02,
  limitInForceMs: 3_000,
  idleRiseMs: 60_000,
  followMs: 5_000,
};

export type ExportLimitReason = 'no-curtailable-pv' | 'stale-data' | 'within-limit' | 'curtailing' | 'released';

/**
 * What a curtailing tick did with the limit: `start` (none was in force), `fall` (too much export: PV less the
 * excess), `cut` (the inverters stay above the limit after `followMs`: cut in proportion), `rise` (headroom, the
 * limit binds or has been idle for `idleRiseMs`), `hold` (unchanged: inside the dead band, an idle limit not yet due
 * to rise, or inverters still ramping down to it). A stale grid reading reports `stale-data`, no step.
 */
export type CurtailStep = 'start' | 'fall' | 'cut' | 'rise' | 'hold';

/** The feed-in limit's `strategy.decision.export-limit` record: what it measured, sent, and why. */
export interface ExportLimitMetrics {
  readonly inputs: MetricValues;
  readonly outputs: MetricValues;
  readonly terms: MetricValues;
  /** An `ExportLimitReason`, or `curtail-<step>` (`CurtailStep`) while curtailing. */
  readonly reason: string;
}

export interface ExportLimitResult {
  /** `pv-limit` per curtailed inverter (none while not curtailing). */
  readonly setpoints: Readonly<Record<string, Setpoint>>;
  readonly memory: ExportLimitMemory;
  readonly reason: ExportLimitReason;
  /** The grid power once the batteries reach their set-points, W, + = import. */
  readonly projectedGridW: number;
  /** The export the curtailment aims under, W. */
  readonly targetExportW: number;
  /** The total PV limit sent, W (absent while not curtailing). */
  readonly limitW?: number;
  /** While curtailing: what this tick did with the limit. */
  readonly step?: CurtailStep;
  /** For `strategy.decision.export-limit` (the engine publishes it on sites with curtailable PV). */
  readonly metrics: ExportLimitMetrics;
}

/** What `decideExport` found besides the result, for the metrics. */
interface ExportLimitTrace {
  /** The limit in force before this tick, W. */
  readonly inForceW?: number;
  /** PV and rating of the inverters curtailed, W. */
  readonly pvW?: number;
  /** What the inverters made when the grid was read, the lower bound (`pvAtGrid`), W. */
  readonly pairedPvW?: number;
  readonly ratedW?: number;
  readonly binds?: boolean;
  /** Since the limit in force last changed, ms. */
  readonly sinceChangeMs?: number;
  /** No grid reading to follow (stale, or no projection): its figures mean nothing. */
  readonly gridStale: boolean;
}

/**
 * Whether the limit in `memory` still binds the inverters at `nowMs` (see `ExportLimitMemory.sentAtMs`). A time
 * ahead of `nowMs` (a clock stepped back) counts as in force for as long: the arbiter keeps such an intent too.
 */
function limitInForce(memory: ExportLimitMemory, nowMs: number, inForceMs: number): number | undefined {
  if (memory.limitW === undefined) return undefined;
  if (memory.sentAtMs === undefined) return memory.limitW;
  const ageMs = nowMs - memory.sentAtMs;
  return Math.abs(ageMs) <= inForceMs ? memory.limitW : undefined;
}

/** The total PV limit and set-points for this tick at `nowMs` (epoch ms), with its metrics; see the module comment. */
export function limitExport(
  state: SiteState,
  batterySetpoints: StrategySetpoints,
  memory: ExportLimitMemory,
  nowMs: number,
  options: ExportLimitOptions = DEFAULT_EXPORT_LIMIT_OPTIONS,
): ExportLimitResult {
  const { trace, ...result } = decideExport(state, batterySetpoints, memory, nowMs, options);
  const ratedW = trace.ratedW;
  // On a stale grid reading the grid figures mean nothing (whatever the reason: with the inverters stale too it is
  // no-curtailable-pv), and a limit held may be of inverters no longer reporting.
  const stale = trace.gridStale;
  const metrics: ExportLimitMetrics = {
    inputs: finiteValues({
      gridW: stale ? undefined : state.gridPowerW,
      projectedGridW: stale ? undefined : result.projectedGridW,
      maxExportW: state.limits.maxExportW,
      pvW: trace.pvW,
      ratedW,
    }),
    outputs: finiteValues({
      limitW: result.limitW,
      limitPct: result.limitW !== undefined && ratedW && !stale ? (100 * result.limitW) / ratedW : undefined,
    }),
    terms: finiteValues({
      targetExportW: result.targetExportW,
      headroomW: stale ? undefined : result.targetExportW + result.projectedGridW,
      pairedPvW: trace.pairedPvW,
      inForceW: trace.inForceW,
      binds: trace.binds === undefined ? undefined : trace.binds ? 1 : 0,
      sinceChangeS: trace.sinceChangeMs === undefined ? undefined : trace.sinceChangeMs / 1_000,
    }),
    reason: result.step === undefined ? result.reason : `curtail-${result.step}`,
  };
  return { ...result, metrics };
}

/**
 * The limits sent lately as the memory has them: an older memory without a history is read as its limit in force
 * since it last changed (what came before unknown; nothing known without `changedAtMs`); a history with a change
 * ahead of the clock (a clock stepped back) is dropped, and one without a limit in force gets none appended, from
 * when its intents lapsed, when its last entry still has one. Pruned to the changes a reading still in use may meet:
 * those in the last `maxReadingAgeMs` and `followMs`, and the one in force before them.
 */
function limitHistory(
  memory: ExportLimitMemory,
  inForceW: number | undefined,
  nowMs: number,
  options: ExportLimitOptions,
): LimitChange[] {
  const { limitW, changedAtMs } = memory;
  const known = limitW === undefined || changedAtMs === undefined ? [] : [{ atMs: changedAtMs, limitW }];
  const kept = memory.history ?? known;
  if (kept.some((change) => change.atMs > nowMs)) return [];
  const history = [...kept];
  // An expired limit: the arbiter released the inverters when its intents lapsed.
  const last = history.at(-1);
  if (inForceW === undefined && last?.limitW !== undefined) {
    history.push({ atMs: Math.min(nowMs, (memory.sentAtMs ?? nowMs) + options.limitInForceMs) });
  }
  const keepFromMs = nowMs - options.maxReadingAgeMs - options.followMs;
  const inForceAt = history.findLastIndex((change) => change.atMs <= keepFromMs);
  return history.slice(Math.max(0, inForceAt));
}

/**
 * The inverters' readings lately with this tick's added (a reading newer than the last kept; one for the same moment
 * replaces it, an older one is left out): those of the last `maxReadingAgeMs` and the one before. An inverter not
 * among `inverters` (stale, gone) keeps none; one with a reading ahead of the clock (a clock stepped back) starts
 * again from this tick's.
 */
function keptReadings(
  memory: ExportLimitMemory,
  inverters: readonly PvInverterState[],
  nowMs: number,
  options: ExportLimitOptions,
): Record<string, PvReading[]> {
  const kept: Record<string, PvReading[]> = {};
  for (const pv of inverters) {
    const earlier = memory.readings?.[pv.assetId] ?? [];
    const list = earlier.some((reading) => reading.atMs > nowMs) ? [] : [...earlier];
    const reading = { atMs: nowMs - pv.ageMs, powerW: Math.max(0, pv.powerW) };
    const lastAtMs = list.at(-1)?.atMs ?? Number.NEGATIVE_INFINITY;
    if (reading.atMs > lastAtMs) list.push(reading);
    else if (reading.atMs === lastAtMs) list[list.length - 1] = reading; // reported again for the same moment
    const before = list.findLastIndex((r) => r.atMs <= nowMs - options.maxReadingAgeMs);
    kept[pv.assetId] = list.slice(Math.max(0, before));
  }
  return kept;
}

/** The history with `limitW` (absent: none) sent at `nowMs`, when it changes the limit in force. */
function withChange(history: readonly LimitChange[], limitW: number | undefined, nowMs: number): LimitChange[] {
  if (history.length > 0 && history.at(-1)?.limitW === limitW) return [...history];
  return [...history, limitW === undefined ? { atMs: nowMs } : { atMs: nowMs, limitW }];
}

/** The changes in force at some moment of [fromMs, toMs]: the one in force at `fromMs` (if known) and those after. */
function limitsDuring(history: readonly LimitChange[], fromMs: number, toMs: number): LimitChange[] {
  const inForceAt = history.findLastIndex((change) => change.atMs <= fromMs);
  return history.slice(Math.max(0, inForceAt)).filter((change) => change.atMs <= toMs);
}

function decideExport(
  state: SiteState,
  batterySetpoints: StrategySetpoints,
  memory: ExportLimitMemory,
  nowMs: number,
  options: ExportLimitOptions,
): Omit<ExportLimitResult, 'metrics'> & { readonly trace: ExportLimitTrace } {
  const inForceW = limitInForce(memory, nowMs, options.limitInForceMs);
  // When the limit in force last changed and last bound; absent: now; a time ahead of the clock counts as now.
  const changedAtMs = Math.min(memory.changedAtMs ?? nowMs, nowMs);
  const boundAtMs = Math.min(memory.boundAtMs ?? changedAtMs, nowMs);
  let history = limitHistory(memory, inForceW, nowMs, options);
  let historyRatedW = memory.historyRatedW;
  let readings: Record<string, PvReading[]> = {};
  /** The memory of a tick that sends `limitW`; `bound`: some inverter runs at its share of the limit in force. */
  const sent = (limitW: number, bound = false): ExportLimitMemory => ({
    limitW,
    sentAtMs: nowMs,
    changedAtMs: limitW === inForceW ? changedAtMs : nowMs,
    boundAtMs: bound ? nowMs : boundAtMs,
    history: withChange(history, limitW, nowMs),
    readings,
    ...(historyRatedW === undefined ? {} : { historyRatedW }),
  });
  /** The memory of a tick that sends no limit (none, or none any more): the history and the readings. */
  const none = (): ExportLimitMemory => ({
    history: withChange(history, undefined, nowMs),
    readings,
    ...(historyRatedW === undefined ? {} : { historyRatedW }),
  });
  const { maxExportW } = state.limits;
  const marginW = Math.max(options.minMarginW, options.marginFraction * maxExportW);
  const targetExportW = maxExportW - marginW;
  let batteryChangeW = 0;
  for (const b of state.batteries) {
    const sp = batterySetpoints[b.assetId];
    if (sp?.kind === 'battery-power' && Number.isFinite(sp.powerW) && Number.isFinite(b.powerW)) batteryChangeW += sp.powerW - b.powerW;
  }
  // More discharge (+) lowers the grid power; more charge raises it. A battery asked to charge more may not (its BMS
  // stops short of full, the arbiter clamps it): the larger export of the measured and the projected one counts.
  const projectedGridW = Math.min(state.gridPowerW, state.gridPowerW - batteryChangeW);
  const sinceChangeMs = inForceW === undefined ? undefined : nowMs - changedAtMs;
  const gridStale = isGridStale(state, options.maxReadingAgeMs) || !Number.isFinite(projectedGridW);
  const base = { projectedGridW, targetExportW, trace: { inForceW, sinceChangeMs, gridStale } as ExportLimitTrace };
  const inverters = (state.pvInverters ?? []).filter(
    (pv) => !isStale(pv, options.maxReadingAgeMs) && Number.isFinite(pv.powerW) && pv.ratedPowerW > 0,
  );
  // None to curtail now (none configured, or none reported yet — just after a restart —, or all stale: the arbiter
  // then sends them safe): a limit sent is kept until it would have expired anyway, and is not sent again.
  if (inverters.length === 0) {
    const rated = historyRatedW === undefined ? {} : { historyRatedW };
    const kept: ExportLimitMemory =
      inForceW === undefined ? { history, readings, ...rated } : { ...memory, history, readings };
    return { ...base, setpoints: {}, memory: kept, reason: 'no-curtailable-pv' };
  }
  readings = keptReadings(memory, inverters, nowMs, options);
  const ratedW = inverters.reduce((sum, pv) => sum + pv.ratedPowerW, 0);
  if (historyRatedW !== ratedW) {
    if (historyRatedW !== undefined) history = [];
    historyRatedW = ratedW;
  }
  base.trace = { ...base.trace, ratedW };
  // Each inverter gets the total in proportion to its rating: a stopped or shaded one keeps its share (and comes
  // back), the shares do not move with measurement noise (no write per tick), and none exceeds its rating.
  const shareW = (pv: PvInverterState, limitW: number): number => (limitW * pv.ratedPowerW) / ratedW;
  const shares = (limitW: number): Record<string, Setpoint> =>
    Object.fromEntries(
      inverters.map((pv) => [pv.assetId, { kind: 'pv-limit', maxPowerW: Math.floor(shareW(pv, limitW)) }]),
    );
  if (gridStale) {
    // Nothing measured to follow: a limit in force stays (releasing it could pass the export limit), none starts.
    if (inForceW === undefined) return { ...base, setpoints: {}, memory: none(), reason: 'stale-data' };
    return { ...base, setpoints: shares(inForceW), memory: sent(inForceW), reason: 'stale-data', limitW: inForceW };
  }

  // What each inverter made when the grid was read. Readings taken at other moments may straddle a limit sent: an
  // inverter read before it followed a fall, the grid after, summed to a PV that would leave the export far under the
  // target, and the limit was released — to be started again at the next reading (with PV read 100 ms after each
  // tick: a start and a release every other second, the export over the limit a quarter of the time). So the grid is
  // paired with the inverter's readings either side of it (`pvAtGrid`).
  const gridAtMs = nowMs - state.gridAgeMs;
  const atGrid = new Map(inverters.map((pv) => [pv.assetId, pvAtGrid(pv)] as const));
  /**
   * An inverter's PV when the grid was read, bounded by its readings either side: the one taken at or before the grid
   * reading, counted for no more than its share of any limit that may have moved it since — those sent after it and
   * before the grid's, and the one in force at it if sent less than followMs before (the inverter may not have
   * followed yet) —, and the one taken after (which shows the sun as it was then; nothing was sent in between, or the
   * tick holds). `lowW`, the lower, releases and rises: counted low, the PV asks for a smaller rise or no release,
   * never for more export. `fallW`, the higher, sizes a fall or a start: the sun come back between the readings must
   * not cut the PV to what it made under the cloud. With no reading at or before the grid's (the first tick), the
   * latest counts.
   */
  function pvAtGrid(pv: PvInverterState, changes = history): { readonly lowW: number; readonly fallW: number } {
    const list = readings[pv.assetId] ?? [];
    const before = list.findLast((reading) => reading.atMs <= gridAtMs);
    if (before === undefined) return { lowW: Math.max(0, pv.powerW), fallW: Math.max(0, pv.powerW) };
    if (before.atMs === gridAtMs) return { lowW: before.powerW, fallW: before.powerW };
    const moving = limitsDuring(changes, before.atMs, gridAtMs).filter(
      (change) => change.atMs < gridAtMs && change.atMs > before.atMs - options.followMs,
    );
    const shares = moving.flatMap((change) => (change.limitW === undefined ? [] : [shareW(pv, change.limitW)]));
    const fromBeforeW = Math.min(before.powerW, ...shares);
    const after = list.find((reading) => reading.atMs > gridAtMs);
    if (after === undefined) return { lowW: fromBeforeW, fallW: fromBeforeW };
    return { lowW: Math.min(fromBeforeW, after.powerW), fallW: Math.max(fromBeforeW, after.powerW) };
  }
  const lowW = (pv: PvInverterState): number => atGrid.get(pv.assetId)?.lowW ?? 0;
  /**
   * The last change, when it was sent less than followMs ago and some inverter it had to move shows no sign of it in
   * its readings up to the grid's: the grid reading may not show it either, and a further change the same way would
   * count the same excess (or headroom) twice — with an inverter applying limits 2.5 s after they are sent the falls
   * doubled, and on a 10 W export limit an inverter applying after 1.2 s cycled 0 → 127 → 0 W every 6 s. An inverter
   * had to move when its reading before the change was more than a step (minStepFraction of its rating, or a quarter
   * of the change where that is less) beyond its new share — for a rise, only one running at its old share (within
   * the binding band) —; it shows the change in a reading past halfway from there. One not read before the change
   * (after a restart) is not counted.
   */
  function unseenChange(): 'fall' | 'rise' | undefined {
    const last = history.at(-1);
    if (last === undefined || nowMs - last.atMs >= options.followMs) return undefined;
    const newW = last.limitW ?? ratedW;
    const oldW = history.at(-2)?.limitW ?? ratedW;
    if (newW === oldW) return undefined;
    const falls = newW < oldW;
    const unseen = inverters.some((pv) => {
      const list = readings[pv.assetId] ?? [];
      if (!follows(pv, list)) return false;
      const prior = list.findLast((reading) => reading.atMs <= last.atMs);
      // Not read before the change (a restart's memory knows no earlier limit): nothing to tell a move from.
      if (prior === undefined) return false;
      const toW = shareW(pv, newW);
      const fromW = shareW(pv, oldW);
      // A move worth telling: a step, or a quarter of the change where that is less (a site with a small limit).
      const stepW = Math.min(options.minStepFraction * pv.ratedPowerW, Math.abs(toW - fromW) / 4);
      const mustMove = falls
        ? prior.powerW > toW + stepW
        : prior.powerW >= fromW - options.bindingFraction * pv.ratedPowerW && toW - prior.powerW > stepW;
      if (!mustMove) return false;
      // Halfway from where the change found it: not from a reading taken before an earlier change had landed (the
      // earlier fall arriving is not this one).
      const halfwayW = ((falls ? Math.min(prior.powerW, fromW) : Math.max(prior.powerW, fromW)) + toW) / 2;
      const since = list.filter((reading) => reading.atMs > last.atMs && reading.atMs <= gridAtMs);
      return !since.some((reading) => (falls ? reading.powerW <= halfwayW : reading.powerW >= halfwayW));
    });
    if (!unseen) return undefined;
    return falls ? 'fall' : 'rise';
  }
  const unseen = unseenChange();
  /** The history without the last change and the falls sent in a row before it, each less than followMs ago. */
  function unsentFalls(): LimitChange[] {
    const limitAt = (i: number): number => history[i]?.limitW ?? ratedW;
    let end = history.length - 1;
    const recent = (i: number): boolean => nowMs - (history[i]?.atMs ?? Number.NEGATIVE_INFINITY) < options.followMs;
    while (end > 0 && recent(end - 1) && limitAt(end - 1) < limitAt(end - 2)) end--;
    return history.slice(0, Math.max(0, end));
  }
  /**
   * Whether the inverter keeps to its limits as far as its readings tell: none of them, taken followMs or more after
   * the oldest change kept, is above its share of every limit in force in the followMs before it (by more than the
   * binding band, and at least the least margin). One that is (a write lost, a device ignoring the register, one
   * making more than its limit) would never show a change, and waiting for it held the others' falls (31 s over the
   * limit against 13 s in a scenario of the review).
   */
  function follows(pv: PvInverterState, list: readonly PvReading[]): boolean {
    const knownFromMs = history[0]?.atMs ?? Number.POSITIVE_INFINITY;
    return !list.some((reading) => {
      if (reading.atMs - options.followMs < knownFromMs) return false;
      const limits = limitsDuring(history, reading.atMs - options.followMs, reading.atMs);
      const highestW = Math.max(...limits.map((change) => (change.limitW === undefined ? ratedW : change.limitW)));
      // Above by more than the binding band, and than the least margin (meter noise on a small inverter).
      const toleranceW = Math.max(options.bindingFraction * pv.ratedPowerW, options.minMarginW);
      return reading.powerW > shareW(pv, highestW) + toleranceW;
    });
  }
  const measuredPvW = inverters.reduce((sum, pv) => sum + Math.max(0, pv.powerW), 0);
  const pvW = inverters.reduce((sum, pv) => sum + lowW(pv), 0);
  base.trace = { ...base.trace, pvW: measuredPvW, pairedPvW: pvW };
  const headroomW = targetExportW + projectedGridW; // export may still grow by this much (negative: too much)
  // Some inverter runs at its share of the limit in force (within bindingFraction of its rating): the limit binds.
  const binding =
    inForceW === undefined
      ? []
      : inverters.filter((pv) => pv.powerW >= shareW(pv, inForceW) - options.bindingFraction * pv.ratedPowerW);
  const binds = binding.length > 0;
  if (inForceW !== undefined) base.trace = { ...base.trace, binds };
  // A grid reading taken before the last change was sent cannot show it: the change answered this reading (or an
  // older one) already, and acting on it again counts the same export twice — with the grid read every 2 s, each
  // reading started a limit and then cut it again to nothing, a rise and a fall each second. What is in force is
  // held (none started) until the grid is read after it.
  const lastSentAtMs = history.at(-1)?.atMs;
  if (lastSentAtMs !== undefined && gridAtMs <= lastSentAtMs) {
    if (inForceW === undefined) return { ...base, setpoints: {}, memory: none(), reason: 'within-limit' };
    const held = sent(inForceW, binds);
    return { ...base, setpoints: shares(inForceW), memory: held, reason: 'curtailing', limitW: inForceW, step: 'hold' };
  }
  // Even at full rating the export would stay under the target: nothing to hold (or no longer).
  if (pvW + headroomW >= ratedW) {
    return { ...base, setpoints: {}, memory: none(), reason: inForceW === undefined ? 'within-limit' : 'released' };
  }
  let limitW: number;
  let step: CurtailStep;
  if (headroomW < -marginW / 2) {
    // Too much export (or about to be): at once down to what the target allows — the PV made now less the excess
    // (never up: an inverter above its limit has not followed it yet). Within half the margin over the target nothing
    // changes: a load that flickers does not cost a write each tick; the limit is still half a margin away.
    const fallPvW = inverters.reduce((sum, pv) => sum + (atGrid.get(pv.assetId)?.fallW ?? 0), 0);
    limitW = Math.min(inForceW ?? Number.POSITIVE_INFINITY, fallPvW + headroomW);
    step = inForceW === undefined ? 'start' : 'fall';
    if (inForceW !== undefined && unseen === 'fall') {
      // A fall (or start) not yet seen (`unseenChange`): the grid reading is taken as not showing it either, so the
      // PV is paired as if it had not been sent — nor the falls sent just before it, within followMs: with two pending,
      // the first counted at its share each tick cut the same excess again, to 0 W —, and only an excess they do not
      // answer (a second load drop) cuts further, beyond half a margin. Holding the whole fall until a reading showed
      // it let a second drop go out for seconds (3 s more over the limit with an inverter applying after 3 s).
      const unsent = unsentFalls();
      const unsentW = inverters.reduce((sum, pv) => sum + pvAtGrid(pv, unsent).fallW, 0);
      limitW = unsentW + headroomW < inForceW - marginW / 2 ? unsentW + headroomW : inForceW;
    }
    // The inverters together above the limit in readings — the grid's too — taken followMs or more after it last
    // changed: some make more than their limits (ratings larger than configured), and PV − excess would leave the
    // export over for good. Cut in proportion: exact for such devices, and a loop slower than followMs (a reading not
    // yet showing a fall) is over-cut by a part only, not twice. No tolerance needed: with the PV at about the limit
    // the cut is about PV − excess anyway.
    const settledSinceMs = changedAtMs + options.followMs;
    const overProducing =
      inForceW !== undefined &&
      measuredPvW > inForceW &&
      gridAtMs >= settledSinceMs &&
      inverters.every((pv) => nowMs - pv.ageMs >= settledSinceMs);
    if (overProducing && (inForceW * (measuredPvW + headroomW)) / measuredPvW < limitW) {
      limitW = (inForceW * (measuredPvW + headroomW)) / measuredPvW;
      step = 'cut';
    }
  } else if (inForceW === undefined) {
    return { ...base, setpoints: {}, memory: none(), reason: 'within-limit' };
  } else {
    // Within the target while curtailing: the limit rises by the headroom less a quarter margin (a dead band: a rise
    // sized on one noisy reading must not land on the fall threshold) — an inverter short of its share (shade) leaves
    // the others less than their share of a rise, so the rise repeats while there is headroom —, by at most
    // maxRiseFraction of the rating a tick, and not by less than minStepFraction (no write per tick); each tick while
    // it binds, else once an idleRiseMs after it last bound or changed (a cloud: no write per tick for nothing).
    const mayRise = binds || nowMs - Math.max(changedAtMs, boundAtMs) >= options.idleRiseMs;
    let rise = Math.min(headroomW - marginW / 4, options.maxRiseFraction * ratedW);
    // The binding inverters may be up to bindingFraction (and a device's whole-percent step) under their shares: a
    // rise added to the limit lets them grow by that gap too, and the export went over the target (and over
    // maxExportW). So those making at least half their share may grow by the headroom less a quarter margin in all,
    // from what they make now (one making less — a share smaller than the band, the inverter idle — is not at a limit).
    const growing = binding.filter((pv) => pv.powerW >= shareW(pv, inForceW) / 2);
    if (growing.length > 0) {
      const growingRatedW = growing.reduce((sum, pv) => sum + pv.ratedPowerW, 0);
      const growingPvW = growing.reduce((sum, pv) => sum + lowW(pv), 0);
      rise = Math.min(rise, ((headroomW - marginW / 4 + growingPvW) * ratedW) / growingRatedW - inForceW);
    }
    // A rise not yet seen (`unseenChange`): the next waits until a reading shows it (or followMs).
    const rises = mayRise && unseen !== 'rise' && rise >= options.minStepFraction * ratedW;
    limitW = rises ? inForceW + rise : inForceW;
    step = rises ? 'rise' : 'hold';
    if (limitW >= ratedW) return { ...base, setpoints: {}, memory: none(), reason: 'released' };
  }
  limitW = Math.max(0, Math.min(limitW, ratedW));
  if (step === 'fall' && limitW === inForceW) step = 'hold';
  return { ...base, setpoints: shares(limitW), memory: sent(limitW, binds), reason: 'curtailing', limitW, step };
}
