import { z } from 'zod';
import { AssetIdSchema, EpochMsSchema, FiniteSchema } from './common';
import { ChargerStateSchema } from './readings';

/** `gateway.chargers` (request): list the EV chargers the central system (ocpp-csms) knows. */
export const ChargerListRequestSchema = z.strictObject({ v: z.literal(1), sentAtMs: EpochMsSchema });
export type ChargerListRequest = z.infer<typeof ChargerListRequestSchema>;

/** A charging session (OCPP transaction) running on a connector. */
export const ChargingSessionSchema = z.strictObject({
  /** The OCPP transactionId. */
  transactionId: z.number().int(),
  startedAtMs: EpochMsSchema.optional(),
  /** Energy delivered in this session so far, Wh. */
  energyWh: FiniteSchema.nonnegative().optional(),
  /** True when the charger reported a transaction this central system did not start (e.g. after a restart). */
  adopted: z.boolean(),
});
export type ChargingSession = z.infer<typeof ChargingSessionSchema>;

/** One configured charger (one connector of a charge point) as the central system sees it. */
export const ChargerStatusSchema = z.strictObject({
  assetId: AssetIdSchema,
  /** The identity the charge point connects with. */
  chargePointId: z.string().min(1).max(48),
  connectorId: z.number().int().nonnegative(),
  connected: z.boolean(),
  /** Negotiated OCPP version, e.g. `ocpp1.6`. */
  protocol: z.string().max(16).optional(),
  state: ChargerStateSchema.optional(),
  /** The connector status exactly as the charger reported it (e.g. `SuspendedEVSE`). */
  ocppStatus: z.string().max(32).optional(),
  /** Last measured power, W (≥ 0). */
  powerW: FiniteSchema.nonnegative().optional(),
  /** The current limit last applied, A per phase. */
  currentLimitA: FiniteSchema.nonnegative().optional(),
  session: ChargingSessionSchema.optional(),
  /** Unit the charger takes charging profiles in. */
  rateUnit: z.enum(['A', 'W']).optional(),
  lastSeenAtMs: EpochMsSchema.optional(),
  vendor: z.string().max(64).optional(),
  model: z.string().max(64).optional(),
  firmware: z.string().max(64).optional(),
  /** Why the charger is not usable (not connected, protocol error …). */
  error: z.string().max(500).optional(),
});
export type ChargerStatus = z.infer<typeof ChargerStatusSchema>;

/** A charge point that tried to connect with an identity (or password) the site does not know. */
export const UnknownChargePointSchema = z.strictObject({
  chargePointId: z.string().min(1).max(256),
  lastSeenAtMs: EpochMsSchema,
  remoteAddress: z.string().max(64).optional(),
  reason: z.string().max(200),
  attempts: z.number().int().positive(),
});
export type UnknownChargePoint = z.infer<typeof UnknownChargePointSchema>;

/** `gateway.chargers` (reply). */
export const ChargerListReplySchema = z.strictObject({
  v: z.literal(1),
  atMs: EpochMsSchema,
  chargers: z.array(ChargerStatusSchema),
  /** Most recent first, at most 50. */
  unknown: z.array(UnknownChargePointSchema).max(50),
});
export type ChargerListReply = z.infer<typeof ChargerListReplySchema>;
