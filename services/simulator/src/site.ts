import { stepSite, toLocalTime, type SiteFlows, type SiteModel, type SiteState } from '@voltimax/sim';
import type { LoadPvProfile } from './profile';

/** Energy through the site since the simulation started (or since local midnight), Wh, each ≥ 0. */
export interface SiteEnergies {
  readonly gridImportWh: number;
  readonly gridExportWh: number;
  readonly pvWh: number;
  readonly loadWh: number;
  readonly evWh: number;
  readonly batteryChargeWh: number;
  readonly batteryDischargeWh: number;
}

const ZERO_ENERGIES: SiteEnergies = {
  gridImportWh: 0,
  gridExportWh: 0,
  pvWh: 0,
  loadWh: 0,
  evWh: 0,
  batteryChargeWh: 0,
  batteryDischargeWh: 0,
};

/** The site after a step: what every simulated device reports. */
export interface SiteSnapshot {
  /** Steps taken so far (0 before the first step). */
  readonly step: number;
  /** End of the last step = start of the next, epoch ms (sim time). */
  readonly atMs: number;
  /** Local minutes since midnight at `atMs` in the site's time zone. */
  readonly minuteOfDay: number;
  /** Battery SoC after the step, %. */
  readonly socPct: number;
  /** The battery set-point the step was asked to follow, W (+ = discharge). */
  readonly requestedBatteryW: number;
  /** Mean flows over the last step (grid + = import; battery + = discharge); `gridPowerW = load + ev − pv − battery`. */
  readonly flows: SiteFlows;
  /** Phase-to-neutral voltages L1, L2, L3 at the grid connection, V. */
  readonly voltagesV: readonly [number, number, number];
  readonly totals: SiteEnergies;
  /** Since local midnight (site time zone). */
  readonly today: SiteEnergies;
  /** Power of each attached EV load during the last step, W ≥ 0, by asset id (included in `flows.evW`). */
  readonly evLoadsW: Readonly<Record<string, number>>;
  /** PV each inverter delivered during the last step, W ≥ 0, by asset id (empty without `pvOutput`). */
  readonly pvInvertersW: Readonly<Record<string, number>>;
  /** PV energy each inverter has delivered, Wh: since the start and since local midnight, by asset id. */
  readonly pvInvertersWh: Readonly<Record<string, { readonly totalWh: number; readonly todayWh: number }>>;
}

/** The PV the inverters deliver in a step: the site's total and each inverter's part, W. */
export interface PvDelivery {
  readonly totalW: number;
  readonly byAssetW: Readonly<Record<string, number>>;
}

/** What the step asks of the device that controls the battery. */
export interface BatteryRequestContext {
  readonly loadW: number;
  readonly pvW: number;
  readonly socPct: number;
  readonly minuteOfDay: number;
}

/**
 * An EV load outside the site's own models — a charge point that draws what its charging profile allows (the OCPP
 * simulator attaches its charge points here, the Peblar HTTP device its EV). Its power joins the physics as EV
 * power: `flows.evW` and the grid (`grid = load + ev − pv − battery`) include it, and the energy counters with it.
 */
export interface EvLoad {
  /** The asset the load belongs to (the key in `SiteSnapshot.evLoadsW`). */
  readonly assetId: string;
  /**
   * Charging power at wall-clock `nowMs` (epoch ms, the clock device timers use), W ≥ 0. Called once per step
   * (before the physics) and held for the whole step; a negative, NaN or infinite answer counts as 0 W.
   */
  powerW(nowMs: number): number;
}

/** A device model that takes part in each step: its own timers first, then its image from the result. */
export interface SiteDevice {
  /** Device timers (watchdogs, heartbeats) at wall-clock `nowMs`, before the step reads set-points. */
  tick?(nowMs: number): void;
  /** Rewrite the register image from the step's result. */
  update(snapshot: SiteSnapshot, nowMs: number): void;
}

