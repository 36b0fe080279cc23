import {
  AUTOMATION_RULES_DECISION,
  EXPORT_LIMIT_DECISION,
  type ArbiterDecision,
  INTENT_PRIORITY,
  type AssetReading,
  type ControlIntent,
  type DecisionMetrics,
  type Heartbeat,
  type IntentSource,
  type Setpoint,
} from '@voltimax/contracts';
import { isInForce } from './arbiter-format';

/** What `voltimax monitor` has seen so far: the latest message per asset, strategy and service. */
export interface MonitorState {
  readonly telemetry: Map<string, AssetReading>;
  /** Latest DecisionMetrics per strategy name. */
  readonly decisions: Map<string, DecisionMetrics>;
  /** Latest arbiter outcome per asset. */
  readonly arbiter: Map<string, ArbiterDecision>;
  /** Latest intent per asset and source (`control.intent.<source>.<asset>`); see {@link noteIntent}. */
  readonly intents: Map<string, Map<IntentSource, ControlIntent>>;
  /** Latest heartbeat per service. */
  readonly health: Map<string, Heartbeat>;
  /** Messages the bus dropped as invalid. */
  dropped: number;
  /**
   * Intents whose payload claims another source or asset than their subject names (the arbiter rejects them:
   * source-mismatch, asset-mismatch).
   */
  sourceMismatches: number;
}

export function emptyMonitorState(): MonitorState {
  return {
    telemetry: new Map(),
    decisions: new Map(),
    arbiter: new Map(),
    intents: new Map(),
    health: new Map(),
    dropped: 0,
    sourceMismatches: 0,
  };
}

/** Keeps `intent` as its asset's latest of its source. */
export function noteIntent(state: MonitorState, intent: ControlIntent): void {
  const bySource = state.intents.get(intent.assetId) ?? new Map<IntentSource, ControlIntent>();
  bySource.set(intent.source, intent);
  state.intents.set(intent.assetId, bySource);
}

/** What the asset table shows as an asset's intent. */
export interface ShownIntent {
  readonly setpoint?: Setpoint;
  readonly source?: IntentSource;
  readonly reason?: string;
  /** The live intents of lower priority it outranks (a strategy goes on publishing under a manual intent). */
  readonly outranked: readonly ControlIntent[];
}

/**
 * The intent to show beside the arbiter's outcome: the one the decision in force names (from the decision itself
 * when that intent came before the monitor started), else the live intent of the highest priority (the newest on a
 * tie), else the newest. Not simply the newest: a strategy goes on publishing while a manual intent holds the asset.
 * An intent the arbiter refused at the door is never shown; a safe default that names no intent shows none.
 */
export function intentInForce(
  bySource: ReadonlyMap<IntentSource, ControlIntent> | undefined,
  decision: ArbiterDecision | undefined,
  nowMs: number,
): ShownIntent {
  // In force and naming no intent (the safe default: the arbiter has no live intent, e.g. after its restart).
  if (decision !== undefined && isInForce(decision) && decision.intentId === undefined) return { outranked: [] };
  const refusedId = decision?.outcome === 'rejected' && !isInForce(decision) ? decision.intentId : undefined;
  const all = [...(bySource?.values() ?? [])]
    .filter((i) => refusedId === undefined || i.id !== refusedId)
    .sort((a, b) => b.issuedAtMs - a.issuedAtMs);
  const live = all.filter((i) => i.issuedAtMs + i.ttlMs > nowMs);
  const below = (source: IntentSource) => live.filter((i) => INTENT_PRIORITY[i.source] < INTENT_PRIORITY[source]);
  const namedId = decision === undefined || !isInForce(decision) ? undefined : decision.intentId;
  const named = namedId === undefined ? undefined : all.find((i) => i.id === namedId);
  if (namedId !== undefined && named === undefined && decision?.source !== undefined) {
    return {
      ...(decision.requested === undefined ? {} : { setpoint: decision.requested }),
      source: decision.source,
      ...(decision.reason === undefined ? {} : { reason: decision.reason }),
      outranked: below(decision.source),
    };
  }
  const shown = named ?? [...live].sort((a, b) => INTENT_PRIORITY[b.source] - INTENT_PRIORITY[a.source])[0] ?? all[0];
  if (shown === undefined) return { outranked: [] };
  return { setpoint: shown.setpoint, source: shown.source, reason: shown.reason, outranked: below(shown.source) };
}

