// A simulated Shelly Pro 3EM: the status objects of its EM and EMData components as the device publishes them on
// MQTT (<prefix>/status/em:0, <prefix>/status/emdata:0), written from ../shared/reference-style notes in
// libs/devices/docs/devices/shelly-gen2.md — the simulator's own statement, not built with the devices profile.

/** What the meter measures after a step (its own sign: + = consumed through it, − = returned). */
export interface ShellyInputs {
  readonly powerW: number;
  /** Phases the power is spread over (1 = all on phase a). */
  readonly phases: 1 | 3;
  readonly voltagesV: readonly [number, number, number];
  readonly frequencyHz: number;
  /** Energy counters, Wh. */
  readonly consumedWh: number;
  readonly returnedWh: number;
}

const round = (value: number, digits: number): number => {
  const f = 10 ** digits;
  const r = Math.round(value * f) / f;
  return r === 0 ? 0 : r;
};

/** The two status objects of the meter for one set of inputs. */
export class ShellyPro3emImage {
  private inputs: ShellyInputs = {
    powerW: 0,
    phases: 3,
    voltagesV: [230, 230, 230],
    frequencyHz: 50,
    consumedWh: 0,
    returnedWh: 0,
  };

  private measured = false;

  update(inputs: ShellyInputs): void {
    this.inputs = inputs;
    this.measured = true;
  }

  /** False until the first step's values arrived: the meter publishes nothing before it has measured. */
  get ready(): boolean {
    return this.measured;
  }

  /** `em:0` status: per phase current (A), voltage (V), active and apparent power (W, VA), PF, frequency; totals. */
  em(): Record<string, unknown> {
    const { powerW, phases, voltagesV, frequencyHz } = this.inputs;
    const perPhase = powerW / phases;
    const status: Record<string, unknown> = { id: 0 };
    let totalCurrent = 0;
    (['a', 'b', 'c'] as const).forEach((p, i) => {
      const w = i < phases ? perPhase : 0;
      const v = voltagesV[i] ?? 230;
      const a = Math.abs(w) / v;
      totalCurrent += a;
      status[`${p}_current`] = round(a, 3);
      status[`${p}_voltage`] = round(v, 1);
      status[`${p}_act_power`] = round(w, 1);
      status[`${p}_aprt_power`] = round(Math.abs(w), 1);
      status[`${p}_pf`] = w === 0 ? 0 : 1;
      status[`${p}_freq`] = round(frequencyHz, 2);
    });
    status['n_current'] = null;
    status['total_current'] = round(totalCurrent, 3);
    status['total_act_power'] = round(powerW, 1);
    status['total_aprt_power'] = round(Math.abs(powerW), 1);
    status['user_calibrated_phase'] = [];
    return status;
  }

  /** `emdata:0` status: energy counters per phase and in total, Wh. */
  emData(): Record<string, unknown> {
    const { phases, consumedWh, returnedWh } = this.inputs;
    const status: Record<string, unknown> = { id: 0 };
    (['a', 'b', 'c'] as const).forEach((p, i) => {
      status[`${p}_total_act_energy`] = i < phases ? round(consumedWh / phases, 2) : 0;
      status[`${p}_total_act_ret_energy`] = i < phases ? round(returnedWh / phases, 2) : 0;
    });
    status['total_act'] = round(consumedWh, 2);
    status['total_act_ret'] = round(returnedWh, 2);
    return status;
  }
}
