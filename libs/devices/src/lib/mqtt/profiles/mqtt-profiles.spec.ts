// Golden tests of the MQTT profiles with payloads typed by hand from libs/devices/docs/devices/shelly-gen2.md
// and tasmota-energy.md.
import { getMqttProfile } from '../../http/catalogue';
import { describeJsonIssues } from '../../http/json-fields';
import { confirmsCommand, decodeMqttPayload, encodeMqttCommand, mqttTopic } from '../mqtt-messages';
import type { MqttProfile } from '../mqtt-profile';

const profileOf = (id: string) => getMqttProfile(id) as MqttProfile;
const topicOf = (profile: MqttProfile, name: string) => {
  const topic = profile.topics.find((t) => t.name === name);
  if (topic === undefined) throw new Error(name);
  return topic;
};
const reading = (profile: MqttProfile, name: string, payload: string) => {
  const outcome = decodeMqttPayload(topicOf(profile, name), new TextEncoder().encode(payload));
  if (outcome.kind !== 'reading') throw new Error(outcome.error);
  return outcome.reading;
};

describe('shelly.pro-3em', () => {
  const profile = profileOf('shelly.pro-3em');

  it('listens on the status topics of em:0 and emdata:0 and can ask for a status update', () => {
    expect(profile.topics.map((t) => [mqttTopic(t.topic, 'shellypro3em-0cb815fc1234'), t.required])).toEqual([
      ['shellypro3em-0cb815fc1234/status/em:0', true],
      ['shellypro3em-0cb815fc1234/status/emdata:0', false],
    ]);
    expect(profile.mqtt.statusRequest).toEqual({ topic: '{prefix}/command', payload: 'status_update' });
  });

  it('decodes em:0: phase b returns to the grid (negative), the total is the net', () => {
    const values = reading(
      profile,
      'em',
      '{"id":0,"a_current":4.029,"a_voltage":236.1,"a_act_power":951.2,"a_aprt_power":951.9,"a_pf":1,"b_current":4.027,' +
        '"b_voltage":236.2,"b_act_power":-951.1,"b_aprt_power":951.8,"b_pf":1,"c_current":3.03,"c_voltage":236.3,' +
        '"c_act_power":715.8,"c_aprt_power":716.1,"c_pf":1,"n_current":null,"total_current":11.086,' +
        '"total_act_power":715.9,"total_aprt_power":2619.8,"user_calibrated_phase":[]}',
    );
    expect(values.issues).toEqual([]);
    expect(values.measurements).toEqual({
      powerW: 715.9,
      powerL1W: 951.2,
      powerL2W: -951.1,
      powerL3W: 715.8,
      voltageL1V: 236.1,
      voltageL2V: 236.2,
      voltageL3V: 236.3,
      currentL1A: 4.029,
      currentL2A: 4.027,
      currentL3A: 3.03,
    });
  });

  it('decodes emdata:0 counters, which are already Wh', () => {
    const values = reading(
      profile,
      'emdata',
      '{"id":0,"a_total_act_energy":2.44,"a_total_act_ret_energy":0,"b_total_act_energy":0,"b_total_act_ret_energy":2.4,' +
        '"c_total_act_energy":1.83,"c_total_act_ret_energy":0,"total_act":4.27,"total_act_ret":2.4}',
    );
    expect(values.issues).toEqual([]);
    expect(values.measurements).toEqual({ importEnergyWh: 4.27, exportEnergyWh: 2.4 });
  });

  it('names a wrong JSON type in a status', () => {
    const values = reading(
      profile,
      'em',
      '{"a_current":4,"a_voltage":236,"a_act_power":"951","b_current":4,"b_voltage":236,"b_act_power":1,"c_current":3,"c_voltage":236,"c_act_power":1,"total_act_power":null}',
    );
    expect(describeJsonIssues(values.issues)).toBe(
      'malformed: $.total_act_power is null, expected number; $.a_act_power is string, expected number',
    );
    expect(values.measurements.powerL2W).toBe(1);
  });

  it('has no writes', () => {
    expect(encodeMqttCommand(profile, { kind: 'safe' }, 'x')).toMatchObject({
      kind: 'rejected',
      reason: 'unsupported-setpoint',
    });
  });
});

