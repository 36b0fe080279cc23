import { z } from 'zod';
import { SUBJECT_TOKEN } from './subject';

/** An asset id: one subject token (lower-case, digits, `_`, `-`), because it becomes part of subjects. */
export const AssetIdSchema = z
  .string()
  .regex(SUBJECT_TOKEN, 'asset id must be 1-64 characters of a-z, 0-9, "_" or "-" (no dots, no wildcards)');
export type AssetId = z.infer<typeof AssetIdSchema>;

/** A service name as used in `health.<service>`. */
export const ServiceNameSchema = z.string().regex(SUBJECT_TOKEN, 'service name must be one subject token');

/** Epoch milliseconds (UTC), integer. */
export const EpochMsSchema = z.number().int().nonnegative();

/** A duration in milliseconds, integer, > 0. */
export const DurationMsSchema = z.number().int().positive();

/** A finite number: NaN and ±Infinity are refused at every boundary. */
export const FiniteSchema = z.number().finite();

/** An opaque id for commands, intents and frames (uuid or similar). */
export const IdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:-]+$/, 'id must be 1-128 characters of A-Z, a-z, 0-9, "_", ".", ":" or "-"');

/** What kind of asset this is; decides which setpoints it accepts and which readings it has. */
export const AssetKindSchema = z.enum(['battery', 'pv-inverter', 'hybrid-inverter', 'grid-meter', 'meter', 'ev-charger', 'load']);
export type AssetKind = z.infer<typeof AssetKindSchema>;

/** Quality of a reading: good, stale (last good value is too old) or error (the device did not answer). */
export const QualitySchema = z.enum(['good', 'stale', 'error']);
export type Quality = z.infer<typeof QualitySchema>;

/** Origin of a control intent, in priority order: safety > manual > scheduled > optimization. */
export const IntentSourceSchema = z.enum(['safety', 'manual', 'scheduled', 'optimization']);
export type IntentSource = z.infer<typeof IntentSourceSchema>;

/** Higher wins. */
export const INTENT_PRIORITY: Readonly<Record<IntentSource, number>> = {
  safety: 4,
  manual: 3,
  scheduled: 2,
  optimization: 1,
};
