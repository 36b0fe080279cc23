import { z } from 'zod';

const MS_PER_HOUR = 3_600_000;
/** Stored-energy differences below this fraction of capacity are rounding residue. */
const SNAP_FRACTION = 1e-12;
const PctSchema = z.number().finite().min(0).max(100);
const EfficiencySchema = z.number().finite().gt(0).max(1);

/** Physical battery model used by the simulator and the LP (same parameters, same equations). */
export const BatteryModelSchema = z
  .strictObject({
    /** Usable capacity at 100 % SoC, Wh. */
    capacityWh: z.number().finite().positive(),
    /** Largest charging power at the AC terminal, W (≥ 0). */
    maxChargePowerW: z.number().finite().nonnegative(),
    /** Largest discharging power at the AC terminal, W (≥ 0). */
    maxDischargePowerW: z.number().finite().nonnegative(),
    /** Lower end of the SoC window, %. */
    minSocPct: PctSchema.default(10),
    /** Upper end of the SoC window, %. */
    maxSocPct: PctSchema.default(95),
    /** Stored energy per AC energy charged, 0 < η ≤ 1. */
    chargeEfficiency: EfficiencySchema.default(0.95),
    /** AC energy delivered per stored energy discharged, 0 < η ≤ 1. */
    dischargeEfficiency: EfficiencySchema.default(0.95),
    /** Loss of stored energy, % of the stored energy per day (linear per step, 0 = none). */
    selfDischargePctPerDay: z.number().finite().min(0).max(100).default(0),
  })
  .refine((b) => b.minSocPct < b.maxSocPct, { message: 'minSocPct must be below maxSocPct', path: ['minSocPct'] });
export type BatteryModel = z.output<typeof BatteryModelSchema>;
export type BatteryModelInput = z.input<typeof BatteryModelSchema>;

/** The site's EV charger (one charging point). */
export const EvChargerSchema = z
  .strictObject({
    /** Smallest current an EV accepts (IEC 61851: 6 A); a lower setpoint pauses charging, A. */
    minCurrentA: z.number().finite().min(0).max(80).default(6),
    /** Largest current of the charger, A. */
    maxCurrentA: z.number().finite().positive().max(80).default(32),
    /** Phase-to-neutral voltage, V. */
    nominalVoltageV: z.number().finite().min(100).max(480).default(230),
  })
  .refine((c) => c.minCurrentA <= c.maxCurrentA, {
    message: 'minCurrentA must not exceed maxCurrentA',
    path: ['minCurrentA'],
  });
export type EvCharger = z.output<typeof EvChargerSchema>;

/** One EV plugged into the charger from arrival to departure. */
export const EvSessionSchema = z
  .strictObject({
    id: z.string().min(1),
    /** Plug-in instant, epoch ms. */
    arrivalAtMs: z.number().int(),
    /** Plug-out instant, epoch ms (> arrival). */
    departureAtMs: z.number().int(),
    /** Energy the EV takes at most during the session (AC side), Wh. */
    energyWantedWh: z.number().finite().nonnegative(),
    /** Largest current the car accepts, A. */
    maxCurrentA: z.number().finite().positive().max(80),
    phases: z.union([z.literal(1), z.literal(3)]),
  })
  .refine((s) => s.departureAtMs > s.arrivalAtMs, {
    message: 'departure must be after arrival',
    path: ['departureAtMs'],
  });
export type EvSession = z.output<typeof EvSessionSchema>;

/** Static description of the simulated site. */
export interface SiteModel {
  readonly battery: BatteryModel;
  /** Absent: no EV charger (sessions are then ignored). */
  readonly evCharger?: EvCharger;
  /** Known EV sessions; at most one is connected at a time (the first connected one charges). */
  readonly evSessions?: readonly EvSession[];
}

/** Simulated site state between steps. */
export interface SiteState {
  /** Start of the next step, epoch ms. */
  readonly atMs: number;
  /** Battery state of charge, % of capacityWh. */
  readonly socPct: number;
  /** Energy delivered so far per EV session id, Wh. */
  readonly evDeliveredWh: Readonly<Record<string, number>>;
}

/** What the controller asks of the site for one step. */
export interface Setpoints {
  /** Requested battery power, W: + = discharge, − = charge. */
  readonly batteryPowerW: number;
  /** Offered EV charging current, A; absent = the session's maximum (uncontrolled charging). */
  readonly evCurrentA?: number;
}