/** How the view is drawn. */
export interface RenderOptions {
  /** Where the data comes from (shown in the header). */
  readonly source?: string;
  /** The collection window of a `--once` snapshot, ms (shown in the header). */
  readonly windowMs?: number;
  /** At most this many terms per decision (default 6; `--all-terms`: every one). */
  readonly maxTerms?: number;
}

/** W → `+1.20 kW` / `−850 W`, sign kept (grid + import, battery + discharge). */
export function formatPower(powerW: number): string {
  const sign = Math.abs(powerW) < 0.5 ? ' ' : powerW > 0 ? '+' : '−';
  const abs = Math.abs(powerW);
  return abs >= 1_000 ? `${sign}${(abs / 1_000).toFixed(2)} kW` : `${sign}${Math.round(abs)} W`;
}

/** An age in ms as `0.4 s`, `12 s`, `3 min`, `2 h`. */
export function formatAge(ageMs: number): string {
  if (!Number.isFinite(ageMs)) return '—';
  const ms = Math.max(0, ageMs);
  if (ms < 10_000) return `${(ms / 1_000).toFixed(1)} s`;
  if (ms < 120_000) return `${Math.round(ms / 1_000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 3_600_000)} h`;
}

/** A setpoint in one short phrase. */
export function formatSetpoint(setpoint: Setpoint | undefined): string {
  if (!setpoint) return '—';
  switch (setpoint.kind) {
    case 'battery-power':
      return formatPower(setpoint.powerW).trim();
    case 'ev-current':
      return `${setpoint.currentA} A${setpoint.phases ? ` ×${setpoint.phases}` : ''}`;
    case 'pv-limit':
      return `≤ ${formatPower(setpoint.maxPowerW).trim()}`;
    case 'safe':
      return 'safe';
  }
}

/**
 * A term as short as it can be without hiding what matters: three decimals between 1 and 100 (trailing zeros cut), so
 * a frequency of 50.004 Hz inside a 0.01-Hz deadband does not read 50.00 (it did, with two).
 */
export function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value);
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 1) return value.toFixed(3).replace(/\.?0+$/, '');
  return value.toPrecision(3);
}

function formatRecord(values: Readonly<Record<string, number>>, max: number): string {
  const entries = Object.entries(values);
  const shown = entries.slice(0, max).map(([k, v]) => `${k}=${formatNumber(v)}`);
  if (entries.length > max) shown.push(`+${entries.length - max}`);
  return shown.join(' ');
}

function clock(atMs: number): string {
  return `${new Date(atMs).toISOString().slice(11, 19)}Z`;
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, [...cell].length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - [...cell].length)))
      .join('  ')
      .trimEnd(),
  );
}

function violations(decision: ArbiterDecision): string {
  if (decision.violations.length === 0) return '';
  return decision.violations
    .map((v) => {
      const unit = v.unit ? ` ${v.unit}` : '';
      const detail = [
        v.value !== undefined ? `value ${formatNumber(v.value)}${unit}` : '',
        v.limit !== undefined ? `limit ${formatNumber(v.limit)}${unit}` : '',
      ]
        .filter(Boolean)
        .join(', ');
      return detail ? `${v.code} (${detail})` : v.code;
    })
    .join('; ');
}

/**
 * The monitor screen as plain text (no colours, no cursor control): services, assets (latest telemetry, the intent
 * and the arbiter's outcome), the strategies' last decisions, and the arbiter's violations. Pure: same state and
 * time, same text.
 */
