import type { MeasurementKey } from '@voltimax/contracts';
import type { ExtraKey } from './keys';
import {
  DeviceProfileSchema,
  type ControlSetpoint,
  type DeviceProfile,
  type DeviceProfileInput,
  type ModbusProfile,
  type ProfileKind,
} from './profile-schema';
import { homewizardP1 } from './http/profiles/homewizard-p1.profile';
import { peblarRest } from './http/profiles/peblar-rest.profile';
import { shellyPlus1pm, shellyPro3em } from './mqtt/profiles/shelly.profiles';
import { tasmotaEnergy } from './mqtt/profiles/tasmota.profile';
import { abbB23B24 } from './profiles/abb-b23-b24.profile';
import { autelMaxiCharger } from './profiles/autel-maxicharger.profile';
import { cnteBattery } from './profiles/cnte-battery.profile';
import { eastronSdm630 } from './profiles/eastron-sdm630.profile';
import { growattPv } from './profiles/growatt-pv.profile';
import { growattSph } from './profiles/growatt-sph.profile';
import { growattTlXh } from './profiles/growatt-tl-xh.profile';
import { peblar } from './profiles/peblar.profile';
import { siemensPac2200 } from './profiles/siemens-pac2200.profile';
import { sunspecGeneric } from './profiles/sunspec-generic.profile';

/** The profiles as written (schema input); the registry below holds them parsed. */
export const PROFILE_INPUTS: readonly DeviceProfileInput[] = [
  eastronSdm630,
  siemensPac2200,
  abbB23B24,
  growattPv,
  growattSph,
  growattTlXh,
  peblar,
  autelMaxiCharger,
  cnteBattery,
  sunspecGeneric,
  peblarRest,
  homewizardP1,
  shellyPro3em,
  shellyPlus1pm,
  tasmotaEnergy,
];

/** Every device profile, parsed with `DeviceProfileSchema` when the module loads (defaults applied once; a bad profile fails at load). */
export const allProfiles: readonly DeviceProfile[] = PROFILE_INPUTS.map((input) => DeviceProfileSchema.parse(input));

const byId: ReadonlyMap<string, DeviceProfile> = new Map(allProfiles.map((p) => [p.id, p]));

/** The profile with this id (`vendor.model`), or undefined. */
export function getProfile(id: string): DeviceProfile | undefined {
  return byId.get(id);
}

/** The Modbus register profile with this id, or undefined (also for SunSpec, OCPP, HTTP and MQTT profiles). */
export function getModbusProfile(id: string): ModbusProfile | undefined {
  const profile = byId.get(id);
  return profile?.protocol === 'modbus' ? profile : undefined;
}

/** Read keys (point or derived) each register-based profile of a kind must provide. */
export const REQUIRED_KEYS: Readonly<Record<ProfileKind, readonly (MeasurementKey | ExtraKey)[]>> = {
  meter: ['powerW', 'importEnergyWh', 'exportEnergyWh'],
  battery: ['powerW', 'socPct'],
  'hybrid-inverter': ['powerW', 'socPct', 'pvPowerW'],
  'pv-inverter': ['powerW'],
  'ev-charger': ['powerW', 'currentLimitA'],
};

/** Set-points each register-based profile of a kind must be able to execute. */
export const REQUIRED_CONTROLS: Readonly<Record<ProfileKind, readonly ControlSetpoint[]>> = {
  meter: [],
  battery: ['battery-power'],
  'hybrid-inverter': ['battery-power'],
  'pv-inverter': ['pv-limit'],
  'ev-charger': ['ev-current'],
};
