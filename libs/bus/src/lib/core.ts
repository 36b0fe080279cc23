import { context, type Context } from '@opentelemetry/api';
import {
  formatIssues,
  type RequestDef,
  type SubjectDef,
  type SubjectParams,
  type ValidationProblem,
} from '@voltimax/contracts';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { BusReplyRejectedError, BusValidationError, summarizeProblems, type ValidationStage } from './errors';
import { RateLimitedLog } from './rate-limited-log';
import { StatsRecorder, type BusStats, type StatName } from './stats';
import { extractTraceContext, withTraceHeaders, type BusHeaders } from './trace';
import type { BusTransport, RawMessage } from './transport';

/**
 * Header a replier sets (with an empty body) instead of a reply it cannot give. Its value is
 * `<code>: <detail>` with code `invalid-request`, `handler-failed` or `invalid-reply`.
 */
export const ERROR_HEADER = 'Voltimax-Error';

/** Reason codes carried in the {@link ERROR_HEADER}. */
export type ReplyErrorCode = 'invalid-request' | 'handler-failed' | 'invalid-reply';

/** What a handler learns about the message besides its validated payload. */
export interface MessageContext<P extends string> {
  /** The concrete subject, e.g. `telemetry.bat-1`. */
  readonly subject: string;
  /** The subject's parameters, e.g. `{ assetId: 'bat-1' }`. */
  readonly params: SubjectParams<P>;
  readonly headers: BusHeaders;
  /** The sender's trace context (W3C `traceparent`), also active while the handler runs. */
  readonly traceContext: Context;
}

/** Handles one validated message. A throw or rejection is logged and counted, never propagated. */
export type MessageHandler<P extends string, T> = (payload: T, ctx: MessageContext<P>) => void | Promise<void>;

/** Answers one validated request; the result is validated against the reply schema before it is sent. */
export type ReplyHandler<P extends string, T, R> = (payload: T, ctx: MessageContext<P>) => R | Promise<R>;

/** Ends a subscription. */
export type Unsubscribe = () => void;

/** Options of `publish`. */
export interface PublishOptions {
  /** Extra headers; `traceparent`/`tracestate` are added from the active context. */
  readonly headers?: BusHeaders;
}

/** Options of `subscribe` and `reply`. */
export interface SubscribeOptions {
  /** Queue group: each message goes to one member of the group. */
  readonly queue?: string;
}

/** Options of `request`. */
export interface RequestOptions {
  /** Give up after this long, ms. */
  readonly timeoutMs: number;
  readonly headers?: BusHeaders;
}

/** A typed bus: every message is validated against its subject's schema on both ends. */
export interface Bus {
  /** Validate and publish. Throws BusValidationError (nothing sent) if the payload fails the schema. */
  publish<P extends string, S extends z.ZodType>(
    def: SubjectDef<P, S>,
    params: SubjectParams<P>,
    payload: z.input<S>,
    opts?: PublishOptions,
  ): void;
  /**
   * Subscribe to every subject of the definition (its wildcard). Messages that are not JSON, fail the schema or
   * carry a subject that does not match the pattern are dropped, counted and logged (rate-limited).
   */
  subscribe<P extends string, S extends z.ZodType>(
    def: SubjectDef<P, S>,
    handler: MessageHandler<P, z.output<S>>,
    opts?: SubscribeOptions,
  ): Unsubscribe;
  /**
   * Validate, send a request and return the validated reply. Rejects with BusValidationError (invalid request:
   * nothing sent; invalid reply), BusReplyRejectedError (the replier answered with {@link ERROR_HEADER}) or
   * BusRequestFailedError (timeout, no responders).
   */
  request<P extends string, S extends z.ZodType, R extends z.ZodType>(
    def: RequestDef<P, S, R>,
    params: SubjectParams<P>,
    payload: z.input<S>,
    opts: RequestOptions,
  ): Promise<z.output<R>>;
  /**
   * Answer requests. An invalid request never reaches the handler: it is counted, logged and answered with
   * {@link ERROR_HEADER} `invalid-request: …` and an empty body. A handler error is answered with
   * `handler-failed: <error name>`, a reply that fails the reply schema with `invalid-reply: …`.
   * Messages without a reply subject (plain publishes) are handled the same way, only nothing is sent back.
   */
  reply<P extends string, S extends z.ZodType, R extends z.ZodType>(
    def: RequestDef<P, S, R>,
    handler: ReplyHandler<P, z.output<S>, z.input<R>>,
    opts?: SubscribeOptions,
  ): Unsubscribe;
  /** A snapshot of the counters. */
  stats(): BusStats;
}

/** Options of `createBus` and the in-memory bus. */
export interface BusOptions {
  /** At most one "dropped invalid message" / "handler failed" line per subject and reason per interval, ms. */
  readonly dropLogIntervalMs?: number;
  /** Epoch ms, for the log rate limit; injectable for tests. */
  readonly now?: () => number;
}

