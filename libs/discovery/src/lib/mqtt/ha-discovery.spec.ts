import {
  HA_DSMR_DEVICE,
  HA_GARBAGE,
  HA_HOME_BATTERY,
  HA_IGNORED,
  HA_SHELLY_PRO3EM,
  HA_ZIGBEE_DOOR,
} from '../testing/ha-payloads';
import { commonTopicPrefix, haCandidates, parseHaConfig, simpleJsonPath, type ParsedSensor } from './ha-discovery';

const sensorsOf = (messages: readonly (readonly [string, unknown])[]): ParsedSensor[] =>
  messages.flatMap(([topic, payload]) => {
    const outcome = parseHaConfig(topic, JSON.stringify(payload));
    if (outcome.kind !== 'sensors') throw new Error(`${topic}: ${outcome.kind} ${outcome.reason}`);
    return [...outcome.sensors];
  });

describe('simpleJsonPath', () => {
  it.each([
    [undefined, null],
    ['{{ value }}', null],
    ['{{ value | float }}', null],
    ['{{value_json.total_act_power}}', 'total_act_power'],
    ['{{ value_json.ENERGY.Power }}', 'ENERGY.Power'],
    ["{{ value_json['apower'] | float }}", 'apower'],
    ['{{ value_json["switch:0"].apower | round(1) }}', 'switch:0.apower'],
    ['{{ value_json.phases[0].power }}', 'phases.0.power'],
    ['{{ (value_json.p | float) * 1000 }}', undefined],
    ['{% if value_json.p %}{{ value_json.p }}{% endif %}', undefined],
    ["{{ value_json['a.b'] }}", undefined],
  ])('%s → %s', (template, path) => expect(simpleJsonPath(template)).toBe(path));
});

describe('parseHaConfig', () => {
  it('expands abbreviated keys and the ~ base topic of a Shelly Pro 3EM', () => {
    const [power, energy, returned, current] = sensorsOf(HA_SHELLY_PRO3EM);
    expect(power?.sensor).toEqual({
      key: 'powerW',
      stateTopic: 'shellypro3em-c8f09e123456/status/em:0',
      jsonPath: 'total_act_power',
      unit: 'W',
      scale: 1,
    });
    expect(power?.device).toMatchObject({
      manufacturer: 'Allterco Robotics',
      model: 'SPEM-003CEBEU',
      name: 'Shelly Pro 3EM',
    });
    expect(energy?.sensor).toMatchObject({ key: 'importEnergyWh', jsonPath: 'total_act', scale: 1 });
    expect(returned?.sensor).toMatchObject({
      key: 'exportEnergyWh',
      jsonPath: 'total_act_ret',
      unit: 'kWh',
      scale: 1000,
    });
    expect(current?.sensor).toMatchObject({ key: 'currentL2A', jsonPath: 'b_current' });
  });

  it('reads five-level topics (node id) with full key names, and scales kW to W', () => {
    const [soc, power] = sensorsOf(HA_HOME_BATTERY);
    expect(soc?.sensor).toEqual({
      key: 'socPct',
      stateTopic: 'bridge/battery_1/state_of_charge/state',
      unit: '%',
      scale: 1,
    });
    expect(power?.sensor).toMatchObject({ key: 'powerW', unit: 'kW', scale: 1000 });
  });

  it('reads device-based discovery: shared state topic, one sensor per component, other platforms skipped', () => {
    const sensors = sensorsOf([HA_DSMR_DEVICE]);
    expect(sensors.map((s) => [s.sensor.key, s.sensor.stateTopic, s.sensor.jsonPath])).toEqual([
      ['powerW', 'dsmr/reading', 'power_delivered'],
      ['importEnergyWh', 'dsmr/reading', 'electricity_delivered_1'],
      ['exportEnergyWh', 'dsmr/reading', 'electricity_returned_1'],
    ]);
    expect(sensors[0]?.device).toMatchObject({ serial_number: 'E0031003123456789', identifiers: 'dsmr-1' });
  });

  it('ignores other components, other device classes and removals', () => {
    expect(HA_IGNORED.map(([topic, payload]) => parseHaConfig(topic, payload))).toEqual([
      { kind: 'ignored', reason: 'component switch' },
      { kind: 'ignored', reason: 'not an energy sensor (device_class temperature)' },
    ]);
    expect(parseHaConfig('homeassistant/sensor/x/config', '')).toEqual({
      kind: 'ignored',
      reason: 'removed (empty payload)',
    });
  });

  it('rejects broken configs with the reason', () => {
    expect(HA_GARBAGE.map(([topic, payload]) => parseHaConfig(topic, payload))).toEqual([
      { kind: 'rejected', reason: 'payload is not JSON' },
      { kind: 'rejected', reason: 'payload is not a JSON object' },
      { kind: 'rejected', reason: expect.stringMatching(/^invalid sensor config: state_topic: /) },
      { kind: 'rejected', reason: 'invalid sensor config: state_topic: state_topic must not contain wildcards' },
      { kind: 'rejected', reason: "unit 'furlongs' is not one of power's (W, kW, MW)" },
      { kind: 'rejected', reason: 'value_template is not a simple JSON path' },
    ]);
  });
});

