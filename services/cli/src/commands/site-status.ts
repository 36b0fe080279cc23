import type { AssetReading } from '@voltimax/contracts';
import { formatAge, formatPower, formatSetpoint, type MonitorState } from './monitor-view';

/** The site's power flows as the telemetry shows them, W (DESIGN signs: grid + import, battery + discharge). */
export interface SiteFlows {
  readonly gridW?: number;
  readonly pvW?: number;
  readonly batteryW?: number;
  /** Mean SoC of the batteries that report one, %. */
  readonly socPct?: number;
  readonly evW?: number;
  /** Building load: reported by a hybrid inverter, else from the balance grid = load + ev − pv − battery. */
  readonly loadW?: number;
  /** Assets whose latest reading is not `good` or older than the staleness limit. */
  readonly staleAssets: readonly string[];
}

/** A reading older than this is shown as stale in the summary. */
export const STATUS_STALE_MS = 10_000;

const sum = (values: readonly number[]): number | undefined =>
  values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0);

function fresh(reading: AssetReading, nowMs: number): boolean {
  return reading.quality === 'good' && nowMs - reading.atMs <= STATUS_STALE_MS;
}

/**
 * Sums the latest good readings per asset kind. The grid comes from grid meters, else from what hybrid inverters
 * report; PV from PV inverters plus hybrids' PV side. Pure.
 */
export function siteFlows(telemetry: ReadonlyMap<string, AssetReading>, nowMs: number): SiteFlows {
  const grid: number[] = [];
  const hybridGrid: number[] = [];
  const pv: number[] = [];
  const battery: number[] = [];
  const soc: number[] = [];
  const ev: number[] = [];
  const load: number[] = [];
  const staleAssets: string[] = [];
  for (const reading of telemetry.values()) {
    if (!fresh(reading, nowMs)) {
      staleAssets.push(reading.assetId);
      continue;
    }
    const v = reading.values;
    switch (reading.kind) {
      case 'grid-meter':
        if (v.powerW !== undefined) grid.push(v.powerW);
        break;
      case 'pv-inverter':
        if (v.powerW !== undefined) pv.push(v.powerW);
        break;
      case 'hybrid-inverter':
        if (v.pvPowerW !== undefined) pv.push(v.pvPowerW);
        if (v.gridPowerW !== undefined) hybridGrid.push(v.gridPowerW);
        if (v.loadPowerW !== undefined) load.push(v.loadPowerW);
        break;
      case 'battery':
        if (v.powerW !== undefined) battery.push(v.powerW);
        if (v.socPct !== undefined) soc.push(v.socPct);
        break;
      case 'ev-charger':
        if (v.powerW !== undefined) ev.push(v.powerW);
        break;
      default:
        break;
    }
  }
  const gridW = sum(grid) ?? sum(hybridGrid);
  const pvW = sum(pv);
  const batteryW = sum(battery);
  const evW = sum(ev);
  const socSum = sum(soc);
  const reportedLoad = sum(load);
  const balanceLoad = gridW === undefined ? undefined : gridW + (pvW ?? 0) + (batteryW ?? 0) - (evW ?? 0);
  const loadW = reportedLoad ?? (balanceLoad === undefined ? undefined : Math.max(0, balanceLoad));
  return {
    ...(gridW !== undefined ? { gridW } : {}),
    ...(pvW !== undefined ? { pvW } : {}),
    ...(batteryW !== undefined ? { batteryW } : {}),
    ...(socSum !== undefined ? { socPct: socSum / soc.length } : {}),
    ...(evW !== undefined ? { evW } : {}),
    ...(loadW !== undefined ? { loadW } : {}),
    staleAssets: staleAssets.sort(),
  };
}

/** One supervised process as `npm start` sees it. */
export interface SupervisedProcess {
  readonly name: string;
  readonly state: 'running' | 'restarting' | 'stopped' | 'refused-config';
  readonly restarts: number;
  /** Epoch ms the current process started (running) or the state began. */
  readonly sinceMs: number;
}

const show = (w: number | undefined): string => (w === undefined ? '—' : formatPower(w).trim());