describe('shelly.plus-1pm', () => {
  const profile = profileOf('shelly.plus-1pm');

  it('decodes switch:0 (relay state, power, energy counter in Wh)', () => {
    const values = reading(
      profile,
      'switch',
      '{"id":0,"source":"MQTT","output":true,"apower":3642.5,"voltage":229.4,"current":15.889,' +
        '"aenergy":{"total":1520.334,"by_minute":[0,0,0],"minute_ts":1712750400},"temperature":{"tC":46.1,"tF":114.9}}',
    );
    expect(values.issues).toEqual([]);
    expect(values.values).toEqual({
      powerW: 3642.5,
      voltageL1V: 229.4,
      currentL1A: 15.889,
      importEnergyWh: 1520.334,
      relayOn: 1,
    });
  });

  it('switches on at ≥ 6 A and off below (0 A and safe = off), confirmed by the output', () => {
    const on = encodeMqttCommand(profile, { kind: 'ev-current', currentA: 16 }, 'shellyplus1pm-a8032ab12345');
    expect(on).toMatchObject({
      kind: 'commands',
      commands: [
        {
          topic: 'shellyplus1pm-a8032ab12345/command/switch:0',
          payload: 'on',
          qos: 1,
          retain: false,
          expect: { topicName: 'switch', key: 'relayOn', value: 1 },
        },
      ],
    });
    const off = (currentA: number) => {
      const outcome = encodeMqttCommand(profile, { kind: 'ev-current', currentA }, 'p');
      return outcome.kind === 'commands' ? outcome.commands[0]?.payload : outcome.reason;
    };
    expect([off(0), off(5.9), off(6), off(32), off(33)]).toEqual(['off', 'off', 'on', 'on', 'out-of-range']);
    const safe = encodeMqttCommand(profile, { kind: 'safe' }, 'p');
    expect(safe.kind === 'commands' && safe.commands[0]?.payload).toBe('off');
    const onCommand = on.kind === 'commands' ? on.commands[0] : undefined;
    if (onCommand === undefined) throw new Error('no command');
    expect(confirmsCommand(onCommand.expect, reading(profile, 'switch', '{"output":true,"apower":0}'))).toBe(true);
    expect(confirmsCommand(onCommand.expect, reading(profile, 'switch', '{"output":false,"apower":0}'))).toBe(false);
  });
});

describe('tasmota.energy', () => {
  const profile = profileOf('tasmota.energy');

  it('decodes tele/<topic>/SENSOR ENERGY (kWh → Wh)', () => {
    expect(mqttTopic(topicOf(profile, 'sensor').topic, 'plug-dryer')).toBe('tele/plug-dryer/SENSOR');
    const values = reading(
      profile,
      'sensor',
      '{"Time":"2024-04-10T12:00:00","ENERGY":{"TotalStartTime":"2023-11-02T18:01:12","Total":152.371,"Yesterday":1.204,' +
        '"Today":0.612,"Period":4,"Power":231,"ApparentPower":245,"ReactivePower":82,"Factor":0.94,"Voltage":229,"Current":1.07}}',
    );
    expect(values.issues).toEqual([]);
    expect(values.measurements).toEqual({ powerW: 231, voltageL1V: 229, currentL1A: 1.07, importEnergyWh: 152_371 });
  });

  it('names a SENSOR message without ENERGY (another sensor on the same device)', () => {
    const values = reading(
      profile,
      'sensor',
      '{"Time":"2024-04-10T12:00:00","AM2301":{"Temperature":21.3,"Humidity":48}}',
    );
    expect(describeJsonIssues(values.issues)).toBe('malformed: $.ENERGY missing; $.ENERGY missing');
  });
});
