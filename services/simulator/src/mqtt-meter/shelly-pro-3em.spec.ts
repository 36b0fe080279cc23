// The simulated Shelly Pro 3EM status objects against members typed by hand from shelly-gen2.md.
import { ShellyPro3emImage } from './shelly-pro-3em';

describe('ShellyPro3emImage', () => {
  it('splits a 3-phase export over the phases: negative act_power, currents as magnitudes', () => {
    const image = new ShellyPro3emImage();
    image.update({
      powerW: -3_000,
      phases: 3,
      voltagesV: [230, 231, 229],
      frequencyHz: 50.012,
      consumedWh: 2_345_678.4,
      returnedWh: 456_789.9,
    });
    expect(image.em()).toEqual({
      id: 0,
      a_current: 4.348,
      a_voltage: 230,
      a_act_power: -1_000,
      a_aprt_power: 1_000,
      a_pf: 1,
      a_freq: 50.01,
      b_current: 4.329,
      b_voltage: 231,
      b_act_power: -1_000,
      b_aprt_power: 1_000,
      b_pf: 1,
      b_freq: 50.01,
      c_current: 4.367,
      c_voltage: 229,
      c_act_power: -1_000,
      c_aprt_power: 1_000,
      c_pf: 1,
      c_freq: 50.01,
      n_current: null,
      total_current: 13.044,
      total_act_power: -3_000,
      total_aprt_power: 3_000,
      user_calibrated_phase: [],
    });
    expect(image.emData()).toEqual({
      id: 0,
      a_total_act_energy: 781_892.8,
      a_total_act_ret_energy: 152_263.3,
      b_total_act_energy: 781_892.8,
      b_total_act_ret_energy: 152_263.3,
      c_total_act_energy: 781_892.8,
      c_total_act_ret_energy: 152_263.3,
      total_act: 2_345_678.4,
      total_act_ret: 456_789.9,
    });
  });

  it('is not ready before its first measurement', () => {
    const image = new ShellyPro3emImage();
    expect(image.ready).toBe(false);
    image.update({ powerW: 0, phases: 3, voltagesV: [230, 230, 230], frequencyHz: 50, consumedWh: 0, returnedWh: 0 });
    expect(image.ready).toBe(true);
  });

  it('puts a 1-phase site on phase a only', () => {
    const image = new ShellyPro3emImage();
    image.update({
      powerW: 1_150,
      phases: 1,
      voltagesV: [230, 230, 230],
      frequencyHz: 50,
      consumedWh: 10,
      returnedWh: 0,
    });
    expect(image.em()).toMatchObject({
      a_act_power: 1_150,
      a_current: 5,
      b_act_power: 0,
      b_current: 0,
      b_pf: 0,
      total_act_power: 1_150,
    });
    expect(image.emData()).toMatchObject({ a_total_act_energy: 10, b_total_act_energy: 0, total_act: 10 });
  });
});