describe('haCandidates', () => {
  it('groups sensors by Home Assistant device into one candidate each, with kind, identity and topic prefix', () => {
    const sensors = sensorsOf([...HA_SHELLY_PRO3EM, ...HA_HOME_BATTERY, HA_DSMR_DEVICE, HA_ZIGBEE_DOOR]);
    const { candidates, skipped } = haCandidates(sensors, 'mqtt://127.0.0.1:1883');
    expect(candidates.map((c) => [c.kind, c.label, c.connection])).toEqual([
      [
        'meter',
        'Shelly Pro 3EM (Allterco Robotics SPEM-003CEBEU)',
        { protocol: 'mqtt', topicPrefix: 'shellypro3em-c8f09e123456', brokerUrl: 'mqtt://127.0.0.1:1883' },
      ],
      [
        'battery',
        'Battery 1 (Pylontech US5000)',
        { protocol: 'mqtt', topicPrefix: 'bridge/battery_1', brokerUrl: 'mqtt://127.0.0.1:1883' },
      ],
      [
        'grid-meter',
        'DSMR smart meter (Landis+Gyr E350)',
        { protocol: 'mqtt', topicPrefix: 'dsmr', brokerUrl: 'mqtt://127.0.0.1:1883' },
      ],
    ]);
    expect(candidates[0]?.identity).toMatchObject({ mac: 'c8:f0:9e:12:34:56', manufacturer: 'Allterco Robotics' });
    // its topics and JSON paths are the catalogue's Shelly Pro 3EM MQTT profile: applicable, prefix = device id
    expect(candidates[0]).toMatchObject({ profileId: 'shelly.pro-3em', confidence: 0.85 });
    expect(candidates[1]?.profileId).toBeUndefined();
    expect(candidates[0]?.key).toBe('mac:c8:f0:9e:12:34:56');
    expect(candidates[2]?.key).toBe('serial:e0031003123456789');
    expect(candidates[1]?.sensors?.map((s) => s.key)).toEqual(['socPct', 'powerW']);
    expect(skipped).toEqual([
      { device: 'zigbee2mqtt_0x00158d0001a2b3c4', reason: expect.stringMatching(/battery level/) },
    ]);
  });
});

describe('commonTopicPrefix', () => {
  it.each([
    [['a/b/c', 'a/b/d'], 'a/b'],
    [['a/b/c'], 'a/b'],
    [['x/1', 'y/2'], 'x'],
    [['dsmr/reading', 'dsmr/reading'], 'dsmr'],
  ])('%j → %s', (topics, prefix) => expect(commonTopicPrefix(topics)).toBe(prefix));
});
