import type { SubjectDef, SubjectParams } from '@voltimax/contracts';
import { pino, type Logger } from 'pino';
import type { z } from 'zod';
import { createBusOnTransport, type Bus, type BusOptions } from './lib/core';
import { MemoryBroker, type RecordedMessage } from './lib/memory-transport';
import type { BusHeaders } from './lib/trace';
import type { BusTransport } from './lib/transport';

export { subjectMatches, type RecordedMessage } from './lib/memory-transport';
export * from './testing/trace';
export * from './testing/log';

/** Options for an in-memory bus. */
export interface MemoryBusOptions extends BusOptions {
  /** Where dropped-message and handler-error lines go (default: a silent logger). */
  readonly log?: Logger;
}

/** A message the bus published, validated against the definition it was looked up with. */
export interface PublishedMessage<P extends string, T> {
  readonly subject: string;
  readonly params: SubjectParams<P>;
  readonly payload: T;
  readonly headers: BusHeaders;
}

/**
 * The real typed bus (same validation, stats and logging code as `createBus`) on an in-memory broker. Delivery is
 * synchronous; `settle()` waits for async handlers.
 */
export interface MemoryBus extends Bus {
  /** Inject a message as another process would, without any validation: for testing the drop path. */
  publishRaw(subject: string, body: string | Uint8Array, headers?: BusHeaders): void;
  /** This bus's byte-level connection, for raw requests and replies that bypass validation. */
  readonly raw: BusTransport;
  /** Every valid message on the network whose subject matches `def`, in order (requests included). */
  published<P extends string, S extends z.ZodType>(def: SubjectDef<P, S>): PublishedMessage<P, z.output<S>>[];
  /** Resolves when all handlers started so far, on any bus of the network, have settled. */
  settle(): Promise<void>;
  readonly network: MemoryNetwork;
}

/** Several in-memory buses sharing one broker, like several services on one NATS server. */
export interface MemoryNetwork {
  /** A new "connection" with its own stats. */
  connect(opts?: MemoryBusOptions): MemoryBus;
  /** Every publish and request on the network, raw. */
  readonly messages: readonly RecordedMessage[];
  settle(): Promise<void>;
}

const encoder = new TextEncoder();

/** A fresh in-memory network. */
export function createMemoryNetwork(): MemoryNetwork {
  const broker = new MemoryBroker();
  const network: MemoryNetwork = {
    connect(opts = {}) {
      const transport = broker.transport();
      const bus = createBusOnTransport(transport, opts.log ?? pino({ level: 'silent' }), opts);
      return {
        ...bus,
        network,
        raw: transport,
        publishRaw(subject, body, headers = {}) {
          transport.publish(subject, typeof body === 'string' ? encoder.encode(body) : body, headers);
        },
        published(def) {
          return broker.messages.flatMap((m) => {
            const params = def.parse(m.subject);
            if (params === undefined) return [];
            let json: unknown;
            try {
              json = JSON.parse(m.body);
            } catch {
              return [];
            }
            const parsed = def.schema.safeParse(json);
            return parsed.success ? [{ subject: m.subject, params, payload: parsed.data, headers: m.headers }] : [];
          });
        },
        settle: () => broker.settle(),
      };
    },
    get messages() {
      return broker.messages;
    },
    settle: () => broker.settle(),
  };
  return network;
}

/** An in-memory bus on its own network. Use `bus.network.connect()` for a second party. */
export function createMemoryBus(opts?: MemoryBusOptions): MemoryBus {
  return createMemoryNetwork().connect(opts);
}
