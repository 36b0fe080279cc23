import {
  AssetIdSchema,
  CLOUD_MESSAGE_TYPES,
  CloudCommandEnvelopeSchema,
  CloudReplyEnvelopeSchema,
  cloudMessages,
  IdSchema,
  type CloudCommandEnvelope,
  type CloudMessageType,
  type CloudReplyEnvelope,
} from '@voltimax/contracts';
import type { Logger } from 'pino';
import { z } from 'zod';
import { describeError } from './link-status';
import type { CommandHandler, CommandResult, RejectedCommand } from './port';

/**
 * What a gateway sends back for a message it could not accept as a command and whose message type or correlation
 * id it could not read, so no CloudReplyEnvelope can be built (MQTT only; Service Bus dead-letters instead).
 */
export const CommandRejectionSchema = z.strictObject({
  ok: z.literal(false),
  gatewayId: AssetIdSchema,
  sentAtMs: z.number().int().nonnegative(),
  error: z.string().max(1000),
  correlationId: IdSchema.optional(),
});
export type CommandRejection = z.infer<typeof CommandRejectionSchema>;

/** A decoded command, or why the message is not one. */
export type DecodedCommand =
  | { readonly ok: true; readonly envelope: CloudCommandEnvelope }
  | ({ readonly ok: false } & RejectedCommand);

const MAX_ERROR_CHARS = 1000;

/** `true` for the message types the gateway knows. */
export function isCloudMessageType(value: unknown): value is CloudMessageType {
  return typeof value === 'string' && (CLOUD_MESSAGE_TYPES as readonly string[]).includes(value);
}

/**
 * Checks a candidate command envelope for `gatewayId`: the envelope schema, the message type, the addressee and the
 * request payload of its type (the returned envelope carries the parsed payload, defaults applied).
 */
export function decodeCommand(candidate: unknown, gatewayId: string): DecodedCommand {
  if (typeof candidate !== 'object' || candidate === null || Array.isArray(candidate)) {
    return { ok: false, code: 'not-an-envelope', reason: 'not a command envelope (expected a JSON object)' };
  }
  const fields = candidate as Record<string, unknown>;
  const correlationId = IdSchema.safeParse(fields['correlationId']).success
    ? (fields['correlationId'] as string)
    : undefined;
  const rawType = typeof fields['messageType'] === 'string' ? fields['messageType'] : undefined;
  const known = {
    ...(correlationId === undefined ? {} : { correlationId }),
    ...(rawType === undefined ? {} : { messageType: rawType }),
  };
  if (rawType === undefined) return { ok: false, code: 'not-an-envelope', reason: 'missing messageType', ...known };
  if (!isCloudMessageType(rawType)) {
    return {
      ok: false,
      code: 'unknown-message-type',
      reason: `unknown messageType '${truncate(rawType, 64)}' (known: ${CLOUD_MESSAGE_TYPES.join(', ')})`,
      ...known,
    };
  }
  const envelope = CloudCommandEnvelopeSchema.safeParse(candidate);
  if (!envelope.success)
    return {
      ok: false,
      code: 'invalid-envelope',
      reason: `invalid command envelope: ${issues(envelope.error)}`,
      ...known,
    };
  if (envelope.data.gatewayId !== gatewayId) {
    return {
      ok: false,
      code: 'other-gateway',
      reason: `command is for gateway '${envelope.data.gatewayId}', this is '${gatewayId}'`,
      ...known,
    };
  }
  const payload = cloudMessages[rawType].request.safeParse(envelope.data.payload);
  if (!payload.success)
    return {
      ok: false,
      code: 'invalid-payload',
      reason: `invalid ${rawType} payload: ${issues(payload.error)}`,
      ...known,
    };
  return { ok: true, envelope: { ...envelope.data, payload: payload.data } };
}

/** Parses a message body as UTF-8 JSON; `undefined` value with a reason when it is not JSON. */
export function parseJsonBody(
  body: Buffer | Uint8Array | string,
): { ok: true; value: unknown } | { ok: false; code: 'not-json'; reason: string } {
  try {
    const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err: unknown) {
    return { ok: false, code: 'not-json', reason: `body is not JSON: ${describeError(err)}` };
  }
}

