/** A simulated car at a charger (IEC 61851 mode 3): what it draws for the current the charger offers. */
export interface EvOptions {
  /** Whether a car is plugged in at the start. */
  readonly plugged: boolean;
  /** Largest current the car's on-board charger takes per phase, A. */
  readonly carMaxCurrentA: number;
  /** Phases the car charges on (3 = three-phase), unless the charger forces one phase. */
  readonly phases: 1 | 3;
  /** Phase-to-neutral voltage used for the power, V. */
  readonly voltageV: number;
  /** Below this offered current the car pauses (IEC 61851: 6 A), A. */
  readonly minCurrentA: number;
}

/** The control-pilot state the charger sees: A no car, B car connected not charging, C charging. */
export type CpState = 'A' | 'B' | 'C';

/**
 * A car: plugged or not, charging at min(offered current, car maximum) per phase when the offer reaches the IEC 61851
 * minimum (else paused), P = I × U × phases. The session energy counts from the plug-in. Time-free: the site's
 * step integrates the energy (`addEnergy`) from the power it used for the step.
 */
export class SimulatedEv {
  private pluggedIn: boolean;
  private sessionWh = 0;

  constructor(private readonly options: EvOptions) {
    this.pluggedIn = options.plugged;
  }

  get plugged(): boolean {
    return this.pluggedIn;
  }

  /** Plug the car in: a new session starts at 0 Wh. */
  plug(): void {
    if (this.pluggedIn) return;
    this.pluggedIn = true;
    this.sessionWh = 0;
  }

  /** Unplug: no power, the last session's energy stays readable until the next plug-in. */
  unplug(): void {
    this.pluggedIn = false;
  }

  /** Phases in use: the car's, or 1 when the charger forces single-phase charging. */
  phasesInUse(forceSinglePhase: boolean): 1 | 3 {
    return forceSinglePhase ? 1 : this.options.phases;
  }

  /** Current per phase the car draws for an offered limit, A. */
  currentA(offeredA: number): number {
    if (!this.pluggedIn || !Number.isFinite(offeredA) || offeredA < this.options.minCurrentA) return 0;
    return Math.min(offeredA, this.options.carMaxCurrentA);
  }

  /** Charging power for an offered limit, W ≥ 0. */
  powerW(offeredA: number, forceSinglePhase = false): number {
    return this.currentA(offeredA) * this.options.voltageV * this.phasesInUse(forceSinglePhase);
  }

  /** The control-pilot state for an offered limit. */
  cpState(offeredA: number): CpState {
    if (!this.pluggedIn) return 'A';
    return this.currentA(offeredA) > 0 ? 'C' : 'B';
  }

  /** Energy charged into the car since the plug-in, Wh. */
  get sessionEnergyWh(): number {
    return this.sessionWh;
  }

  /** Adds the energy of one step (the power the step used × its length). */
  addEnergy(wh: number): void {
    if (this.pluggedIn && wh > 0) this.sessionWh += wh;
  }
}
