// Home Assistant MQTT discovery messages as real integrations publish them (Shelly's ha-shellies-discovery script,
// a battery bridge with node ids, a DSMR reader using device-based discovery, Zigbee2MQTT), plus broken ones.
// Used by the unit and the Mosquitto tests.

/** Shelly Pro 3EM (Gen2) — abbreviated keys and a `~` base topic. */
const SHELLY_DEVICE = {
  ids: ['c8f09e123456'],
  name: 'Shelly Pro 3EM',
  mdl: 'SPEM-003CEBEU',
  mf: 'Allterco Robotics',
  sw: '1.3.3',
  cns: [['mac', 'c8f09e123456']],
};

export const HA_SHELLY_PRO3EM: readonly (readonly [string, unknown])[] = [
  [
    'homeassistant/sensor/shellypro3em-c8f09e123456-total-active-power/config',
    {
      name: 'Total active power',
      uniq_id: 'c8f09e123456-em0-total_act_power',
      '~': 'shellypro3em-c8f09e123456/',
      stat_t: '~status/em:0',
      val_tpl: '{{value_json.total_act_power}}',
      unit_of_meas: 'W',
      dev_cla: 'power',
      stat_cla: 'measurement',
      avty_t: '~online',
      pl_avail: 'true',
      pl_not_avail: 'false',
      dev: SHELLY_DEVICE,
    },
  ],
  [
    'homeassistant/sensor/shellypro3em-c8f09e123456-total-active-energy/config',
    {
      name: 'Total active energy',
      uniq_id: 'c8f09e123456-emdata0-total_act',
      '~': 'shellypro3em-c8f09e123456/',
      stat_t: '~status/emdata:0',
      val_tpl: '{{ value_json.total_act | float }}',
      unit_of_meas: 'Wh',
      dev_cla: 'energy',
      stat_cla: 'total_increasing',
      dev: SHELLY_DEVICE,
    },
  ],
  [
    'homeassistant/sensor/shellypro3em-c8f09e123456-total-returned-energy/config',
    {
      name: 'Total returned energy',
      uniq_id: 'c8f09e123456-emdata0-total_act_ret',
      '~': 'shellypro3em-c8f09e123456/',
      stat_t: '~status/emdata:0',
      val_tpl: "{{ value_json['total_act_ret'] }}",
      unit_of_meas: 'kWh',
      dev_cla: 'energy',
      dev: SHELLY_DEVICE,
    },
  ],
  [
    'homeassistant/sensor/shellypro3em-c8f09e123456-phase-b-current/config',
    {
      name: 'Phase B current',
      uniq_id: 'c8f09e123456-em0-b_current',
      '~': 'shellypro3em-c8f09e123456/',
      stat_t: '~status/em:0',
      val_tpl: '{{value_json.b_current}}',
      unit_of_meas: 'A',
      dev_cla: 'current',
      dev: SHELLY_DEVICE,
    },
  ],
];

/** A home battery through a bridge that uses node ids (five-level topics) and full key names. */
const BATTERY_DEVICE = {
  identifiers: 'bridge_battery_1',
  name: 'Battery 1',
  manufacturer: 'Pylontech',
  model: 'US5000',
};
export const HA_HOME_BATTERY: readonly (readonly [string, unknown])[] = [
  [
    'homeassistant/sensor/bridge/battery_1_soc/config',
    {
      name: 'Battery state of charge',
      unique_id: 'bridge_battery_1_soc',
      state_topic: 'bridge/battery_1/state_of_charge/state',
      unit_of_measurement: '%',
      device_class: 'battery',
      state_class: 'measurement',
      device: BATTERY_DEVICE,
    },
  ],
  [
    'homeassistant/sensor/bridge/battery_1_power/config',
    {
      name: 'Battery power',
      unique_id: 'bridge_battery_1_power',
      state_topic: 'bridge/battery_1/power/state',
      unit_of_measurement: 'kW',
      device_class: 'power',
      device: BATTERY_DEVICE,
    },
  ],
];

