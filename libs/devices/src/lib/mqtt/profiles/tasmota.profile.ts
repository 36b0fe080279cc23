import type { MqttProfileInput } from '../mqtt-profile';

/**
 * A Tasmota device with an energy monitor (plugs such as Sonoff POW, Gosund, Nous A1T; DIN-rail meters) as a
 * sub-meter: telemetry `tele/<topic>/SENSOR` with the `ENERGY` object every TelePeriod.
 * Source: libs/devices/docs/devices/tasmota-energy.md (Tasmota documentation: MQTT topics, JSON status responses).
 */
export const tasmotaEnergy = {
  id: 'tasmota.energy',
  vendor: 'Tasmota',
  model: 'energy-monitoring device (tele/<topic>/SENSOR)',
  source: 'libs/devices/docs/devices/tasmota-energy.md (Tasmota docs: MQTT, JSON status responses)',
  notes:
    'The asset topicPrefix is the device Topic (the %topic% of FullTopic %prefix%/%topic%/). Tasmota sends SENSOR every ' +
    'TelePeriod seconds (default 300): set TelePeriod ≤ the asset pollIntervalMs / 1000, or readings go stale. ENERGY.Total ' +
    'is kWh since TotalStartTime; Power ≥ 0 for a plug.',
  protocol: 'mqtt',
  kind: 'meter',
  topics: [
    {
      name: 'sensor',
      topic: 'tele/{prefix}/SENSOR',
      // prettier-ignore
      fields: [
        { key: 'powerW', path: '$.ENERGY.Power', unit: 'W', min: -25_000, max: 25_000 },
        { key: 'voltageL1V', path: '$.ENERGY.Voltage', unit: 'V', min: 0, max: 300, optional: true },
        { key: 'currentL1A', path: '$.ENERGY.Current', unit: 'A', min: 0, max: 100, optional: true },
        { key: 'importEnergyWh', path: '$.ENERGY.Total', scale: 1000, unit: 'Wh', min: 0, note: 'kWh on the wire' },
      ],
    },
  ],
} satisfies MqttProfileInput;
