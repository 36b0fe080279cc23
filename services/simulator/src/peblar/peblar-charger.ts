// The simulated Peblar charger behind its local REST API: state, JSON documents and the PATCH of the EV interface,
// written from ../shared/reference/devices/peblar-ev-charger.md § 1 (PascalCase members, mA, Wh) — the simulator's
// own statement of the API, never built with the devices profile (a shared mistake would go unnoticed).
import { z } from 'zod';
import type { SimulatedEv } from '../ev';
import type { SiteSnapshot } from '../site';

/** Fixed facts of the simulated charger. */
export interface PeblarChargerOptions {
  readonly assetId: string;
  /** Largest current the installation allows per phase, A (a limiter below every request). */
  readonly installationLimitA: number;
  /** The API's charge current limit at power-on, A. */
  readonly initialLimitA: number;
  /** Lifetime energy counter at the start, Wh (a charger is rarely new). */
  readonly energyTotalStartWh: number;
  /** Phases wired to the charger. */
  readonly phaseCount: 1 | 3;
}

/** A PATCH /evinterface body: any of the two writable members, nothing else. */
export const EvInterfacePatchSchema = z
  .strictObject({
    /** mA; 0 pauses, else at least the IEC 61851 minimum. */
    ChargeCurrentLimit: z.number().int().min(0).max(80_000).optional(),
    Force1Phase: z.boolean().optional(),
  })
  .refine((b) => b.ChargeCurrentLimit !== undefined || b.Force1Phase !== undefined, {
    message: 'give ChargeCurrentLimit and/or Force1Phase',
  })
  .refine((b) => b.ChargeCurrentLimit === undefined || b.ChargeCurrentLimit === 0 || b.ChargeCurrentLimit >= 6_000, {
    message: 'ChargeCurrentLimit must be 0 (pause) or at least 6000 mA (IEC 61851)',
    path: ['ChargeCurrentLimit'],
  });
export type EvInterfacePatch = z.infer<typeof EvInterfacePatchSchema>;

const CP_TEXT = { A: 'State A', B: 'State B', C: 'State C' } as const;
const MS_PER_HOUR = 3_600_000;

/**
 * The charger: the limit requested through the API (mA), the limit it applies (the lower of that and the
 * installation limit), the 1-phase switch, its meter, and the car plugged into it. Its `evLoad` power feeds the
 * site physics; `update` integrates the energy of each step and takes the voltages from the site.
 */
export class PeblarCharger {
  private limitMa: number;
  private force1Phase = false;
  private energyTotalWh: number;
  private voltagesV: readonly [number, number, number] = [230, 230, 230];
  private lastAtMs: number | undefined;
  private readonly startedAtMs: number;

  constructor(
    readonly options: PeblarChargerOptions,
    readonly ev: SimulatedEv,
    /** Wall clock, epoch ms (uptime). */
    private readonly now: () => number,
  ) {
    this.limitMa = Math.round(options.initialLimitA * 1000);
    this.energyTotalWh = options.energyTotalStartWh;
    this.startedAtMs = now();
  }

  /** The limit the charger applies after its own limiters, A. */
  appliedLimitA(): number {
    return Math.min(this.limitMa / 1000, this.options.installationLimitA);
  }

  /** What the car draws now, W (the site's EV load for this charger). */
  powerW(): number {
    return this.ev.powerW(this.appliedLimitA(), this.force1Phase);
  }

  /** After a site step: integrate this charger's share of the EV power, take the grid voltages. */
  update(snapshot: SiteSnapshot): void {
    this.voltagesV = snapshot.voltagesV;
    const previous = this.lastAtMs;
    this.lastAtMs = snapshot.atMs;
    if (previous === undefined) return;
    const wh = ((snapshot.evLoadsW[this.options.assetId] ?? 0) * (snapshot.atMs - previous)) / MS_PER_HOUR;
    this.energyTotalWh += wh;
    this.ev.addEnergy(wh);
  }

  /** Applies a validated PATCH; returns an error text for a request the charger refuses. */
  patch(body: EvInterfacePatch): string | undefined {
    if (body.Force1Phase !== undefined && this.options.phaseCount === 1 && !body.Force1Phase)
      return 'Force1Phase cannot be switched off on a 1-phase installation';
    if (body.ChargeCurrentLimit !== undefined) this.limitMa = body.ChargeCurrentLimit;
    if (body.Force1Phase !== undefined) this.force1Phase = body.Force1Phase;
    return undefined;
  }

  /** GET /health */
  health(): Record<string, unknown> {
    return { AccessMode: 'ReadWrite', ApiVersion: '1.0' };
  }

  /** GET /system */
  system(): Record<string, unknown> {
    return {
      ProductPn: '6004-2300-8000',
      ProductSn: `SIM-${this.options.assetId}`,
      FirmwareVersion: '1.6.1+1+WL-1',
      PhaseCount: this.options.phaseCount,
      Force1PhaseAllowed: this.options.phaseCount === 3,
      Uptime: Math.floor((this.now() - this.startedAtMs) / 1000),
      ActiveErrorCodes: [],
      ActiveWarningCodes: [],
      WlanSignalStrength: -55,
      CellularSignalStrength: null,
    };
  }

  /** GET /meter: powers W, currents mA, voltages V (null for phases not wired), energies Wh; integers. */
  meter(): Record<string, unknown> {
    const phasesInUse = this.ev.phasesInUse(this.force1Phase);
    const currentA = this.ev.currentA(this.appliedLimitA());
    const perPhaseW = this.powerW() / phasesInUse;
    const phase = (i: 0 | 1 | 2) => {
      const wired = i < this.options.phaseCount;
      const active = i < phasesInUse;
      return {
        power: active ? Math.round(perPhaseW) : 0,
        current: active ? Math.round(currentA * 1000) : 0,
        voltage: wired ? Math.round(this.voltagesV[i]) : null,
      };
    };
    const [p1, p2, p3] = [phase(0), phase(1), phase(2)];
    return {
      CurrentPhase1: p1.current,
      CurrentPhase2: p2.current,
      CurrentPhase3: p3.current,
      EnergySession: Math.round(this.ev.sessionEnergyWh),
      EnergyTotal: Math.round(this.energyTotalWh),
      PowerPhase1: p1.power,
      PowerPhase2: p2.power,
      PowerPhase3: p3.power,
      PowerTotal: Math.round(this.powerW()),
      VoltagePhase1: p1.voltage,
      VoltagePhase2: p2.voltage,
      VoltagePhase3: p3.voltage,
    };
  }

  /** GET /evinterface */
  evInterface(): Record<string, unknown> {
    const requestedA = this.limitMa / 1000;
    return {
      CpState: CP_TEXT[this.ev.cpState(this.appliedLimitA())],
      ChargeCurrentLimit: this.limitMa,
      ChargeCurrentLimitActual: Math.round(this.appliedLimitA() * 1000),
      ChargeCurrentLimitSource: requestedA > this.options.installationLimitA ? 'Installation limit' : 'Local REST API',
      Force1Phase: this.force1Phase,
    };
  }
}
