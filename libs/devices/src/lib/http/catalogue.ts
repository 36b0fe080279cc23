import type { MeasurementKey } from '@voltimax/contracts';
import type { MqttProfile } from '../mqtt/mqtt-profile';
import type { ControlSetpoint, ProfileKind } from '../profile-schema';
import { getProfile } from '../registry';
import type { HttpProfile } from './http-profile';

/** The HTTP profile with this id, or undefined (also for Modbus, SunSpec, OCPP and MQTT profiles). */
export function getHttpProfile(id: string): HttpProfile | undefined {
  const profile = getProfile(id);
  return profile?.protocol === 'http' ? profile : undefined;
}

/** The MQTT profile with this id, or undefined (also for every other protocol). */
export function getMqttProfile(id: string): MqttProfile | undefined {
  const profile = getProfile(id);
  return profile?.protocol === 'mqtt' ? profile : undefined;
}

/**
 * Keys each HTTP/MQTT profile of a kind must read. Looser than the register profiles' `REQUIRED_KEYS`: JSON
 * devices of the home class often lack export counters (a plug) or a current limit (a relay in front of a charger).
 */
export const JSON_REQUIRED_KEYS: Readonly<Record<ProfileKind, readonly MeasurementKey[]>> = {
  meter: ['powerW', 'importEnergyWh'],
  battery: ['powerW', 'socPct'],
  'hybrid-inverter': ['powerW', 'socPct', 'pvPowerW'],
  'pv-inverter': ['powerW'],
  'ev-charger': ['powerW'],
};

/** Set-points each HTTP/MQTT profile of a kind must be able to execute. */
export const JSON_REQUIRED_WRITES: Readonly<Record<ProfileKind, readonly ControlSetpoint[]>> = {
  meter: [],
  battery: ['battery-power'],
  'hybrid-inverter': ['battery-power'],
  'pv-inverter': ['pv-limit'],
  'ev-charger': ['ev-current'],
};