/** Everything outside the controller's choice for one step. */
export interface SiteInputs {
  readonly model: SiteModel;
  /** Mean building load over the step, W, ≥ 0. */
  readonly loadW: number;
  /** Mean PV production over the step, W, ≥ 0. */
  readonly pvW: number;
  /** Grid frequency during the step, Hz (passed through to the grid meter). */
  readonly gridFrequencyHz: number;
}

/** Why the battery did not do exactly what was asked. */
export type BatteryLimitReason =
  | 'none'
  | 'charge-power'
  | 'discharge-power'
  | 'soc-max'
  | 'soc-min'
  /** At the SoC floor, self-discharge is replaced by a small grid charge (the BMS holds minSocPct). */
  | 'soc-floor-hold';

/** Mean flows over one step, as a meter would report them. */
export interface SiteFlows {
  /** W, ≥ 0. */
  readonly loadW: number;
  /** W, ≥ 0. */
  readonly pvW: number;
  /** EV charging power, W, ≥ 0. */
  readonly evW: number;
  /** What the battery really did, W: + = discharge, − = charge. */
  readonly batteryPowerW: number;
  /** Grid power, W: + = import, − = export. Always `loadW + evW − pvW − batteryPowerW`. */
  readonly gridPowerW: number;
  /** Hz. */
  readonly gridFrequencyHz: number;
  /** Change of stored battery energy, Wh (≤ −batteryPowerW·dt: losses never create energy). */
  readonly storedEnergyChangeWh: number;
  readonly batteryLimit: BatteryLimitReason;
  /** The session that was connected during the step, or null. */
  readonly evSessionId: string | null;
}

/** Battery physics for one step, shared by stepSite and the LP (see README, "LP formulation"). */
export interface BatteryStepBounds {
  /** Stored energy after self-discharge, before any flow, Wh. */
  readonly decayedWh: number;
  /** Most charging power allowed this step (as a negative battery power), W. */
  readonly lowestPowerW: number;
  /** Most discharging power allowed this step (negative = the BMS must charge at least this much), W. */
  readonly highestPowerW: number;
}

/** Fraction of stored energy lost per step by self-discharge (linear model). */
export function selfDischargeFraction(battery: BatteryModel, dtMs: number): number {
  return Math.min(1, (battery.selfDischargePctPerDay / 100) * (dtMs / (24 * MS_PER_HOUR)));
}

/** Stored energy after a step, Wh, for a constant battery power (W, + = discharge) over dtMs. */
export function storedEnergyAfterWh(
  battery: BatteryModel,
  energyWh: number,
  batteryPowerW: number,
  dtMs: number,
): number {
  const hours = dtMs / MS_PER_HOUR;
  const decayedWh = energyWh * (1 - selfDischargeFraction(battery, dtMs));
  return batteryPowerW >= 0
    ? decayedWh - (batteryPowerW * hours) / battery.dischargeEfficiency
    : decayedWh - batteryPowerW * hours * battery.chargeEfficiency;
}

/** Power range the battery can follow in a step that starts with `energyWh` stored (Wh). */
export function batteryStepBounds(battery: BatteryModel, energyWh: number, dtMs: number): BatteryStepBounds {
  const hours = dtMs / MS_PER_HOUR;
  const minWh = (battery.minSocPct / 100) * battery.capacityWh;
  const maxWh = (battery.maxSocPct / 100) * battery.capacityWh;
  const decayedWh = energyWh * (1 - selfDischargeFraction(battery, dtMs));
  const roomW = Math.max(0, maxWh - decayedWh) / (battery.chargeEfficiency * hours);
  const lowestPowerW = -Math.min(battery.maxChargePowerW, roomW);
  const highestPowerW =
    decayedWh >= minWh
      ? Math.min(battery.maxDischargePowerW, ((decayedWh - minWh) * battery.dischargeEfficiency) / hours)
      : -Math.min(battery.maxChargePowerW, (minWh - decayedWh) / (battery.chargeEfficiency * hours));
  return { decayedWh, lowestPowerW, highestPowerW };
}

function limitReason(
  battery: BatteryModel,
  requestedW: number,
  actualW: number,
  bounds: BatteryStepBounds,
): BatteryLimitReason {
  if (actualW === requestedW) return 'none';
  if (actualW > requestedW) return actualW === -battery.maxChargePowerW ? 'charge-power' : 'soc-max';
  if (bounds.highestPowerW < 0) return 'soc-floor-hold';
  return actualW === battery.maxDischargePowerW ? 'discharge-power' : 'soc-min';
}