/** Default for {@link BusOptions.dropLogIntervalMs}. */
export const DEFAULT_DROP_LOG_INTERVAL_MS = 10_000;

type Decoded = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function decodeJson(data: Uint8Array): Decoded {
  try {
    return { ok: true, value: JSON.parse(decoder.decode(data)) as unknown };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** The first value of a header, matched case-insensitively. */
export function headerValue(headers: BusHeaders, name: string): string | undefined {
  const lower = name.toLowerCase();
  const key = Object.keys(headers).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : headers[key];
}

/** Header values are one line; keep them short. */
function headerSafe(value: string): string {
  const line = value.replace(/[\r\n]+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

type DropKind = 'invalid-subject' | 'invalid-json' | 'invalid-schema' | 'from-stream' | 'foreign-reply';

const DROP_STAT: Readonly<Record<DropKind, StatName>> = {
  'invalid-subject': 'droppedInvalidSubject',
  'invalid-json': 'droppedInvalidJson',
  'invalid-schema': 'droppedInvalidSchema',
  'from-stream': 'droppedFromStream',
  'foreign-reply': 'droppedForeignReply',
};

/** A reply inbox: `_INBOX.…` (the library's default) or a user's own `_INBOX_<user>.…`. */
const REPLY_INBOX = /^_INBOX(_[^.]+)?\./;

type Accepted<P extends string, T> =
  | { readonly ok: true; readonly payload: T; readonly ctx: MessageContext<P> }
  | { readonly ok: false; readonly kind: DropKind; readonly problems: readonly ValidationProblem[] };

/**
 * The typed bus on top of any byte transport. This is the one place where bus messages are validated: the NATS bus
 * and the in-memory bus for unit tests are both this function with a different transport.
 */
export function createBusOnTransport(transport: BusTransport, log: Logger, opts: BusOptions = {}): Bus {
  const stats = new StatsRecorder();
  const limited = new RateLimitedLog(log, {
    intervalMs: opts.dropLogIntervalMs ?? DEFAULT_DROP_LOG_INTERVAL_MS,
    now: opts.now ?? Date.now,
  });

  function encodeOutbound(
    pattern: string,
    subject: string,
    schema: z.ZodType,
    payload: unknown,
    stage: ValidationStage,
  ): Uint8Array {
    const parsed = schema.safeParse(payload);
    if (!parsed.success) {
      stats.increment(pattern, 'publishRejected');
      throw new BusValidationError(subject, stage, formatIssues(parsed.error.issues));
    }
    return encodeJson(parsed.data);
  }

  function accept<P extends string, S extends z.ZodType>(
    def: SubjectDef<P, S>,
    msg: RawMessage,
  ): Accepted<P, z.output<S>> {
    if (msg.fromStream !== undefined) {
      return drop(def.pattern, msg, 'from-stream', [
        {
          path: '$',
          message: `delivered by the server out of JetStream stream ${msg.fromStream}, not published by a client`,
        },
      ]);
    }
    const params = def.parse(msg.subject);
    if (params === undefined) {
      return drop(def.pattern, msg, 'invalid-subject', [
        { path: '$', message: `subject does not match ${def.pattern}` },
      ]);
    }
    const json = decodeJson(msg.data);
    if (!json.ok) return drop(def.pattern, msg, 'invalid-json', [{ path: '$', message: json.error }]);
    const parsed = def.schema.safeParse(json.value);
    if (!parsed.success) return drop(def.pattern, msg, 'invalid-schema', formatIssues(parsed.error.issues));
    stats.increment(def.pattern, 'delivered');
    return {
      ok: true,
      payload: parsed.data,
      ctx: { subject: msg.subject, params, headers: msg.headers, traceContext: extractTraceContext(msg.headers) },
    };
  }

  function drop(
    pattern: string,
    msg: RawMessage,
    kind: DropKind,
    problems: readonly ValidationProblem[],
  ): { ok: false; kind: DropKind; problems: readonly ValidationProblem[] } {
    stats.increment(pattern, DROP_STAT[kind]);
    limited.write(
      `${pattern}|${kind}`,
      kind === 'from-stream' || kind === 'foreign-reply' ? 'error' : 'warn',
      { subject: msg.subject, pattern, reason: kind, issues: problems.slice(0, 10) },
      'dropped invalid message',
    );
    return { ok: false, kind, problems };
  }

  function handlerFailed(pattern: string, subject: string, err: unknown): void {
    stats.increment(pattern, 'handlerErrors');
    limited.write(`${pattern}|handler`, 'error', { err, subject, pattern }, 'message handler failed');
  }

  /** Runs the handler inside the sender's trace context; resolves when it settled, never rejects. */
  async function invoke<R>(
    pattern: string,
    ctx: { readonly subject: string; readonly traceContext: Context },
    run: () => R | Promise<R>,
  ): Promise<{ ok: true; value: R } | { ok: false; err: unknown }> {
    try {
      const value = await context.with(ctx.traceContext, run);
      return { ok: true, value };
    } catch (err) {
      handlerFailed(pattern, ctx.subject, err);
      return { ok: false, err };
    }
  }

  function listen(
    wildcard: string,
    subOpts: SubscribeOptions | undefined,
    onMessage: (msg: RawMessage) => void | Promise<void>,
  ): Unsubscribe {
    const sub = transport.subscribe(wildcard, { queue: subOpts?.queue }, onMessage, (err) =>
      log.error({ err, subject: wildcard }, 'subscription failed'),
    );
    return () => sub.unsubscribe();
  }

  function rejectRequest(pattern: string, msg: RawMessage, code: ReplyErrorCode, detail: string): void {
    stats.increment(pattern, 'requestsRejected');
    msg.respond(new Uint8Array(0), { [ERROR_HEADER]: headerSafe(`${code}: ${detail}`) });
  }

  return {
    publish(def, params, payload, publishOpts) {
      const subject = def.format(params);
      const data = encodeOutbound(def.pattern, subject, def.schema, payload, 'publish');
      transport.publish(subject, data, withTraceHeaders(publishOpts?.headers));
      stats.increment(def.pattern, 'published');
    },

    subscribe(def, handler, subOpts) {
      return listen(def.wildcard, subOpts, async (msg) => {
        const accepted = accept(def, msg);
        if (!accepted.ok) return;
        await invoke(def.pattern, accepted.ctx, () => handler(accepted.payload, accepted.ctx));
      });
    },

    async request(def, params, payload, requestOpts) {
      const subject = def.format(params);
      const data = encodeOutbound(def.pattern, subject, def.schema, payload, 'request');
      stats.increment(def.pattern, 'published');
      const answer = await transport.request(
        subject,
        data,
        withTraceHeaders(requestOpts.headers),
        requestOpts.timeoutMs,
      );
      if (answer.fromStream !== undefined) {
        // A push consumer delivering into our reply inbox: the server checks no permission for it, and it may win
        // the race against the replier. Never taken for the replier's answer.
        stats.increment(def.pattern, 'invalidReplies');
        throw new BusValidationError(subject, 'reply', [
          {
            path: '$',
            message: `delivered by the server out of JetStream stream ${answer.fromStream}, not by the replier`,
          },
        ]);
      }
      const rejected = headerValue(answer.headers, ERROR_HEADER);
      if (rejected !== undefined) throw new BusReplyRejectedError(subject, rejected);
      const json = decodeJson(answer.data);
      if (!json.ok) {
        stats.increment(def.pattern, 'invalidReplies');
        throw new BusValidationError(subject, 'reply', [{ path: '$', message: `not JSON: ${json.error}` }]);
      }
      const parsed = def.replySchema.safeParse(json.value);
      if (!parsed.success) {
        stats.increment(def.pattern, 'invalidReplies');
        throw new BusValidationError(subject, 'reply', formatIssues(parsed.error.issues));
      }
      return parsed.data;
    },

    reply(def, handler, subOpts) {
      return listen(def.wildcard, subOpts, async (msg) => {
        if (msg.fromStream === undefined && msg.replyTo !== undefined && !REPLY_INBOX.test(msg.replyTo)) {
          // The requester chose where the answer goes, and it is not an inbox: neither run the handler nor answer.
          drop(def.pattern, msg, 'foreign-reply', [
            { path: '$', message: `reply subject ${msg.replyTo.slice(0, 80)} is not a reply inbox` },
          ]);
          return;
        }
        const accepted = accept(def, msg);
        if (!accepted.ok && accepted.kind === 'from-stream') return; // its reply subject is JetStream's, not a client's
        if (!accepted.ok) {
          rejectRequest(
            def.pattern,
            msg,
            'invalid-request',
            `${accepted.kind}: ${summarizeProblems(accepted.problems, 3)}`,
          );
          return;
        }
        const result = await invoke(def.pattern, accepted.ctx, () => handler(accepted.payload, accepted.ctx));
        if (!result.ok) {
          const name = result.err instanceof Error ? result.err.name : typeof result.err;
          rejectRequest(def.pattern, msg, 'handler-failed', name);
          return;
        }
        const parsed = def.replySchema.safeParse(result.value);
        if (!parsed.success) {
          const problems = formatIssues(parsed.error.issues);
          stats.increment(def.pattern, 'invalidReplies');
          limited.write(
            `${def.pattern}|invalid-reply`,
            'error',
            { subject: msg.subject, pattern: def.pattern, issues: problems.slice(0, 10) },
            'handler returned an invalid reply',
          );
          rejectRequest(def.pattern, msg, 'invalid-reply', summarizeProblems(problems, 3));
          return;
        }
        msg.respond(encodeJson(parsed.data));
      });
    },

    stats() {
      return stats.snapshot();
    },
  };
}
