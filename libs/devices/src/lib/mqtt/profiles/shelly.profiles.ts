import type { MqttProfileInput } from '../mqtt-profile';

const SHELLY_SOURCE = 'libs/devices/docs/devices/shelly-gen2.md (Shelly Gen2+ API docs: MQTT, EM, EMData, Switch)';

/**
 * Shelly Pro 3EM (Gen2 three-phase energy meter) over MQTT: status notifications `<prefix>/status/em:0` (powers,
 * voltages, currents) and `<prefix>/status/emdata:0` (energy counters, Wh).
 * Source: libs/devices/docs/devices/shelly-gen2.md.
 */
export const shellyPro3em = {
  id: 'shelly.pro-3em',
  vendor: 'Shelly',
  model: 'Pro 3EM (Gen2, MQTT status notifications)',
  source: SHELLY_SOURCE,
  notes:
    'Enable MQTT with "Generic status update over MQTT" (status_ntf) and MQTT control (enable_control); the topic prefix ' +
    'is the device id unless set. Active power is − when returning to the grid (our grid sign for a grid meter). ' +
    'emdata:0 comes about once a minute: not required for a fresh reading. When no message came for a poll interval, ' +
    '"status_update" on <prefix>/command asks the device for every status.',
  protocol: 'mqtt',
  kind: 'meter',
  mqtt: { statusRequest: { topic: '{prefix}/command', payload: 'status_update' } },
  topics: [
    {
      name: 'em',
      topic: '{prefix}/status/em:0',
      // prettier-ignore
      fields: [
        { key: 'powerW', path: '$.total_act_power', unit: 'W', min: -100_000, max: 100_000 },
        { key: 'powerL1W', path: '$.a_act_power', unit: 'W', min: -50_000, max: 50_000 },
        { key: 'powerL2W', path: '$.b_act_power', unit: 'W', min: -50_000, max: 50_000 },
        { key: 'powerL3W', path: '$.c_act_power', unit: 'W', min: -50_000, max: 50_000 },
        { key: 'voltageL1V', path: '$.a_voltage', unit: 'V', min: 0, max: 300 },
        { key: 'voltageL2V', path: '$.b_voltage', unit: 'V', min: 0, max: 300 },
        { key: 'voltageL3V', path: '$.c_voltage', unit: 'V', min: 0, max: 300 },
        { key: 'currentL1A', path: '$.a_current', unit: 'A', min: 0, max: 200 },
        { key: 'currentL2A', path: '$.b_current', unit: 'A', min: 0, max: 200 },
        { key: 'currentL3A', path: '$.c_current', unit: 'A', min: 0, max: 200 },
        { key: 'frequencyHz', path: '$.a_freq', unit: 'Hz', min: 45, max: 65, optional: true, note: 'newer firmware only' },
      ],
    },
    {
      name: 'emdata',
      topic: '{prefix}/status/emdata:0',
      required: false,
      // prettier-ignore
      fields: [
        { key: 'importEnergyWh', path: '$.total_act', unit: 'Wh', min: 0 },
        { key: 'exportEnergyWh', path: '$.total_act_ret', unit: 'Wh', min: 0 },
      ],
    },
  ],
} satisfies MqttProfileInput;

/**
 * Shelly Plus 1PM (Gen2 relay with metering) in front of a simple EV charger: the charger charges at its own
 * fixed current while the relay is on. `ev-current` ≥ 6 A switches on, below switches off (0 A = paused).
 * Source: libs/devices/docs/devices/shelly-gen2.md.
 */
export const shellyPlus1pm = {
  id: 'shelly.plus-1pm',
  vendor: 'Shelly',
  model: 'Plus 1PM relay (Gen2, MQTT) switching an EV charger',
  source: SHELLY_SOURCE,
  notes:
    'Enable MQTT with status notifications and MQTT control. The relay switches the whole charger: it cannot set a ' +
    'current, only allow charging (≥ 6 A) or not. Commands are "on"/"off" on <prefix>/command/switch:0; the switch ' +
    'status (output) confirms them. Switching a charger under load wears the relay: let the arbiter rate-limit writes.',
  protocol: 'mqtt',
  kind: 'ev-charger',
  mqtt: { statusRequest: { topic: '{prefix}/command', payload: 'status_update' } },
  topics: [
    {
      name: 'switch',
      topic: '{prefix}/status/switch:0',
      // prettier-ignore
      fields: [
        { key: 'powerW', path: '$.apower', unit: 'W', min: -50, max: 4_000, note: 'a few W below 0 is measurement noise' },
        { key: 'voltageL1V', path: '$.voltage', unit: 'V', min: 0, max: 300, optional: true },
        { key: 'currentL1A', path: '$.current', unit: 'A', min: 0, max: 20, optional: true },
        { key: 'importEnergyWh', path: '$.aenergy.total', unit: 'Wh', min: 0, optional: true },
        { key: 'relayOn', path: '$.output', type: 'boolean' },
      ],
    },
  ],
  writes: [
    {
      setpoint: 'ev-current',
      topic: '{prefix}/command/switch:0',
      payload: { kind: 'switch', on: 'on', off: 'off', onAtOrAbove: 6 },
      range: { min: 0, max: 32 },
      integer: false,
      safeValue: 0,
      readBack: { topic: 'switch', key: 'relayOn' },
      note: 'on at ≥ 6 A (IEC 61851 minimum), off below',
    },
  ],
} satisfies MqttProfileInput;