export interface SimulatedSiteOptions {
  readonly model: SiteModel;
  readonly profile: LoadPvProfile;
  /** Grid frequency at a sim instant, Hz. */
  readonly frequencyAt: (atMs: number) => number;
  readonly startAtMs: number;
  readonly initialSocPct: number;
  /** Sim time per step, ms (the tick times SIM_SPEED). */
  readonly stepMs: number;
  readonly timezone: string;
  readonly grid: { readonly phases: 1 | 3; readonly nominalVoltageV: number };
  /** The battery power for the next step, W (+ = discharge), from whichever device controls the battery. */
  readonly batteryRequestW: (context: BatteryRequestContext) => number;
  /**
   * The PV the inverters deliver when the profile offers `availableW` (their power limits applied); called once
   * per step. Default: all of it. A total outside 0 … `availableW` is clamped into it.
   */
  readonly pvOutput?: (availableW: number) => PvDelivery;
  readonly devices: readonly SiteDevice[];
  /** EV loads present from the start (more can be attached later with `attachEvLoad`). */
  readonly evLoads?: readonly EvLoad[];
  /** Wall clock for device timers, epoch ms. */
  readonly now: () => number;
}

/** The running physics: every `step()` advances sim time by `stepMs` and refreshes every device. */
export interface SimulatedSite {
  step(): SiteSnapshot;
  snapshot(): SiteSnapshot;
  /** Adds an EV load to every following step; returns a function that removes it again. */
  attachEvLoad(load: EvLoad): () => void;
  /** Adds a device (ticked and updated like the others, from the next step on); returns a function that removes it. */
  attachDevice(device: SiteDevice): () => void;
}

const MS_PER_HOUR = 3_600_000;

function addEnergies(base: SiteEnergies, flows: SiteFlows, hours: number): SiteEnergies {
  return {
    gridImportWh: base.gridImportWh + Math.max(0, flows.gridPowerW) * hours,
    gridExportWh: base.gridExportWh + Math.max(0, -flows.gridPowerW) * hours,
    pvWh: base.pvWh + flows.pvW * hours,
    loadWh: base.loadWh + flows.loadW * hours,
    evWh: base.evWh + flows.evW * hours,
    batteryChargeWh: base.batteryChargeWh + Math.max(0, -flows.batteryPowerW) * hours,
    batteryDischargeWh: base.batteryDischargeWh + Math.max(0, flows.batteryPowerW) * hours,
  };
}

/** Voltages with a slow deterministic wander and a small drop with the import per phase. */
function voltagesAt(atMs: number, gridPowerW: number, grid: SimulatedSiteOptions['grid']): [number, number, number] {
  const t = atMs / 1000;
  const dropV = (0.3 * gridPowerW) / (grid.phases * 1000);
  const v = (i: number) => grid.nominalVoltageV + 1.2 * Math.sin((2 * Math.PI * t) / 300 + 2.1 * i) - dropV;
  return [v(0), v(1), v(2)];
}

/**
 * The simulated site around libs/sim's pure `stepSite`: each step asks the controlling device for the battery
 * set-point (e.g. the CNTE 704 WSet a client wrote), takes load and PV from the profile at sim time, steps the
 * physics (grid = load + ev − pv − battery), integrates the energy counters and rewrites every device image.
 */