/**
 * The reply to `envelope` for `result`. A successful payload is checked against the response schema of the message
 * type; a payload that fails it (a gateway bug) becomes an error reply, so the cloud never gets an invalid reply.
 */
export function buildReply(
  envelope: CloudCommandEnvelope,
  result: CommandResult,
  nowMs: number,
  log?: Logger,
): CloudReplyEnvelope {
  const base = {
    messageType: envelope.messageType,
    correlationId: envelope.correlationId,
    gatewayId: envelope.gatewayId,
    sentAtMs: nowMs,
  };
  const schema = cloudMessages[envelope.messageType].response;
  if (result.ok) {
    const payload = schema.safeParse(result.payload);
    if (payload.success) return CloudReplyEnvelopeSchema.parse({ ...base, ok: true, payload: payload.data });
    log?.error(
      { messageType: envelope.messageType, correlationId: envelope.correlationId, issues: payload.error.issues },
      'handler returned an invalid reply payload',
    );
    return {
      ...base,
      ok: false,
      error: truncate(
        `gateway produced an invalid ${envelope.messageType} reply: ${issues(payload.error)}`,
        MAX_ERROR_CHARS,
      ),
    };
  }
  const payload = result.payload === undefined ? undefined : schema.safeParse(result.payload);
  if (payload !== undefined && !payload.success) {
    log?.warn(
      { messageType: envelope.messageType, correlationId: envelope.correlationId, issues: payload.error.issues },
      'dropped invalid payload of an error reply',
    );
  }
  return {
    ...base,
    ok: false,
    error: truncate(result.error || 'command failed', MAX_ERROR_CHARS),
    ...(payload?.success ? { payload: payload.data } : {}),
  };
}

/** An error reply for a rejected message: a CloudReplyEnvelope when type and correlation id are known, else a CommandRejection. */
export function rejectionReply(
  gatewayId: string,
  rejected: RejectedCommand,
  nowMs: number,
): CloudReplyEnvelope | CommandRejection {
  const error = truncate(rejected.reason, MAX_ERROR_CHARS);
  if (rejected.correlationId !== undefined && isCloudMessageType(rejected.messageType)) {
    return {
      messageType: rejected.messageType,
      correlationId: rejected.correlationId,
      gatewayId,
      sentAtMs: nowMs,
      ok: false,
      error,
    };
  }
  return {
    ok: false,
    gatewayId,
    sentAtMs: nowMs,
    error,
    ...(rejected.correlationId === undefined ? {} : { correlationId: rejected.correlationId }),
  };
}

/** Runs the handler; a throw becomes an error result (the channel keeps running). */
export async function runHandler(
  handler: CommandHandler,
  envelope: CloudCommandEnvelope,
  receivedAtMs: number,
  log?: Logger,
): Promise<CommandResult> {
  try {
    return await handler({ envelope, receivedAtMs });
  } catch (err: unknown) {
    log?.error(
      { err, messageType: envelope.messageType, correlationId: envelope.correlationId },
      'command handler failed',
    );
    return { ok: false, error: `handler failed: ${describeError(err)}` };
  }
}

/**
 * Remembers recently seen correlation ids, so a redelivered command (QoS 1 after a reconnect, a Service Bus lock
 * lost mid-handling) runs once: a duplicate gets the first run's reply again.
 */
export class RecentCommands {
  private readonly entries = new Map<string, Promise<CloudReplyEnvelope>>();

  constructor(private readonly capacity = 1000) {}

  /** The reply of an earlier run of `correlationId`, if it is still remembered. */
  get(correlationId: string): Promise<CloudReplyEnvelope> | undefined {
    return this.entries.get(correlationId);
  }

  remember(correlationId: string, reply: Promise<CloudReplyEnvelope>): void {
    this.entries.set(correlationId, reply);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
  }
}

function issues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