/**
 * The one-screen status of `npm start`: processes with their heartbeats, the site's power flows and SoC, the active
 * strategy and the arbiter's latest outcome. Plain text (the caller clears the screen). Pure.
 */
export function renderSiteStatus(
  state: MonitorState,
  processes: readonly SupervisedProcess[],
  nowMs: number,
  opts: { readonly title?: string } = {},
): string {
  const lines: string[] = [];
  lines.push(`${opts.title ?? 'voltimax gateway'}  ${new Date(nowMs).toISOString().slice(11, 19)}Z`);
  const up = processes.filter((p) => p.state === 'running').length;
  lines.push(`services ${up}/${processes.length} running`);
  for (const p of processes) {
    const beat = state.health.get(p.name);
    const heartbeat = beat ? `${beat.status} ${formatAge(nowMs - beat.atMs)} ago${beat.detail ? ` · ${beat.detail}` : ''}` : 'no heartbeat';
    const restarts = p.restarts > 0 ? ` · ${p.restarts} restart${p.restarts === 1 ? '' : 's'}` : '';
    lines.push(`  ${p.name.padEnd(20)} ${p.state.padEnd(14)} ${heartbeat}${restarts}`);
  }
  const flows = siteFlows(state.telemetry, nowMs);
  lines.push('');
  lines.push(
    `site  grid ${show(flows.gridW)} · PV ${show(flows.pvW)} · battery ${show(flows.batteryW)}` +
      `${flows.socPct !== undefined ? ` (SoC ${flows.socPct.toFixed(1)} %)` : ''} · load ${show(flows.loadW)}` +
      `${flows.evW !== undefined ? ` · EV ${show(flows.evW)}` : ''}`,
  );
  lines.push('      signs: grid + import / − export, battery + discharge / − charge');
  if (flows.staleAssets.length > 0) lines.push(`      stale or failing: ${flows.staleAssets.join(', ')}`);

  const decisions = [...state.decisions.values()];
  const lastTick = decisions.reduce((m, d) => Math.max(m, d.atMs), 0);
  const active = decisions.filter((d) => d.atMs === lastTick).map((d) => `${d.strategy} (${d.reason})`);
  lines.push(`strategy  ${active.length > 0 ? `${active.join(', ')} · ${formatAge(nowMs - lastTick)} ago` : 'no decision yet'}`);

  const latest = [...state.arbiter.values()].sort((a, b) => b.atMs - a.atMs)[0];
  lines.push(
    latest
      ? `arbiter   ${latest.assetId} ${latest.outcome} ${formatSetpoint(latest.requested)} → ${formatSetpoint(latest.applied)}` +
          `${latest.source ? ` (${latest.source})` : ''}${latest.violations.length > 0 ? ` · ${latest.violations.map((v) => v.code).join(', ')}` : ''}` +
          ` · ${formatAge(nowMs - latest.atMs)} ago`
      : 'arbiter   no decision yet',
  );
  return `${lines.join('\n')}\n`;
}

/** The same status on one line, for logs (non-terminal output of `npm start`). */
export function siteStatusLine(state: MonitorState, processes: readonly SupervisedProcess[], nowMs: number): string {
  const flows = siteFlows(state.telemetry, nowMs);
  const up = processes.filter((p) => p.state === 'running').length;
  const decisions = [...state.decisions.values()];
  const lastTick = decisions.reduce((m, d) => Math.max(m, d.atMs), 0);
  const strategies = decisions.filter((d) => d.atMs === lastTick).map((d) => d.strategy);
  const latest = [...state.arbiter.values()].sort((a, b) => b.atMs - a.atMs)[0];
  return [
    `${up}/${processes.length} services`,
    `grid ${show(flows.gridW)}`,
    `PV ${show(flows.pvW)}`,
    `battery ${show(flows.batteryW)}${flows.socPct !== undefined ? ` SoC ${flows.socPct.toFixed(1)} %` : ''}`,
    `load ${show(flows.loadW)}`,
    ...(flows.evW !== undefined ? [`EV ${show(flows.evW)}`] : []),
    `strategy ${strategies.join('+') || '—'}`,
    `arbiter ${latest ? `${latest.assetId} ${latest.outcome} ${formatSetpoint(latest.applied)}` : '—'}`,
  ].join(' · ');
}
