import type { ArbiterDecision, ChargerListReply, ChargerStatus, Setpoint } from '@voltimax/contracts';
import { formatNumber, formatViolation } from './arbiter-format';

/** An EV setpoint in words: `16 A`, `16 A + start session`, `0 A (paused) + stop session`, `safe (paused)`. */
export function formatEvSetpoint(setpoint: Setpoint | undefined): string {
  if (setpoint === undefined) return '—';
  if (setpoint.kind === 'safe') return 'safe (paused)';
  if (setpoint.kind !== 'ev-current') return setpoint.kind;
  const phases = setpoint.phases === undefined ? '' : ` on ${setpoint.phases} phase${setpoint.phases === 1 ? '' : 's'}`;
  const paused = setpoint.currentA === 0 ? ' (paused)' : '';
  const session = setpoint.session === undefined ? '' : ` + ${setpoint.session} session`;
  return `${formatNumber(setpoint.currentA)} A${phases}${paused}${session}`;
}

/** What the safety-arbiter made of a charger command, in a few lines. */
export function formatChargerDecision(decision: ArbiterDecision, ttlMin: number): string {
  const verdict: Record<ArbiterDecision['outcome'], string> = {
    applied: 'applied',
    clamped: 'applied, narrowed by the safety rules',
    rejected: 'REJECTED',
    superseded: 'superseded by a newer manual intent',
    safe: 'accepted, but the charger is held at its safe setpoint (paused) for now',
  };
  const lines = [
    `${decision.assetId}: ${verdict[decision.outcome]} (manual intent ${decision.intentId ?? '?'}, holds ${ttlMin} min)`,
    `  requested ${formatEvSetpoint(decision.requested)} → written ${formatEvSetpoint(decision.applied)}`,
    ...decision.violations.map((v) => `  ${decision.outcome === 'clamped' ? 'clipped by' : 'because of'} ${formatViolation(v)}`),
    ...(decision.reason === undefined ? [] : [`  ${decision.reason}`]),
  ];
  return `${lines.join('\n')}\n`;
}

const kw = (w: number) => `${(w / 1000).toFixed(2)} kW`;
const kwh = (wh: number) => `${(wh / 1000).toFixed(2)} kWh`;
const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19);

function sessionText(charger: ChargerStatus): string {
  const s = charger.session;
  if (s === undefined) return '—';
  const since = s.startedAtMs === undefined ? '' : ` since ${clock(s.startedAtMs)}Z`;
  const energy = s.energyWh === undefined ? '' : `, ${kwh(s.energyWh)}`;
  return `#${s.transactionId}${since}${energy}${s.adopted ? ' (adopted)' : ''}`;
}

function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].map((l) => `${l}\n`).join('');
}

/** `voltimax charger list`: one row per charger, then the charge points that were refused. */
export function formatChargerList(reply: ChargerListReply): string {
  if (reply.chargers.length === 0 && reply.unknown.length === 0) return 'no OCPP chargers configured\n';
  const rows = reply.chargers.map((c) => [
    c.assetId,
    `${c.chargePointId}/${c.connectorId}`,
    c.connected ? 'yes' : 'no',
    c.state === undefined ? '—' : `${c.state}${c.ocppStatus === undefined ? '' : ` (${c.ocppStatus})`}`,
    c.powerW === undefined ? '—' : kw(c.powerW),
    c.currentLimitA === undefined ? '—' : `${formatNumber(c.currentLimitA)} A`,
    sessionText(c),
    c.error ?? '',
  ]);
  let out = table(['asset', 'charge point', 'connected', 'state', 'power', 'limit', 'session', 'problem'], rows);
  if (reply.unknown.length > 0) {
    out += '\ncharge points that were refused (not in assets.json, or a wrong password):\n';
    for (const u of reply.unknown) {
      out += `  ${u.chargePointId}${u.remoteAddress === undefined ? '' : ` from ${u.remoteAddress}`}: ${u.reason} (${u.attempts} attempt${u.attempts === 1 ? '' : 's'}, last ${new Date(u.lastSeenAtMs).toISOString()})\n`;
    }
  }
  return out;
}
