import type { DeviceProfileInput } from '../profile-schema';

/**
 * Peblar Home / Business EV charger (Prodrive; also sold as ChargeLine): the Modbus TCP server part.
 * The charger also has a local REST API (`/api/wlac/v1/`), driven by http-devices, not by this profile.
 * Source: libs/devices/docs/devices/peblar-ev-charger.md (project reference; register facts from Peblar's developer
 * documentation as quoted by evcc `charger/peblar.go` @ b29b49e, and Peblar's own client `Peblar/py-modbus-api-client`
 * for 30113 and the signedness of the meter registers).
 */
export const peblar = {
  id: 'peblar.home',
  vendor: 'Peblar',
  model: 'Home / Business EV charger (Modbus TCP server)',
  source:
    'libs/devices/docs/devices/peblar-ev-charger.md (Peblar developer docs via evcc charger/peblar.go @b29b49e; python-peblar @f1eaf32)',
  notes:
    "The Modbus server must be enabled in the web UI with access mode ReadWrite. Unit id: evcc defaults to 255, Peblar's client " +
    'and Home Assistant use 1: configure per site. The applied limit is the minimum of all limiters: read currentLimitA (30113) ' +
    'back, not the requested value. IEC 61851 needs ≥ 6 A unless paused (0 A); the arbiter enforces the EV minimum from the ' +
    'site config. Undocumented gaps are never read (maxGapRegisters 0).',
  protocol: 'modbus',
  kind: 'ev-charger',
  modbus: {
    defaultUnitId: 1,
    transports: ['tcp'],
    maxRegistersPerRead: 100,
    maxGapRegisters: 0,
    probe: [{ table: 'input', address: 30092, count: 1, note: 'physically connected phase count' }],
  },
  // prettier-ignore
  points: [
    { key: 'importEnergyWh', table: 'input', address: 30000, type: 's64', unit: 'Wh', min: 0, note: 'lifetime energy delivered to the EV' },
    { key: 'powerL1W', table: 'input', address: 30008, type: 's32', unit: 'W', min: 0, max: 25_000 },
    { key: 'powerL2W', table: 'input', address: 30010, type: 's32', unit: 'W', min: 0, max: 25_000 },
    { key: 'powerL3W', table: 'input', address: 30012, type: 's32', unit: 'W', min: 0, max: 25_000 },
    { key: 'powerW', table: 'input', address: 30014, type: 's32', unit: 'W', min: 0, max: 50_000 },
    { key: 'voltageL1V', table: 'input', address: 30016, type: 's32', unit: 'V', min: 0, max: 300 },
    { key: 'voltageL2V', table: 'input', address: 30018, type: 's32', unit: 'V', min: 0, max: 300 },
    { key: 'voltageL3V', table: 'input', address: 30020, type: 's32', unit: 'V', min: 0, max: 300 },
    { key: 'currentL1A', table: 'input', address: 30022, type: 's32', scale: 0.001, unit: 'A', min: 0, max: 80, note: 'mA on the wire' },
    { key: 'currentL2A', table: 'input', address: 30024, type: 's32', scale: 0.001, unit: 'A', min: 0, max: 80, note: 'mA on the wire' },
    { key: 'currentL3A', table: 'input', address: 30026, type: 's32', scale: 0.001, unit: 'A', min: 0, max: 80, note: 'mA on the wire' },
    { key: 'serialNumber', table: 'input', address: 30050, type: 'string', length: 12, readOn: 'connect', notImplemented: ['zero'] },
    { key: 'productNumber', table: 'input', address: 30062, type: 'string', length: 12, readOn: 'connect', notImplemented: ['zero'] },
    { key: 'firmwareVersion', table: 'input', address: 30074, type: 'string', length: 12, readOn: 'connect', notImplemented: ['zero'] },
    { key: 'phases', table: 'input', address: 30092, type: 'u16', min: 1, max: 3, note: 'physically connected phases' },
    { key: 'relayFitted', table: 'input', address: 30093, type: 'u16', min: 0, max: 1, readOn: 'connect', note: '1 = 1p/3p switching possible' },
    { key: 'cpState', table: 'input', address: 30110, type: 'u16', min: 0x41, max: 0x46, note: "ASCII 'A'…'F'" },
    { key: 'currentLimitSource', table: 'input', address: 30112, type: 'u16', min: 0, max: 0xffff },
    { key: 'currentLimitA', table: 'input', address: 30113, type: 's32', scale: 0.001, unit: 'A', min: 0, max: 80, note: 'applied limit, mA' },
    { key: 'evCurrentSetpointA', table: 'holding', address: 40000, type: 'u32', scale: 0.001, unit: 'A', access: 'rw', min: 0, max: 32, note: 'mA; 0 pauses' },
    { key: 'forceSinglePhase', table: 'holding', address: 40002, type: 'u16', access: 'rw', min: 0, max: 1, note: '1 = 1-phase, 0 = 3-phase' },
  ],
  controls: [
    {
      setpoint: 'ev-current',
      range: { min: 0, max: 32 },
      steps: [
        { key: 'forceSinglePhase', value: { phases: { one: 1, three: 0 } } },
        { key: 'evCurrentSetpointA', value: 'setpoint' },
      ],
      safeSteps: [{ key: 'evCurrentSetpointA', value: 0 }],
      note: 'current limit per phase in A, written as mA with FC 16; the phase switch is written only when the set-point names phases',
    },
  ],
} satisfies DeviceProfileInput;