/** A DSMR smart meter reader with device-based discovery (`cmps`, shared `stat_t`, origin `o`). */
export const HA_DSMR_DEVICE: readonly [string, unknown] = [
  'homeassistant/device/dsmr-reader/config',
  {
    dev: { ids: 'dsmr-1', name: 'DSMR smart meter', mf: 'Landis+Gyr', mdl: 'E350', sn: 'E0031003123456789' },
    o: { name: 'dsmr2mqtt', sw: '1.0' },
    stat_t: 'dsmr/reading',
    qos: 0,
    cmps: {
      power_delivered: {
        p: 'sensor',
        name: 'Power delivered',
        uniq_id: 'dsmr_power_delivered',
        val_tpl: '{{ value_json.power_delivered }}',
        unit_of_meas: 'kW',
        dev_cla: 'power',
      },
      energy_delivered: {
        p: 'sensor',
        name: 'Energy delivered',
        uniq_id: 'dsmr_energy_delivered',
        val_tpl: '{{ value_json.electricity_delivered_1 }}',
        unit_of_meas: 'kWh',
        dev_cla: 'energy',
      },
      energy_returned: {
        p: 'sensor',
        name: 'Energy returned',
        uniq_id: 'dsmr_energy_returned',
        val_tpl: "{{ value_json['electricity_returned_1'] }}",
        unit_of_meas: 'kWh',
        dev_cla: 'energy',
      },
      tariff: { p: 'binary_sensor', name: 'High tariff', val_tpl: '{{ value_json.tariff }}' },
    },
  },
];

/** A Zigbee door sensor: only a battery level, not an energy asset. */
export const HA_ZIGBEE_DOOR: readonly [string, unknown] = [
  'homeassistant/sensor/0x00158d0001a2b3c4/battery/config',
  {
    device_class: 'battery',
    unit_of_measurement: '%',
    state_topic: 'zigbee2mqtt/door',
    value_template: '{{ value_json.battery }}',
    unique_id: '0x00158d0001a2b3c4_battery_zigbee2mqtt',
    device: {
      identifiers: ['zigbee2mqtt_0x00158d0001a2b3c4'],
      manufacturer: 'Aqara',
      model: 'Door sensor',
      name: 'door',
    },
  },
];

/** A switch (another component) and a temperature sensor: ignored, not rejected. */
export const HA_IGNORED: readonly (readonly [string, string])[] = [
  [
    'homeassistant/switch/plug_1/relay/config',
    JSON.stringify({ name: 'Relay', cmd_t: 'plug_1/set', stat_t: 'plug_1/state' }),
  ],
  [
    'homeassistant/sensor/plug_1/temperature/config',
    JSON.stringify({ name: 'Temperature', stat_t: 'plug_1/temp', unit_of_meas: '°C', dev_cla: 'temperature' }),
  ],
];

/** Broken configs, each rejected with its reason. */
export const HA_GARBAGE: readonly (readonly [string, string])[] = [
  ['homeassistant/sensor/broken_1/config', 'not json{'],
  ['homeassistant/sensor/broken_2/config', '[1, 2, 3]'],
  [
    'homeassistant/sensor/broken_3/config',
    JSON.stringify({ name: 'No state topic', dev_cla: 'power', unit_of_meas: 'W' }),
  ],
  ['homeassistant/sensor/broken_4/config', JSON.stringify({ stat_t: 'meter/#', dev_cla: 'power', unit_of_meas: 'W' })],
  [
    'homeassistant/sensor/broken_5/config',
    JSON.stringify({ stat_t: 'meter/p', dev_cla: 'power', unit_of_meas: 'furlongs' }),
  ],
  [
    'homeassistant/sensor/broken_6/config',
    JSON.stringify({
      stat_t: 'meter/p',
      dev_cla: 'power',
      unit_of_meas: 'W',
      val_tpl: '{{ (value_json.p | float) * 1000 }}',
    }),
  ],
];