export function createSimulatedSite(options: SimulatedSiteOptions): SimulatedSite {
  const { model, profile, stepMs, timezone, grid, now } = options;
  const devices: SiteDevice[] = [...options.devices];
  const evLoads: EvLoad[] = [...(options.evLoads ?? [])];
  const detach = <T>(list: T[], item: T) => () => {
    const index = list.indexOf(item);
    if (index >= 0) list.splice(index, 1);
  };
  let state: SiteState = { atMs: options.startAtMs, socPct: options.initialSocPct, evDeliveredWh: {} };
  let day = toLocalTime(state.atMs, timezone);
  const idle: SiteFlows = {
    loadW: 0,
    pvW: 0,
    evW: 0,
    batteryPowerW: 0,
    gridPowerW: 0,
    gridFrequencyHz: options.frequencyAt(state.atMs),
    storedEnergyChangeWh: 0,
    batteryLimit: 'none',
    evSessionId: null,
  };
  let snapshot: SiteSnapshot = {
    step: 0,
    atMs: state.atMs,
    minuteOfDay: day.minuteOfDay,
    socPct: state.socPct,
    requestedBatteryW: 0,
    flows: idle,
    voltagesV: voltagesAt(state.atMs, 0, grid),
    totals: ZERO_ENERGIES,
    today: ZERO_ENERGIES,
    evLoadsW: {},
    pvInvertersW: {},
    pvInvertersWh: {},
  };
  const nowMs = now();
  for (const device of devices) {
    device.tick?.(nowMs);
    device.update(snapshot, nowMs);
  }

  return {
    snapshot: () => snapshot,
    attachEvLoad(load) {
      evLoads.push(load);
      return detach(evLoads, load);
    },
    attachDevice(device) {
      devices.push(device);
      return detach(devices, device);
    },
    step() {
      const wallMs = now();
      for (const device of [...devices]) device.tick?.(wallMs);
      const startLocal = toLocalTime(state.atMs, timezone);
      const raw = profile.at(state.atMs);
      const delivery = options.pvOutput?.(raw.pvW) ?? { totalW: raw.pvW, byAssetW: {} };
      const pvW = Number.isFinite(delivery.totalW) ? Math.min(raw.pvW, Math.max(0, delivery.totalW)) : raw.pvW;
      const pvInvertersW = Object.fromEntries(
        Object.entries(delivery.byAssetW).map(([assetId, w]) => [assetId, Number.isFinite(w) ? Math.max(0, w) : 0]),
      );
      const requestedBatteryW = options.batteryRequestW({
        loadW: raw.loadW,
        pvW,
        socPct: state.socPct,
        minuteOfDay: startLocal.minuteOfDay,
      });
      const evLoadsW: Record<string, number> = {};
      let extraEvW = 0;
      for (const load of evLoads) {
        const powerW = load.powerW(wallMs);
        const safeW = Number.isFinite(powerW) && powerW > 0 ? powerW : 0;
        evLoadsW[load.assetId] = (evLoadsW[load.assetId] ?? 0) + safeW;
        extraEvW += safeW;
      }
      const result = stepSite(state, { batteryPowerW: requestedBatteryW }, stepMs, {
        model,
        loadW: raw.loadW,
        pvW,
        gridFrequencyHz: options.frequencyAt(state.atMs + stepMs),
      });
      state = result.state;
      // The attached EV loads are EV power like the model's own sessions: the balance holds with them included.
      const flows: SiteFlows =
        extraEvW === 0
          ? result.flows
          : { ...result.flows, evW: result.flows.evW + extraEvW, gridPowerW: result.flows.gridPowerW + extraEvW };
      const hours = stepMs / MS_PER_HOUR;
      const local = toLocalTime(state.atMs, timezone);
      const sameDay = local.year === day.year && local.month === day.month && local.day === day.day;
      day = local;
      snapshot = {
        step: snapshot.step + 1,
        atMs: state.atMs,
        minuteOfDay: local.minuteOfDay,
        socPct: state.socPct,
        requestedBatteryW,
        flows,
        voltagesV: voltagesAt(state.atMs, flows.gridPowerW, grid),
        totals: addEnergies(snapshot.totals, flows, hours),
        today: sameDay ? addEnergies(snapshot.today, flows, hours) : ZERO_ENERGIES,
        evLoadsW,
        pvInvertersW,
        pvInvertersWh: Object.fromEntries(
          Object.entries(pvInvertersW).map(([assetId, w]) => {
            const before = snapshot.pvInvertersWh[assetId] ?? { totalWh: 0, todayWh: 0 };
            const wh = w * hours;
            return [assetId, { totalWh: before.totalWh + wh, todayWh: sameDay ? before.todayWh + wh : 0 }];
          }),
        ),
      };
      for (const device of [...devices]) device.update(snapshot, wallMs);
      return snapshot;
    },
  };
}