export function renderMonitor(state: MonitorState, nowMs: number, opts: RenderOptions = {}): string {
  const lines: string[] = [];
  const header = [`voltimax monitor  ${clock(nowMs)}`];
  if (opts.source) header.push(opts.source);
  if (opts.windowMs !== undefined) header.push(`snapshot after ${(opts.windowMs / 1_000).toFixed(1)} s`);
  lines.push(header.join('  ·  '));
  lines.push('signs: grid + import / − export, battery + discharge / − charge');

  const services = [...state.health.values()].sort((a, b) => a.service.localeCompare(b.service));
  lines.push('');
  lines.push(
    services.length === 0
      ? 'services: no heartbeat seen'
      : `services: ${services.map((h) => `${h.service} ${h.status} (${formatAge(nowMs - h.atMs)})`).join('  ')}`,
  );

  lines.push('');
  lines.push('ASSETS');
  const assetIds = [...new Set([...state.telemetry.keys(), ...state.intents.keys(), ...state.arbiter.keys()])].sort();
  if (assetIds.length === 0) {
    lines.push('  no telemetry yet');
  } else {
    // 'why' is the intent's reason: the strategy that shaped the set-point last and its reason (a layer that overrode
    // the primary shows here, e.g. backup-power:holding-reserve under a peak-shaving that wanted to discharge).
    const rows: string[][] = [
      ['  asset', 'kind', 'power', 'SoC', 'quality', 'age', 'intent', 'source', 'why', 'arbiter'],
    ];
    for (const id of assetIds) {
      const reading = state.telemetry.get(id);
      const decision = state.arbiter.get(id);
      const intent = intentInForce(state.intents.get(id), decision, nowMs);
      const over = intent.outranked.map((i) => i.source).join(', ');
      const power = reading?.values.powerW;
      const soc = reading?.values.socPct;
      rows.push([
        `  ${id}`,
        reading?.kind ?? '—',
        power !== undefined ? formatPower(power) : '—',
        soc !== undefined ? `${soc.toFixed(1)} %` : '',
        reading ? reading.quality + (reading.chargerState ? `/${reading.chargerState}` : '') : '—',
        reading ? formatAge(nowMs - reading.atMs) : '—',
        intent.setpoint ? formatSetpoint(intent.setpoint) : '—',
        (intent.source ?? '') + (over === '' ? '' : ` (over ${over})`),
        intent.reason ?? '',
        decision ? `${decision.outcome} ${formatSetpoint(decision.applied)}`.trim() : '—',
      ]);
    }
    lines.push(...table(rows));
  }

  lines.push('');
  const decisions = [...state.decisions.values()];
  const lastTickMs = decisions.reduce((m, d) => Math.max(m, d.atMs), 0);
  lines.push(
    decisions.length === 0
      ? 'STRATEGIES'
      : `STRATEGIES  (last tick ${clock(lastTickMs)}, ${formatAge(nowMs - lastTickMs)} ago)`,
  );
  if (decisions.length === 0) {
    lines.push('  no strategy decision yet');
  } else {
    const maxTerms = opts.maxTerms ?? 6;
    // Active = decided in the latest tick; others are shown as left over from an earlier configuration.
    const sorted = decisions.sort(
      (a, b) => Number(b.atMs === lastTickMs) - Number(a.atMs === lastTickMs) || a.strategy.localeCompare(b.strategy),
    );
    for (const d of sorted) {
      const active = d.atMs === lastTickMs;
      // The feed-in limit decides beside the strategies (on sites with curtailable PV) but is none: marked so.
      const name =
        d.strategy === EXPORT_LIMIT_DECISION
          ? `${d.strategy} (feed-in limit)`
          : d.strategy === AUTOMATION_RULES_DECISION
            ? `${d.strategy} (the site's if-then rules)`
            : d.strategy;
      lines.push(`  ${name}  ${d.reason}${active ? '' : `  (inactive, last ${formatAge(nowMs - d.atMs)} ago)`}`);
      if (Object.keys(d.inputs).length > 0) lines.push(`      in     ${formatRecord(d.inputs, maxTerms)}`);
      if (Object.keys(d.outputs).length > 0) lines.push(`      out    ${formatRecord(d.outputs, maxTerms)}`);
      if (Object.keys(d.terms).length > 0) lines.push(`      terms  ${formatRecord(d.terms, maxTerms)}`);
    }
  }

  lines.push('');
  lines.push('ARBITER  (last outcome per asset)');
  const outcomes = [...state.arbiter.values()].sort((a, b) => a.assetId.localeCompare(b.assetId));
  if (outcomes.length === 0) {
    lines.push('  no arbiter decision yet');
  } else {
    const rows = outcomes.map((d) => [
      `  ${d.assetId}`,
      d.outcome,
      d.source ?? '',
      `${formatSetpoint(d.requested)} → ${formatSetpoint(d.applied)}`,
      formatAge(nowMs - d.atMs),
      violations(d),
    ]);
    lines.push(...table(rows));
  }
  if (state.dropped > 0) {
    lines.push('');
    lines.push(`(${state.dropped} invalid message${state.dropped === 1 ? '' : 's'} dropped)`);
  }
  if (state.sourceMismatches > 0) {
    const n = state.sourceMismatches;
    lines.push('');
    lines.push(
      `(${n} intent${n === 1 ? '' : 's'} claiming another source or asset than ${n === 1 ? 'its' : 'their'} subject ignored)`,
    );
  }
  return `${lines.join('\n')}\n`;
}
