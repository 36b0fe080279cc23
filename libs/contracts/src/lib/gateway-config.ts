import { z } from 'zod';
import { EpochMsSchema } from './common';
import { SiteConfigSchema } from './site-config';

/** SHA-256 of the canonical JSON (`canonicalJson`) of a validated site configuration, lower-case hex. */
export const ConfigHashSchema = z.string().regex(/^[0-9a-f]{64}$/, 'hash must be 64 lower-case hex digits (SHA-256)');

/** One problem of a refused configuration, with its JSON path (`$.strategy.config["net-zero"].deadbandW`). */
export const ValidationProblemSchema = z.strictObject({
  path: z.string().max(500),
  message: z.string().max(1000),
});

/**
 * `gateway.config.apply` (request): replace the whole site configuration from the gateway itself (the cli, e.g.
 * `voltimax strategy set`). The cloud-bridge — the single writer of KV `config` and assets.json — validates it like a
 * configuration from the cloud (schema, device profiles, strategy blocks), persists it and announces it on
 * `config.updated` with source `cli`.
 */
export const GatewayConfigApplyRequestSchema = z.strictObject({
  v: z.literal(1),
  /** The complete new assets.json. */
  config: SiteConfigSchema,
  /**
   * Hash of the configuration this one was derived from. When set and the running configuration has another hash
   * (the cloud or another operator changed it meanwhile), the bridge refuses with outcome `conflict`.
   */
  baseHash: ConfigHashSchema.optional(),
  reason: z.string().min(1).max(200),
  /** Who asked (e.g. `cli:alice`). */
  requestedBy: z.string().min(1).max(128),
  sentAtMs: EpochMsSchema,
});
export type GatewayConfigApplyRequest = z.infer<typeof GatewayConfigApplyRequestSchema>;

/**
 * `gateway.config.apply` (reply). `applied`: persisted and announced; `unchanged`: identical to the running one
 * (nothing written, no event); `rejected`: validation problems (the running configuration stays); `conflict`: the
 * running configuration is not `baseHash`; `failed`: valid but could not be persisted (`error`, e.g. ENOSPC) — the
 * running configuration stays.
 */
export const GatewayConfigApplyReplySchema = z.strictObject({
  v: z.literal(1),
  outcome: z.enum(['applied', 'unchanged', 'rejected', 'conflict', 'failed']),
  /** Hash of the running configuration after the request. */
  hash: ConfigHashSchema.optional(),
  /** Set when applied: whether services must restart to use it (see services/cloud-bridge README). */
  requiresRestart: z.boolean().optional(),
  /** Top-level sections of assets.json that differ from the previous configuration, when applied. */
  changedSections: z.array(z.string().max(64)).max(32).optional(),
  problems: z.array(ValidationProblemSchema).max(100),
  error: z.string().max(500).optional(),
  atMs: EpochMsSchema,
});
export type GatewayConfigApplyReply = z.infer<typeof GatewayConfigApplyReplySchema>;
