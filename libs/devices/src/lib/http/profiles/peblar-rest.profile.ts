import type { HttpProfileInput } from '../http-profile';

/**
 * Peblar Home / Business EV charger (Prodrive; also sold as ChargeLine): the local REST API `/api/wlac/v1/`.
 * The Modbus server of the same charger is the `peblar.home` profile.
 * Source: libs/devices/docs/devices/peblar-ev-charger.md § 1 (endpoints, PascalCase fields, units: currents and the
 * limit in mA, energies in Wh; `Authorization: <token>` header), from python-peblar @ f1eaf32.
 */
export const peblarRest = {
  id: 'peblar.rest',
  vendor: 'Peblar',
  model: 'Home / Business EV charger (local REST API)',
  source: 'libs/devices/docs/devices/peblar-ev-charger.md § 1 (python-peblar @f1eaf32: peblar.py, models.py, fixtures)',
  notes:
    'Enable the local REST API in the web UI with access mode ReadWrite and put its 64-hex token into the environment ' +
    'variable the asset names (tokenEnv); a reboot or firmware update can invalidate the token (HTTP 401). The applied ' +
    'limit is the minimum of all limiters: ChargeCurrentLimit echoes the request (read back and compared), ' +
    'ChargeCurrentLimitActual is what the charger applies (reported as the effective value, with its source). ' +
    'IEC 61851 needs ≥ 6 A unless paused (0 A); the arbiter enforces the EV minimum from the site config.',
  protocol: 'http',
  kind: 'ev-charger',
  http: { basePath: '/api/wlac/v1', auth: { scheme: 'header', header: 'Authorization' } },
  reads: [
    {
      name: 'meter',
      path: '/meter',
      // prettier-ignore
      fields: [
        { key: 'powerW', path: '$.PowerTotal', unit: 'W', min: 0, max: 50_000 },
        { key: 'powerL1W', path: '$.PowerPhase1', unit: 'W', min: 0, max: 25_000 },
        { key: 'powerL2W', path: '$.PowerPhase2', unit: 'W', min: 0, max: 25_000, optional: true },
        { key: 'powerL3W', path: '$.PowerPhase3', unit: 'W', min: 0, max: 25_000, optional: true },
        { key: 'currentL1A', path: '$.CurrentPhase1', scale: 0.001, unit: 'A', min: 0, max: 80, note: 'mA on the wire' },
        { key: 'currentL2A', path: '$.CurrentPhase2', scale: 0.001, unit: 'A', min: 0, max: 80, optional: true },
        { key: 'currentL3A', path: '$.CurrentPhase3', scale: 0.001, unit: 'A', min: 0, max: 80, optional: true },
        { key: 'voltageL1V', path: '$.VoltagePhase1', unit: 'V', min: 0, max: 300, optional: true, note: 'null when the phase is absent' },
        { key: 'voltageL2V', path: '$.VoltagePhase2', unit: 'V', min: 0, max: 300, optional: true },
        { key: 'voltageL3V', path: '$.VoltagePhase3', unit: 'V', min: 0, max: 300, optional: true },
        { key: 'importEnergyWh', path: '$.EnergyTotal', unit: 'Wh', min: 0, note: 'lifetime energy delivered to EVs' },
        { key: 'sessionEnergyWh', path: '$.EnergySession', unit: 'Wh', min: 0 },
      ],
    },
    {
      name: 'evinterface',
      path: '/evinterface',
      // prettier-ignore
      fields: [
        {
          key: 'cpState', path: '$.CpState', type: 'enum',
          // IEC 61851 control-pilot state as its ASCII letter, like the Modbus server's register 30110.
          map: { 'State A': 0x41, 'State B': 0x42, 'State C': 0x43, 'State D': 0x44, 'State E': 0x45, 'State F': 0x46, Invalid: 0 },
        },
        { key: 'currentLimitA', path: '$.ChargeCurrentLimitActual', scale: 0.001, unit: 'A', min: 0, max: 80, note: 'applied after all limiters, mA' },
        { key: 'evCurrentSetpointA', path: '$.ChargeCurrentLimit', scale: 0.001, unit: 'A', min: 0, max: 80, note: 'requested via the API, mA' },
        { key: 'currentLimitSource', path: '$.ChargeCurrentLimitSource', type: 'string' },
        { key: 'forceSinglePhase', path: '$.Force1Phase', type: 'boolean', optional: true },
      ],
    },
    {
      name: 'system',
      path: '/system',
      pollIntervalMs: 60_000,
      // prettier-ignore
      fields: [
        { key: 'phases', path: '$.PhaseCount', min: 1, max: 3 },
        { key: 'serialNumber', path: '$.ProductSn', type: 'string', optional: true },
        { key: 'productNumber', path: '$.ProductPn', type: 'string', optional: true },
        { key: 'firmwareVersion', path: '$.FirmwareVersion', type: 'string', optional: true },
      ],
    },
  ],
  writes: [
    {
      setpoint: 'ev-current',
      method: 'PATCH',
      path: '/evinterface',
      body: { ChargeCurrentLimit: '{{value}}' },
      phaseBody: {
        one: { Force1Phase: true },
        three: { Force1Phase: false },
        readBack: { key: 'forceSinglePhase', one: 1, three: 0 },
      },
      scale: 1000,
      integer: true,
      range: { min: 0, max: 32 },
      safeValue: 0,
      readBack: { read: 'evinterface', key: 'evCurrentSetpointA' },
      effective: { key: 'currentLimitA', sourceKey: 'currentLimitSource' },
      note: 'A per phase → mA; Force1Phase only when the set-point names phases (needs Force1PhaseAllowed)',
    },
  ],
} satisfies HttpProfileInput;
