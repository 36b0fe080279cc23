import { z } from 'zod';
import { AssetIdSchema, DurationMsSchema, EpochMsSchema, FiniteSchema, IdSchema } from './common';
import { ServiceHealthSchema } from './control';
import { AssetReadingSchema } from './readings';

/**
 * Cloud ⇄ gateway messages. On Service Bus the message type travels in the `MessageType` application
 * property and the body is the payload; on MQTT the envelope below is the body.
 */
export const CLOUD_MESSAGE_TYPES = ['PingGateway', 'SetBatterySetpoint', 'RefreshConfiguration'] as const;
export type CloudMessageType = (typeof CLOUD_MESSAGE_TYPES)[number];

export const PingGatewayRequestSchema = z.strictObject({ sentAtMs: EpochMsSchema });
export const PingGatewayResponseSchema = z.strictObject({
  gatewayId: AssetIdSchema,
  version: z.string().min(1).max(64),
  uptimeMs: z.number().int().nonnegative(),
  receivedAtMs: EpochMsSchema,
  /** sentAtMs of the request echoed, so the cloud computes the round trip. */
  requestSentAtMs: EpochMsSchema,
  services: z.array(ServiceHealthSchema),
});

export const SetBatterySetpointRequestSchema = z.strictObject({
  assetId: AssetIdSchema,
  /** + = discharge, − = charge. */
  powerW: FiniteSchema,
  /** How long the manual setpoint holds before control returns to the strategies. */
  durationMs: DurationMsSchema.max(24 * 3600_000),
  reason: z.string().min(1).max(500),
  operator: z.string().min(1).max(128),
});
export const SetBatterySetpointResponseSchema = z.strictObject({
  accepted: z.boolean(),
  /** What the arbiter will actually apply after interlocks (W). */
  appliedPowerW: FiniteSchema.optional(),
  outcome: z.enum(['applied', 'clamped', 'rejected', 'superseded', 'safe', 'invalid', 'timeout']),
  violations: z.array(z.string()).default([]),
  error: z.string().max(500).optional(),
});

export const RefreshConfigurationCloudRequestSchema = z.strictObject({ reason: z.string().min(1).max(200).default('cloud request') });
export const RefreshConfigurationCloudResponseSchema = z.strictObject({
  changed: z.boolean(),
  hash: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  error: z.string().max(500).optional(),
});

/** The request and response schema of each cloud message type. */
export const cloudMessages = {
  PingGateway: { request: PingGatewayRequestSchema, response: PingGatewayResponseSchema },
  SetBatterySetpoint: { request: SetBatterySetpointRequestSchema, response: SetBatterySetpointResponseSchema },
  RefreshConfiguration: { request: RefreshConfigurationCloudRequestSchema, response: RefreshConfigurationCloudResponseSchema },
} as const;

/** Envelope for transports without application properties (MQTT body). */
export const CloudCommandEnvelopeSchema = z.strictObject({
  messageType: z.enum(CLOUD_MESSAGE_TYPES),
  correlationId: IdSchema,
  gatewayId: AssetIdSchema,
  sentAtMs: EpochMsSchema,
  payload: z.unknown(),
});
export type CloudCommandEnvelope = z.infer<typeof CloudCommandEnvelopeSchema>;

export const CloudReplyEnvelopeSchema = z.strictObject({
  messageType: z.enum(CLOUD_MESSAGE_TYPES),
  correlationId: IdSchema,
  gatewayId: AssetIdSchema,
  sentAtMs: EpochMsSchema,
  ok: z.boolean(),
  payload: z.unknown().optional(),
  error: z.string().max(1000).optional(),
});
export type CloudReplyEnvelope = z.infer<typeof CloudReplyEnvelopeSchema>;

/** Telemetry to the cloud: a batch of readings of one gateway with a stable id for de-duplication. */
export const TelemetryFrameSchema = z.strictObject({
  v: z.literal(1),
  /** Stable across retries: `<gatewayId>:<first stream sequence>-<last stream sequence>`. */
  frameId: z.string().min(1).max(200),
  gatewayId: AssetIdSchema,
  createdAtMs: EpochMsSchema,
  readings: z.array(AssetReadingSchema).min(1),
});
export type TelemetryFrame = z.infer<typeof TelemetryFrameSchema>;
