import {
  headers as natsHeaders,
  NoRespondersError,
  RequestError,
  TimeoutError,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
} from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { createBusOnTransport, type Bus, type BusOptions } from './core';
import { BusRequestFailedError } from './errors';
import type { BusHeaders } from './trace';
import type { BusTransport, RawMessage } from './transport';

function toNatsHeaders(headers: BusHeaders | undefined): MsgHdrs | undefined {
  if (!headers) return undefined;
  const keys = Object.keys(headers);
  if (keys.length === 0) return undefined;
  const out = natsHeaders();
  for (const key of keys) {
    const value = headers[key];
    if (value !== undefined) out.set(key, value);
  }
  return out;
}

function fromNatsHeaders(hdrs: MsgHdrs | undefined): BusHeaders {
  const out: Record<string, string> = {};
  if (!hdrs) return out;
  for (const [key, values] of hdrs) {
    const first = values[0];
    if (first !== undefined) out[key] = first;
  }
  return out;
}

/**
 * The stream a message came out of when the server delivered it from JetStream instead of a client publishing it:
 * a push consumer's delivery carries the reply `$JS.ACK.<stream>.<consumer>.…` (flow control `$JS.FC.…`), a
 * stream's republish the header `Nats-Stream`. Undefined for a client's publish or request.
 */
export function streamOrigin(reply: string | undefined, headers: BusHeaders): string | undefined {
  const republished = Object.keys(headers).find((k) => k.toLowerCase() === 'nats-stream');
  if (republished !== undefined) return headers[republished] || '?';
  if (reply?.startsWith('$JS.ACK.')) return reply.split('.')[2] || '?';
  if (reply?.startsWith('$JS.FC.')) return reply.split('.')[2] || '?';
  return undefined;
}

function toRawMessage(msg: Msg): RawMessage {
  const headers = fromNatsHeaders(msg.headers);
  const fromStream = streamOrigin(msg.reply, headers);
  return {
    subject: msg.subject,
    data: msg.data,
    headers,
    hasReply: typeof msg.reply === 'string' && msg.reply.length > 0,
    ...(typeof msg.reply === 'string' && msg.reply.length > 0 ? { replyTo: msg.reply } : {}),
    ...(fromStream === undefined ? {} : { fromStream }),
    respond(data, headers) {
      msg.respond(data, { headers: toNatsHeaders(headers) });
    },
  };
}

function isNoResponders(err: unknown): boolean {
  if (err instanceof NoRespondersError) return true;
  if (err instanceof RequestError) return err.isNoResponders();
  return false;
}

function isTimeout(err: unknown): boolean {
  return err instanceof TimeoutError || (err instanceof Error && err.cause instanceof TimeoutError);
}

/** The byte transport over a NATS connection. */
export function natsTransport(nc: NatsConnection): BusTransport {
  return {
    publish(subject, data, headers) {
      nc.publish(subject, data, { headers: toNatsHeaders(headers) });
    },
    subscribe(subject, opts, onMessage, onError) {
      const sub = nc.subscribe(subject, {
        queue: opts.queue,
        callback: (err, msg) => {
          if (err) {
            onError(err);
            return;
          }
          void onMessage(toRawMessage(msg));
        },
      });
      return { unsubscribe: () => sub.unsubscribe() };
    },
    async request(subject, data, headers, timeoutMs) {
      try {
        const msg = await nc.request(subject, data, { timeout: timeoutMs, headers: toNatsHeaders(headers) });
        return toRawMessage(msg);
      } catch (err) {
        const reason = isNoResponders(err) ? 'no-responders' : isTimeout(err) ? 'timeout' : 'failed';
        throw new BusRequestFailedError(subject, reason, timeoutMs, { cause: err });
      }
    },
  };
}

/** The typed bus over a NATS connection (see {@link Bus}). `log` gets dropped-message and handler-error lines. */
export function createBus(nc: NatsConnection, log: Logger, opts?: BusOptions): Bus {
  return createBusOnTransport(natsTransport(nc), log, opts);
}
