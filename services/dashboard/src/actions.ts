import {
  AssetIdSchema,
  SetpointSchema,
  type ControlIntent,
  type EmergencyStop,
  type Setpoint,
} from '@voltimax/contracts';
import { z } from 'zod';

/** POST /api/login. */
export const LoginBodySchema = z.strictObject({ password: z.string().min(1).max(1_024) });

/** POST /api/estop. */
export const EstopBodySchema = z.strictObject({
  action: z.enum(['engage', 'release']),
  reason: z.string().trim().min(1).max(200),
});
export type EstopBody = z.infer<typeof EstopBodySchema>;

/** POST /api/intent: a manual setpoint for one asset, for `ttlMs` (10 s … 24 h). */
export const IntentBodySchema = z.strictObject({
  assetId: AssetIdSchema,
  setpoint: SetpointSchema,
  ttlMs: z
    .number()
    .int()
    .min(10_000)
    .max(24 * 3_600_000),
  reason: z.string().trim().min(1).max(200),
});
export type IntentBody = z.infer<typeof IntentBodySchema>;

/** Who did it, as it appears in `issuedBy` / `by` and in the audit log: `dashboard@<client address>`. */
export function actor(clientAddress: string): string {
  return `dashboard@${clientAddress}`.slice(0, 128);
}

/** The manual intent for a form: source `manual`, as the CLI and the cloud-bridge send it. */
export function manualIntent(body: IntentBody, by: string, id: string, nowMs: number): ControlIntent {
  return {
    v: 1,
    id,
    source: 'manual',
    assetId: body.assetId,
    setpoint: body.setpoint,
    issuedAtMs: nowMs,
    ttlMs: body.ttlMs,
    reason: `dashboard: ${body.reason}`.slice(0, 500),
    issuedBy: by,
  };
}

/** The `safety.estop` message for a form. */
export function estopMessage(body: EstopBody, by: string, nowMs: number): EmergencyStop {
  return { v: 1, action: body.action, by, reason: body.reason, atMs: nowMs };
}

/** A setpoint in words, for the action list and the log. */
export function describeSetpoint(setpoint: Setpoint): string {
  switch (setpoint.kind) {
    case 'battery-power':
      return setpoint.powerW >= 0 ? `discharge ${setpoint.powerW} W` : `charge ${-setpoint.powerW} W`;
    case 'ev-current':
      return `EV ${setpoint.currentA} A${setpoint.phases === undefined ? '' : ` on ${setpoint.phases} phase(s)`}`;
    case 'pv-limit':
      return `PV limit ${setpoint.maxPowerW} W`;
    case 'safe':
      return 'safe setpoint';
  }
}