/** The EV session connected at some time in [fromMs, toMs), the first one in list order. */
function connectedSession(sessions: readonly EvSession[], fromMs: number, toMs: number): EvSession | undefined {
  return sessions.find((s) => s.arrivalAtMs < toMs && s.departureAtMs > fromMs);
}

/** Mean EV power over the step, W, and the session that took it. */
export function evStepPowerW(
  model: SiteModel,
  state: SiteState,
  evCurrentA: number | undefined,
  dtMs: number,
): { readonly evW: number; readonly session: EvSession | undefined } {
  const charger = model.evCharger;
  const session = charger ? connectedSession(model.evSessions ?? [], state.atMs, state.atMs + dtMs) : undefined;
  if (!charger || !session) return { evW: 0, session: undefined };
  const connectedMs = Math.min(state.atMs + dtMs, session.departureAtMs) - Math.max(state.atMs, session.arrivalAtMs);
  const limitA = Math.min(charger.maxCurrentA, session.maxCurrentA);
  const offeredA = Math.min(limitA, Math.max(0, evCurrentA ?? limitA));
  const currentA = offeredA < charger.minCurrentA ? 0 : offeredA;
  const remainingWh = Math.max(0, session.energyWantedWh - (state.evDeliveredWh[session.id] ?? 0));
  const energyWh = Math.min(
    (currentA * charger.nominalVoltageV * session.phases * connectedMs) / MS_PER_HOUR,
    remainingWh,
  );
  return { evW: (energyWh * MS_PER_HOUR) / dtMs, session };
}

/**
 * Advances the site by one step of dtMs. The battery follows the setpoint within its power limits and SoC
 * window (efficiencies apply separately to charge and discharge; self-discharge is linear in stored
 * energy); at the floor the BMS charges just enough to hold minSocPct. PV and load follow the inputs, the
 * connected EV takes power, and the grid balances: grid = load + ev − pv − battery. Pure.
 */
export function stepSite(
  state: SiteState,
  setpoints: Setpoints,
  dtMs: number,
  inputs: SiteInputs,
): { readonly state: SiteState; readonly flows: SiteFlows } {
  const { battery } = inputs.model;
  const energyWh = (state.socPct / 100) * battery.capacityWh;
  const bounds = batteryStepBounds(battery, energyWh, dtMs);
  const requestedW = Number.isFinite(setpoints.batteryPowerW) ? setpoints.batteryPowerW : 0;
  const batteryPowerW = Math.min(bounds.highestPowerW, Math.max(bounds.lowestPowerW, requestedW));
  const minWh = (battery.minSocPct / 100) * battery.capacityWh;
  const maxWh = (battery.maxSocPct / 100) * battery.capacityWh;
  const snapWh = battery.capacityWh * SNAP_FRACTION;
  let nextWh = storedEnergyAfterWh(battery, energyWh, batteryPowerW, dtMs);
  // A limit that aims at a window edge lands on it; only rounding residue is removed here.
  if (Math.abs(nextWh - maxWh) < snapWh) nextWh = maxWh;
  if (Math.abs(nextWh - minWh) < snapWh) nextWh = minWh;
  nextWh = Math.max(0, Math.min(battery.capacityWh, nextWh));

  const ev = evStepPowerW(inputs.model, state, setpoints.evCurrentA, dtMs);
  const evDeliveredWh = ev.session
    ? {
        ...state.evDeliveredWh,
        [ev.session.id]: (state.evDeliveredWh[ev.session.id] ?? 0) + (ev.evW * dtMs) / MS_PER_HOUR,
      }
    : state.evDeliveredWh;

  return {
    state: { atMs: state.atMs + dtMs, socPct: (nextWh / battery.capacityWh) * 100, evDeliveredWh },
    flows: {
      loadW: inputs.loadW,
      pvW: inputs.pvW,
      evW: ev.evW,
      batteryPowerW,
      gridPowerW: inputs.loadW + ev.evW - inputs.pvW - batteryPowerW,
      gridFrequencyHz: inputs.gridFrequencyHz,
      storedEnergyChangeWh: nextWh - energyWh,
      batteryLimit: limitReason(battery, requestedW, batteryPowerW, bounds),
      evSessionId: ev.session?.id ?? null,
    },
  };
}
