import type { DeviceProfileInput } from '../profile-schema';

/**
 * Autel MaxiCharger AC (AC MaxiCharger / AC Compact / AC Elite): **OCPP 1.6-J only**. No public Modbus or
 * REST map exists, so this profile has no registers; the ocpp-csms service drives the charger
 * (BootNotification, StatusNotification, MeterValues, SetChargingProfile, RemoteStart/StopTransaction).
 * Source: libs/devices/docs/devices/autel-maxicharger.md (project reference; evcc `ocpp-autel.yaml` @ b29b49e,
 * Home Assistant lbbrhzn/ocpp PR #2072/#2076 and issue #1019).
 */
export const autelMaxiCharger = {
  id: 'autel.maxicharger-ac',
  vendor: 'Autel',
  model: 'MaxiCharger AC (OCPP 1.6-J)',
  source:
    'libs/devices/docs/devices/autel-maxicharger.md (evcc ocpp-autel.yaml @b29b49e; lbbrhzn/ocpp #2072/#2076/#1019)',
  notes:
    'Point the charger (Autel Charge app → OCPP Server → Custom) at the gateway, e.g. ws://<gateway>:8887/. Firmware per evcc: ' +
    'Charge Control Module ≥ V1.51.00, Power Control Module ≥ V1.19.00. evcc forces remote start. After a remote stop with the car ' +
    'still plugged in the connector may stay in Finishing until a reset or a new transaction. A few holding registers ' +
    '(20001–20010) answer Modbus TCP on some units, but their meaning is undocumented and there is no write path: not used.',
  protocol: 'ocpp',
  kind: 'ev-charger',
  ocpp: {
    versions: ['1.6-j'],
    currentControl: 'set-charging-profile',
    minCurrentA: 6,
    measurands: ['Energy.Active.Import.Register', 'Power.Active.Import', 'Current.Import'],
    bootNotification: { vendor: 'Autel', model: 'MaxiChargerAC' },
  },
} satisfies DeviceProfileInput;
