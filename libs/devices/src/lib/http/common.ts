// Schema parts the HTTP and MQTT profiles share. Kept apart from profile-schema.ts, which includes these profiles
// in its DeviceProfileSchema union: importing back from there would be a circular import.
import { z } from 'zod';
import type { ControlSetpoint, ProfileKind } from '../profile-schema';

const ProfileIdSchema = z.string().regex(/^[a-z0-9-]+\.[a-z0-9-]+$/, 'profile id must be vendor.model in lower case');

/** The descriptive fields every profile has (same rules as the Modbus profiles'). */
export const profileMeta = {
  /** `vendor.model`, lower case; site config refers to it. */
  id: ProfileIdSchema,
  vendor: z.string().min(1).max(100),
  model: z.string().min(1).max(200),
  /** The reference the facts come from (file under libs/devices/docs/devices/, API document, revision). */
  source: z.string().min(1).max(500),
  notes: z.string().max(2_000).optional(),
};

const KINDS = [
  'meter',
  'battery',
  'pv-inverter',
  'hybrid-inverter',
  'ev-charger',
] as const satisfies readonly ProfileKind[];
/** What the device is (the same kinds as the register profiles). */
export const JsonProfileKindSchema = z.enum(KINDS);

const SETPOINTS = ['battery-power', 'ev-current', 'pv-limit'] as const satisfies readonly ControlSetpoint[];
/** Set-point kinds a write can execute (the contracts' `Setpoint` minus `safe`, which every write handles). */
export const JsonSetpointSchema = z.enum(SETPOINTS);

/** A name a profile gives a read endpoint or a topic, referred to by writes. */
export const PartNameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}$/, 'name must be lower-case letters, digits and "-"');

/**
 * How a set-point value becomes what the device is sent, and what is allowed. The set-point field (EV `currentA`,
 * battery `powerW` + = discharge, PV `maxPowerW`) must lie in `range` (set-point unit), else the write is rejected
 * (or clamped and said so with `clampToRange`); the device value is field × `scale`, rounded to an integer toward zero when
 * `integer` (never past the value asked). The contracts' `safe` set-point sends `safeValue` (set-point unit) the same way.
 */
export const valueRules = {
  range: z.strictObject({ min: z.number().finite(), max: z.number().finite() }),
  clampToRange: z.boolean().default(false),
  scale: z
    .number()
    .finite()
    .refine((s) => s !== 0, 'scale must not be 0')
    .default(1),
  integer: z.boolean().default(true),
  safeValue: z.number().finite(),
  note: z.string().max(500).optional(),
};
