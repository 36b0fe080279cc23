import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo, Server, Socket } from 'node:net';
import {
  create_container,
  message as amqpMessage,
  string_to_uuid,
  types,
  uuid_to_string,
  type Connection,
  type Container,
  type Delivery,
  type EventContext,
  type Message,
  type Receiver,
  type Sender,
} from 'rhea';
import { freePort } from './free-port';

/**
 * An in-process stand-in for Azure Service Bus: an AMQP 1.0 container (rhea) on 127.0.0.1 that speaks what the real
 * `@azure/service-bus` SDK needs, so the SDK itself runs in tests where neither Azure nor Docker is available.
 *
 * What it implements, and how it checks it:
 * - the connection: plain AMQP (the SDK's `UseDevelopmentEmulator=true` connection strings select TCP without TLS),
 *   SASL ANONYMOUS as the SDK sends it;
 * - `$cbs` put-token: the SAS token is parsed and its HMAC-SHA256 signature, key name and expiry are verified
 *   (status 200, else 401); every entity link needs a token whose audience covers the entity;
 * - queues and topics with subscriptions, addressed as `<queue>`, `<topic>`, `<topic>/Subscriptions/<name>`, and each
 *   one's `…/$DeadLetterQueue`; unknown entities are refused (`amqp:not-found`);
 * - session receivers: the `com.microsoft:session-filter` on the source picks (or, when null, lets the stand-in pick)
 *   the session; one lock holder per session (`com.microsoft:session-cannot-be-locked` otherwise); the lock expiry is
 *   announced in `com.microsoft:locked-until-utc` and ends the link (`com.microsoft:session-lock-lost`) unless renewed;
 * - peek-lock settlement: accepted = complete, released/modified = abandon (modified with undeliverable-here =
 *   defer), rejected with `com.microsoft:dead-letter` = dead-letter with DeadLetterReason / DeadLetterErrorDescription
 *   as application properties; delivery counts, max delivery count, lock expiry; receive-and-delete (pre-settled);
 * - message properties, application properties, annotations and the body (data, value or sequence sections) kept as
 *   sent; `x-opt-sequence-number`, `x-opt-enqueued-time`, `x-opt-locked-until` added; TTL honoured; batches (format
 *   0x80013700) split;
 * - `$management` operations the SDK calls on receivers: renew-session-lock, renew-lock, update-disposition,
 *   get/set-session-state, peek-message; any other operation answers 501 and is recorded.
 * Test controls: {@link ServiceBusStandIn.dropConnections}, `stop()` / `start()` on the same port, inspection of
 * messages, dead letters, session locks and management calls.
 */
export interface ServiceBusStandIn {
  readonly host: string;
  readonly port: number;
  /** SAS key name and key the stand-in accepts. */
  readonly keyName: string;
  readonly key: string;
  /** `Endpoint=sb://127.0.0.1:<port>;SharedAccessKeyName=…;SharedAccessKey=…;UseDevelopmentEmulator=true`. */
  readonly connectionString: string;
  /** The same credentials for another port (e.g. a proxy in front of the stand-in). */
  connectionStringFor(port: number): string;
  /** Messages of a queue or subscription waiting or locked (not dead-lettered), oldest first. */
  messages(entity: string): readonly StandInMessage[];
  /** Dead-lettered messages of a queue or subscription, oldest first. */
  deadLetters(entity: string): readonly StandInMessage[];
  /** Sessions currently locked on a queue or subscription. */
  lockedSessions(entity: string): readonly string[];
  /** Every `$management` request, in order. */
  managementCalls(): readonly ManagementCall[];
  /** Every `$cbs` put-token, in order, with whether it was accepted. */
  tokenRequests(): readonly TokenRequest[];
  /** Open AMQP connections. */
  connections(): number;
  /** Drops every connection (the listener stays): clients see a network failure. */
  dropConnections(): void;
  /** Stops listening and drops every connection; messages stay, session locks are released. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  /** `stop()` for good. */
  close(): Promise<void>;
}

/** A message held by the stand-in, as a test inspects it. */
export interface StandInMessage {
  readonly sequenceNumber: number;
  readonly messageId: unknown;
  readonly sessionId: string | undefined;
  readonly correlationId: unknown;
  readonly replyTo: string | undefined;
  readonly replyToSessionId: string | undefined;
  readonly contentType: string | undefined;
  readonly subject: string | undefined;
  readonly applicationProperties: Readonly<Record<string, unknown>>;
  /** The body bytes for a data section, else the decoded AMQP value. */
  readonly body: unknown;
  readonly deliveryCount: number;
  readonly state: 'active' | 'locked' | 'deferred';
  readonly enqueuedAtMs: number;
  readonly deadLetterReason: string | undefined;
  readonly deadLetterErrorDescription: string | undefined;
}

export interface ManagementCall {
  readonly entity: string;
  readonly operation: string;
  readonly statusCode: number;
}

export interface TokenRequest {
  readonly audience: string;
  readonly accepted: boolean;
  readonly reason?: string;
}

/** A queue (or subscription) definition. */
export interface StandInQueueOptions {
  readonly name: string;
  readonly requiresSession?: boolean;
  /** Default 10, as on Service Bus. */
  readonly maxDeliveryCount?: number;
}

export interface StandInTopicOptions {
  readonly name: string;
  readonly subscriptions: readonly (string | Omit<StandInQueueOptions, 'maxDeliveryCount'>)[];
}

/** Options of {@link startServiceBusStandIn}. */
export interface ServiceBusStandInOptions {
  readonly queues?: readonly (string | StandInQueueOptions)[];
  readonly topics?: readonly StandInTopicOptions[];
  /** Default `RootManageSharedAccessKey`. */
  readonly keyName?: string;
  /** Default: 32 random bytes, base64. */
  readonly key?: string;
  /** Message and session lock duration, ms; default 30 000 (Service Bus's default is 60 s). */
  readonly lockDurationMs?: number;
  /** Largest message accepted, bytes (announced as the link's max-message-size); default 256 KiB (standard tier). */
  readonly maxMessageBytes?: number;
  /** Listen on this port instead of a free one. */
  readonly port?: number;
}

const SESSION_FILTER = 'com.microsoft:session-filter';
const LOCKED_UNTIL_UTC = 'com.microsoft:locked-until-utc';
const BATCH_FORMAT = 0x80013700;
const MANAGEMENT_SUFFIX = '/$management';
/** rhea's outcome constructors (present at runtime, missing from its typings). */
const OUTCOMES = amqpMessage as unknown as {
  accepted(): { described(): unknown };
  rejected(fields: { error: { condition: string; description: string } }): { described(): unknown };
};

/** .NET ticks (100 ns since 0001-01-01) at the Unix epoch. */
const EPOCH_TICKS = 621_355_968_000_000_000n;

interface Entity {
  /** Canonical name as configured, e.g. `gateway-commands` or `telemetry/Subscriptions/cloud`. */
  readonly name: string;
  readonly requiresSession: boolean;
  readonly maxDeliveryCount: number;
  readonly messages: Stored[];
  readonly sessionLocks: Map<string, SessionLock>;
  readonly sessionStates: Map<string, Buffer>;
  readonly consumers: Set<Consumer>;
  /** The dead-letter sub-queue; undefined on the sub-queue itself. */
  deadLetter: Entity | undefined;
  /** The entity a dead-letter sub-queue belongs to. */
  parent: Entity | undefined;
}

interface Stored {
  readonly seq: number;
  readonly enqueuedAtMs: number;
  readonly expiresAtMs: number | undefined;
  readonly sessionId: string | undefined;
  message: Message;
  deliveryCount: number;
  state: 'active' | 'locked' | 'deferred';
  lockToken: string | undefined;
  lockedUntilMs: number | undefined;
  consumer: Consumer | undefined;
}

interface Consumer {
  readonly link: Sender;
  readonly entity: Entity;
  readonly connection: Connection;
  readonly sessionId: string | undefined;
  readonly preSettled: boolean;
  readonly inFlight: Map<string, Stored>;
}

interface SessionLock {
  readonly consumer: Consumer;
  lockedUntilMs: number;
}

interface ConnectionState {
  readonly authorized: Set<string>;
  readonly replyLinks: Set<Sender>;
  readonly pendingReplies: Map<Sender, Message[]>;
}

type Target =
  | { readonly kind: 'cbs' }
  | { readonly kind: 'management'; readonly entity: Entity }
  | { readonly kind: 'entity'; readonly entities: readonly Entity[]; readonly name: string };

/** The fields of rhea's link endpoints this stand-in reads and sets (rhea types them loosely). */
interface LinkInternals {
  readonly name: string;
  readonly remote: {
    readonly attach?: {
      readonly source?: TerminusFields;
      readonly target?: TerminusFields;
      readonly snd_settle_mode?: number;
    };
  };
  readonly local: {
    readonly attach: { max_message_size?: number; properties?: Record<string, unknown>; snd_settle_mode?: number };
  };
  set_source(fields: Record<string, unknown>): void;
  set_target(fields: Record<string, unknown>): void;
  close(error?: { condition: string; description: string }): void;
}

interface TerminusFields {
  readonly address?: string;
  readonly filter?: Record<string, unknown> | null;
}

/** Starts a stand-in on 127.0.0.1 with the given entities. */
export async function startServiceBusStandIn(options: ServiceBusStandInOptions = {}): Promise<ServiceBusStandIn> {
  const standIn = new StandIn(options);
  await standIn.start();
  return standIn;
}

class StandIn implements ServiceBusStandIn {
  readonly host = '127.0.0.1';
  readonly keyName: string;
  readonly key: string;
  private portValue = 0;
  private readonly entities = new Map<string, Entity>();
  private readonly topics = new Map<string, Entity[]>();
  private readonly container: Container;
  private readonly connStates = new WeakMap<Connection, ConnectionState>();
  private readonly targets = new WeakMap<Receiver, Target>();
  private readonly consumers = new WeakMap<Sender, Consumer>();
  private readonly openConnections = new Set<Connection>();
  private readonly deadConnections = new WeakSet<Connection>();
  private readonly sockets = new Set<Socket>();
  private readonly calls: ManagementCall[] = [];
  private readonly tokens: TokenRequest[] = [];
  private readonly lockDurationMs: number;
  private readonly maxMessageBytes: number;
  private server: Server | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private nextSeq = 1;

  constructor(private readonly options: ServiceBusStandInOptions) {
    this.keyName = options.keyName ?? 'RootManageSharedAccessKey';
    this.key = options.key ?? randomBytes(32).toString('base64');
    this.lockDurationMs = options.lockDurationMs ?? 30_000;
    this.maxMessageBytes = options.maxMessageBytes ?? 256 * 1024;
    for (const queue of options.queues ?? []) {
      const q = typeof queue === 'string' ? { name: queue } : queue;
      this.addEntity(q.name, q.requiresSession ?? false, q.maxDeliveryCount ?? 10);
    }
    for (const topic of options.topics ?? []) {
      const subs = topic.subscriptions.map((s) => {
        const sub = typeof s === 'string' ? { name: s } : s;
        return this.addEntity(`${topic.name}/Subscriptions/${sub.name}`, sub.requiresSession ?? false, 10);
      });
      this.topics.set(topic.name.toLowerCase(), subs);
    }
    this.container = create_container({
      id: 'servicebus-standin',
      autoaccept: false,
      treat_modified_as_released: false,
    });
    this.container.on('sender_open', (ctx: EventContext) => this.onSenderOpen(ctx));
    this.container.on('receiver_open', (ctx: EventContext) => this.onReceiverOpen(ctx));
    this.container.on('message', (ctx: EventContext) => this.onMessage(ctx));
    this.container.on('sendable', (ctx: EventContext) => this.onSendable(ctx));
    this.container.on('sender_draining', (ctx: EventContext) => this.onDraining(ctx));
    this.container.on('accepted', (ctx: EventContext) => this.onOutcome(ctx, 'accepted'));
    this.container.on('released', (ctx: EventContext) => this.onOutcome(ctx, 'released'));
    this.container.on('rejected', (ctx: EventContext) => this.onOutcome(ctx, 'rejected'));
    this.container.on('modified', (ctx: EventContext) => this.onOutcome(ctx, 'modified'));
    this.container.on('sender_close', (ctx: EventContext) => ctx.sender && this.dropConsumer(ctx.sender));
    this.container.on('connection_open', (ctx: EventContext) => this.openConnections.add(ctx.connection));
    this.container.on('connection_close', (ctx: EventContext) => this.dropConnection(ctx.connection));
    this.container.on('disconnected', (ctx: EventContext) => {
      this.deadConnections.add(ctx.connection);
      this.dropConnection(ctx.connection);
      // rhea re-arms its heartbeat timer when anything is written after the socket died; nothing can be sent on it.
      setImmediate(() => clearHeartbeats(ctx.connection));
    });
    // rhea emits link and session errors on the container when nobody handles them; they are the peer's business.
    this.container.on('error', () => undefined);
  }

  get port(): number {
    return this.portValue;
  }

  get connectionString(): string {
    return this.connectionStringFor(this.portValue);
  }

  connectionStringFor(port: number): string {
    return `Endpoint=sb://${this.host}:${port};SharedAccessKeyName=${this.keyName};SharedAccessKey=${this.key};UseDevelopmentEmulator=true`;
  }

  messages(entity: string): readonly StandInMessage[] {
    return this.entity(entity).messages.map((m) => view(m));
  }

  deadLetters(entity: string): readonly StandInMessage[] {
    return (this.entity(entity).deadLetter?.messages ?? []).map((m) => view(m));
  }

  lockedSessions(entity: string): readonly string[] {
    return [...this.entity(entity).sessionLocks.keys()];
  }

  managementCalls(): readonly ManagementCall[] {
    return [...this.calls];
  }

  tokenRequests(): readonly TokenRequest[] {
    return [...this.tokens];
  }

  connections(): number {
    return this.openConnections.size;
  }

  dropConnections(): void {
    for (const socket of [...this.sockets]) socket.destroy();
  }

  async start(): Promise<void> {
    if (this.server !== undefined) return;
    const port = this.portValue || this.options.port || (await freePort(this.host));
    const server = this.container.listen({ host: this.host, port });
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', () => resolve());
      server.once('error', reject);
    });
    this.portValue = (server.address() as AddressInfo).port;
    this.server = server;
    this.sweeper = setInterval(() => this.sweep(), Math.max(20, Math.min(this.lockDurationMs / 4, 500)));
    this.sweeper.unref();
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    clearInterval(this.sweeper);
    this.dropConnections();
    for (const connection of [...this.openConnections]) {
      this.deadConnections.add(connection);
      this.dropConnection(connection);
      clearHeartbeats(connection);
    }
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  close(): Promise<void> {
    return this.stop();
  }

  // ---- entities ----

  private addEntity(name: string, requiresSession: boolean, maxDeliveryCount: number): Entity {
    const make = (entityName: string, sessions: boolean, maxDeliveries: number): Entity => ({
      name: entityName,
      requiresSession: sessions,
      maxDeliveryCount: maxDeliveries,
      messages: [],
      sessionLocks: new Map(),
      sessionStates: new Map(),
      consumers: new Set(),
      deadLetter: undefined,
      parent: undefined,
    });
    const entity = make(name, requiresSession, maxDeliveryCount);
    const deadLetter = make(`${name}/$DeadLetterQueue`, false, Number.POSITIVE_INFINITY);
    entity.deadLetter = deadLetter;
    deadLetter.parent = entity;
    this.entities.set(normalize(entity.name), entity);
    this.entities.set(normalize(deadLetter.name), deadLetter);
    return entity;
  }

  private entity(name: string): Entity {
    const entity = this.entities.get(normalize(name));
    if (entity === undefined) throw new Error(`the stand-in has no queue or subscription '${name}'`);
    return entity;
  }

  private resolve(address: string | undefined): Target | undefined {
    if (address === undefined) return undefined;
    const path = normalize(address);
    if (path === '$cbs') return { kind: 'cbs' };
    if (path.endsWith(MANAGEMENT_SUFFIX)) {
      const entity = this.entities.get(path.slice(0, -MANAGEMENT_SUFFIX.length));
      return entity === undefined ? undefined : { kind: 'management', entity };
    }
    const entity = this.entities.get(path);
    if (entity !== undefined) return { kind: 'entity', entities: [entity], name: entity.name };
    const subscriptions = this.topics.get(path);
    if (subscriptions !== undefined) return { kind: 'entity', entities: subscriptions, name: path };
    return undefined;
  }

  private state(connection: Connection): ConnectionState {
    let state = this.connStates.get(connection);
    if (state === undefined) {
      state = { authorized: new Set(), replyLinks: new Set(), pendingReplies: new Map() };
      this.connStates.set(connection, state);
    }
    return state;
  }

  private isAuthorized(connection: Connection, entityName: string): boolean {
    const path = normalize(entityName);
    for (const audience of this.state(connection).authorized) {
      if (audience === '' || path === audience || path.startsWith(`${audience}/`)) return true;
    }
    return false;
  }

  // ---- links ----

  /** The client attached a receiver: we send (entity messages, or $cbs / $management replies). */
  private onSenderOpen(ctx: EventContext): void {
    const sender = ctx.sender;
    if (sender === undefined) return;
    const link = sender as unknown as LinkInternals;
    const source = link.remote.attach?.source;
    const address = source?.address;
    if (address === undefined)
      return link.close({ condition: 'amqp:invalid-field', description: 'receiver link without a source address' });
    const path = normalize(address);
    if (path === '$cbs' || path.endsWith(MANAGEMENT_SUFFIX)) {
      link.set_source({ address });
      this.state(ctx.connection).replyLinks.add(sender);
      return;
    }
    const entity = this.entities.get(path);
    if (entity === undefined)
      return link.close({
        condition: 'amqp:not-found',
        description: `The messaging entity '${address}' could not be found.`,
      });
    if (!this.isAuthorized(ctx.connection, entity.name)) {
      return link.close({
        condition: 'amqp:unauthorized-access',
        description: `no valid token for '${entity.name}' (put one on $cbs first)`,
      });
    }
    const preSettled = link.remote.attach?.snd_settle_mode === 1;
    if (preSettled) link.local.attach.snd_settle_mode = 1;
    const filter = source?.filter ?? undefined;
    const wantsSession = filter !== undefined && filter !== null && SESSION_FILTER in filter;
    if (entity.requiresSession !== wantsSession) {
      link.set_source({ address });
      return link.close({
        condition: 'amqp:not-allowed',
        description: entity.requiresSession
          ? `'${entity.name}' requires a session receiver`
          : `'${entity.name}' does not use sessions`,
      });
    }
    let sessionId: string | undefined;
    if (wantsSession) {
      const requested = filter[SESSION_FILTER];
      sessionId = typeof requested === 'string' ? requested : this.nextFreeSession(entity);
      if (sessionId === undefined) {
        link.set_source({ address, filter: { [SESSION_FILTER]: null } });
        return link.close({
          condition: 'com.microsoft:timeout',
          description: `no unlocked session with messages on '${entity.name}'`,
        });
      }
      const held = entity.sessionLocks.get(sessionId);
      if (held !== undefined && held.lockedUntilMs > Date.now()) {
        // No session id in the answer: the SDK then fails the accept at once (SessionCannotBeLocked) instead of
        // opening a receiver that is closed right after.
        link.set_source({ address, filter: { [SESSION_FILTER]: null } });
        return link.close({
          condition: 'com.microsoft:session-cannot-be-locked',
          description: `session '${sessionId}' is locked by another receiver`,
        });
      }
      if (held !== undefined) this.releaseSession(entity, sessionId, 'com.microsoft:session-lock-lost');
    }
    const consumer: Consumer = {
      link: sender,
      entity,
      connection: ctx.connection,
      sessionId,
      preSettled,
      inFlight: new Map(),
    };
    if (sessionId !== undefined) {
      const lock: SessionLock = { consumer, lockedUntilMs: Date.now() + this.lockDurationMs };
      entity.sessionLocks.set(sessionId, lock);
      link.set_source({ address, filter: { [SESSION_FILTER]: sessionId } });
      link.local.attach.properties = { [LOCKED_UNTIL_UTC]: types.wrap_long(ticks(lock.lockedUntilMs)) };
    } else {
      link.set_source({ address });
    }
    entity.consumers.add(consumer);
    this.consumers.set(sender, consumer);
    setImmediate(() => this.pump(entity));
  }

  /** The client attached a sender: we receive ($cbs / $management requests, or messages for an entity). */
  private onReceiverOpen(ctx: EventContext): void {
    const receiver = ctx.receiver;
    if (receiver === undefined) return;
    const link = receiver as unknown as LinkInternals;
    const address = link.remote.attach?.target?.address;
    const target = this.resolve(address);
    if (target === undefined) {
      link.set_target({ address });
      return link.close({
        condition: 'amqp:not-found',
        description: `The messaging entity '${address ?? ''}' could not be found.`,
      });
    }
    if (target.kind === 'entity' && !this.isAuthorized(ctx.connection, target.name)) {
      link.set_target({ address });
      return link.close({
        condition: 'amqp:unauthorized-access',
        description: `no valid token for '${target.name}' (put one on $cbs first)`,
      });
    }
    if (target.kind === 'management' && !this.isAuthorized(ctx.connection, target.entity.name)) {
      link.set_target({ address });
      return link.close({
        condition: 'amqp:unauthorized-access',
        description: `no valid token for '${target.entity.name}'`,
      });
    }
    link.set_target({ address });
    link.local.attach.max_message_size = this.maxMessageBytes;
    this.targets.set(receiver, target);
  }

  private onMessage(ctx: EventContext): void {
    const { receiver, delivery, message } = ctx;
    if (receiver === undefined || delivery === undefined || message === undefined) return;
    const target = this.targets.get(receiver);
    if (target === undefined) return delivery.reject({ condition: 'amqp:not-found', description: 'unknown link' });
    switch (target.kind) {
      case 'cbs':
        delivery.accept();
        return this.putToken(ctx.connection, message);
      case 'management':
        delivery.accept();
        return this.management(ctx.connection, target.entity, message);
      case 'entity': {
        // rhea hands over the raw bytes of a delivery with a non-zero message format.
        const messages = delivery.format === BATCH_FORMAT ? splitBatch(decodeRaw(message)) : [message];
        if (messages.some((m) => amqpMessage.encode(m).length > this.maxMessageBytes)) {
          return delivery.reject({
            condition: 'amqp:link:message-size-exceeded',
            description: `message larger than ${this.maxMessageBytes} bytes`,
          });
        }
        for (const m of messages) {
          for (const entity of target.entities) this.enqueue(entity, m);
        }
        delivery.accept();
        for (const entity of target.entities) this.pump(entity);
        return;
      }
    }
  }

  private onSendable(ctx: EventContext): void {
    const sender = ctx.sender;
    if (sender === undefined) return;
    const state = this.connStates.get(ctx.connection);
    const queued = state?.pendingReplies.get(sender);
    if (queued !== undefined) {
      while (queued.length > 0 && sender.sendable()) {
        const reply = queued.shift();
        if (reply !== undefined) sender.send(reply);
      }
    }
    const consumer = this.consumers.get(sender);
    if (consumer !== undefined) this.pump(consumer.entity);
  }

  /** A receiver asked to drain its credit (the SDK's receiveMessages does at the end of its wait): send what is
   * there, then report the rest of the credit as used up. */
  private onDraining(ctx: EventContext): void {
    const sender = ctx.sender;
    if (sender === undefined) return;
    const consumer = this.consumers.get(sender);
    if (consumer !== undefined) this.pump(consumer.entity);
    (sender as unknown as { set_drained(drained: boolean): void }).set_drained(true);
  }

  // ---- queueing and delivery ----

  private enqueue(entity: Entity, message: Message): void {
    const now = Date.now();
    const ttl = typeof message.ttl === 'number' && message.ttl > 0 ? message.ttl : undefined;
    const { delivery_annotations: _annotations, ...kept } = message as Message & { delivery_annotations?: unknown };
    const sessionId = typeof message.group_id === 'string' ? message.group_id : undefined;
    if (entity.requiresSession && sessionId === undefined) {
      // Service Bus refuses the send; the stand-in dead-letters so a test sees it instead of losing it.
      this.deadLetter(
        entity,
        this.stored(entity, kept as Message, now, ttl, undefined),
        'SessionIdIsMissing',
        'the entity requires a session id',
      );
      return;
    }
    entity.messages.push(this.stored(entity, kept as Message, now, ttl, sessionId));
  }

  private stored(
    _entity: Entity,
    message: Message,
    now: number,
    ttl: number | undefined,
    sessionId: string | undefined,
  ): Stored {
    return {
      seq: this.nextSeq++,
      enqueuedAtMs: now,
      expiresAtMs: ttl === undefined ? undefined : now + ttl,
      sessionId,
      message,
      deliveryCount: 0,
      state: 'active',
      lockToken: undefined,
      lockedUntilMs: undefined,
      consumer: undefined,
    };
  }

  private nextFreeSession(entity: Entity): string | undefined {
    const now = Date.now();
    for (const m of entity.messages) {
      if (m.state !== 'active' || m.sessionId === undefined) continue;
      const lock = entity.sessionLocks.get(m.sessionId);
      if (lock === undefined || lock.lockedUntilMs <= now) return m.sessionId;
    }
    return undefined;
  }

  private pump(entity: Entity): void {
    const now = Date.now();
    this.dropExpired(entity, now);
    for (const consumer of entity.consumers) {
      if (this.deadConnections.has(consumer.connection)) continue;
      const sender = consumer.link;
      while (sender.is_open() && sender.sendable()) {
        const next = entity.messages.find(
          (m) => m.state === 'active' && (consumer.sessionId === undefined || m.sessionId === consumer.sessionId),
        );
        if (next === undefined) break;
        this.deliver(consumer, next, now);
      }
    }
  }

  private deliver(consumer: Consumer, stored: Stored, now: number): void {
    const entity = consumer.entity;
    if (stored.deliveryCount >= entity.maxDeliveryCount) {
      this.remove(entity, stored);
      this.deadLetter(entity, stored, 'MaxDeliveryCountExceeded', `delivered ${stored.deliveryCount} times`);
      return;
    }
    const lockToken = uuid_to_string(string_to_uuid(randomUuid()));
    const sessionLock = consumer.sessionId === undefined ? undefined : entity.sessionLocks.get(consumer.sessionId);
    const lockedUntilMs = sessionLock?.lockedUntilMs ?? now + this.lockDurationMs;
    const outgoing: Message = {
      ...stored.message,
      delivery_count: stored.deliveryCount,
      message_annotations: {
        ...(stored.message.message_annotations ?? {}),
        'x-opt-sequence-number': types.wrap_long(stored.seq),
        'x-opt-enqueued-time': new Date(stored.enqueuedAtMs),
        ...(consumer.preSettled ? {} : { 'x-opt-locked-until': new Date(lockedUntilMs) }),
        ...(entity.parent !== undefined ? { 'x-opt-deadletter-source': entity.parent.name } : {}),
      },
    };
    stored.deliveryCount += 1;
    consumer.link.send(outgoing, string_to_uuid(lockToken));
    if (consumer.preSettled) {
      this.remove(entity, stored);
      return;
    }
    stored.state = 'locked';
    stored.lockToken = lockToken;
    stored.lockedUntilMs = lockedUntilMs;
    stored.consumer = consumer;
    consumer.inFlight.set(lockToken, stored);
  }

  private onOutcome(ctx: EventContext, outcome: 'accepted' | 'released' | 'rejected' | 'modified'): void {
    const { delivery, sender } = ctx;
    if (delivery === undefined || sender === undefined) return;
    const consumer = this.consumers.get(sender);
    const lockLost = OUTCOMES.rejected({
      error: { condition: 'com.microsoft:message-lock-lost', description: 'the lock on the message was lost' },
    });
    if (consumer === undefined) {
      // The link lost its lock (session released): refuse, so the receiver's settle call ends at once.
      if (!this.deadConnections.has(ctx.connection)) delivery.update(true, lockLost.described());
      return;
    }
    const token = tagToken(delivery);
    const stored = token === undefined ? undefined : consumer.inFlight.get(token);
    if (token === undefined || stored === undefined) {
      // The lock expired (or the message was settled another way): Service Bus refuses the settlement.
      // (Outgoing deliveries have only update(); accept()/reject() exist on incoming ones.)
      delivery.update(true, lockLost.described());
      return;
    }
    consumer.inFlight.delete(token);
    this.settle(consumer.entity, stored, outcome, delivery.remote_state);
    // Settle our side so the receiver's settlement promise resolves (its link uses rcv-settle-mode second); the
    // state is 'accepted' for every outcome: a state with an error would fail the receiver's settle call.
    delivery.update(true, OUTCOMES.accepted().described());
    this.pump(consumer.entity);
  }

  private settle(
    entity: Entity,
    stored: Stored,
    outcome: 'accepted' | 'released' | 'rejected' | 'modified',
    state: Record<string, unknown> | undefined,
  ): void {
    switch (outcome) {
      case 'accepted':
        this.remove(entity, stored);
        return;
      case 'rejected': {
        const error = (state?.['error'] ?? undefined) as
          | { condition?: string; description?: string; info?: Record<string, unknown> }
          | undefined;
        const info = error?.info ?? {};
        this.remove(entity, stored);
        const reason =
          typeof info['DeadLetterReason'] === 'string' ? info['DeadLetterReason'] : (error?.condition ?? 'rejected');
        const description =
          typeof info['DeadLetterErrorDescription'] === 'string'
            ? info['DeadLetterErrorDescription']
            : (error?.description ?? '');
        const { DeadLetterReason: _r, DeadLetterErrorDescription: _d, ...modified } = info;
        this.applyModifications(stored, modified);
        this.deadLetter(entity, stored, reason, description);
        return;
      }
      case 'modified': {
        const annotations = (state?.['message_annotations'] ?? undefined) as Record<string, unknown> | undefined;
        this.applyModifications(stored, annotations ?? {});
        if (state?.['undeliverable_here'] === true) {
          this.unlock(stored);
          stored.state = 'deferred';
          return;
        }
        this.unlock(stored);
        this.deadLetterIfExhausted(entity, stored);
        return;
      }
      case 'released':
        this.unlock(stored);
        this.deadLetterIfExhausted(entity, stored);
        return;
    }
  }

  /** Service Bus dead-letters a message as soon as an abandon uses up its last delivery. */
  private deadLetterIfExhausted(entity: Entity, stored: Stored): void {
    if (stored.deliveryCount < entity.maxDeliveryCount) return;
    this.remove(entity, stored);
    this.deadLetter(entity, stored, 'MaxDeliveryCountExceeded', `delivered ${stored.deliveryCount} times`);
  }

  private applyModifications(stored: Stored, properties: Record<string, unknown>): void {
    if (Object.keys(properties).length === 0) return;
    stored.message = {
      ...stored.message,
      application_properties: { ...(stored.message.application_properties ?? {}), ...properties },
    };
  }

  private unlock(stored: Stored): void {
    stored.state = 'active';
    stored.lockToken = undefined;
    stored.lockedUntilMs = undefined;
    stored.consumer = undefined;
  }

  private remove(entity: Entity, stored: Stored): void {
    const index = entity.messages.indexOf(stored);
    if (index >= 0) entity.messages.splice(index, 1);
  }

  private deadLetter(entity: Entity, stored: Stored, reason: string, description: string): void {
    const target = entity.deadLetter;
    if (target === undefined) return; // dead-lettering from the dead-letter queue itself just removes
    this.unlock(stored);
    stored.message = {
      ...stored.message,
      application_properties: {
        ...(stored.message.application_properties ?? {}),
        DeadLetterReason: reason,
        DeadLetterErrorDescription: description,
      },
    };
    target.messages.push({ ...stored, deliveryCount: stored.deliveryCount });
    this.pump(target);
  }

  private dropExpired(entity: Entity, now: number): void {
    for (const m of [...entity.messages]) {
      if (m.state === 'active' && m.expiresAtMs !== undefined && m.expiresAtMs <= now) this.remove(entity, m);
    }
  }

  /** Releases what a closed link or connection held: its in-flight messages and its session lock. */
  private dropConsumer(sender: Sender): void {
    const consumer = this.consumers.get(sender);
    if (consumer === undefined) return;
    this.consumers.delete(sender);
    consumer.entity.consumers.delete(consumer);
    for (const stored of consumer.inFlight.values()) this.unlock(stored);
    consumer.inFlight.clear();
    if (
      consumer.sessionId !== undefined &&
      consumer.entity.sessionLocks.get(consumer.sessionId)?.consumer === consumer
    ) {
      consumer.entity.sessionLocks.delete(consumer.sessionId);
    }
    setImmediate(() => this.pump(consumer.entity));
  }

  private dropConnection(connection: Connection): void {
    this.openConnections.delete(connection);
    for (const entity of new Set(this.entities.values())) {
      for (const consumer of [...entity.consumers]) {
        if (consumer.connection === connection) this.dropConsumer(consumer.link);
      }
    }
  }

  private releaseSession(entity: Entity, sessionId: string, condition: string): void {
    const lock = entity.sessionLocks.get(sessionId);
    if (lock === undefined) return;
    const link = lock.consumer.link as unknown as LinkInternals;
    this.dropConsumer(lock.consumer.link);
    entity.sessionLocks.delete(sessionId);
    if (lock.consumer.link.is_open() && !this.deadConnections.has(lock.consumer.connection)) {
      link.close({ condition, description: `the lock on session '${sessionId}' expired` });
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const entity of new Set(this.entities.values())) {
      for (const [sessionId, lock] of [...entity.sessionLocks]) {
        if (lock.lockedUntilMs <= now) this.releaseSession(entity, sessionId, 'com.microsoft:session-lock-lost');
      }
      for (const m of entity.messages) {
        if (
          m.state === 'locked' &&
          m.sessionId === undefined &&
          m.lockedUntilMs !== undefined &&
          m.lockedUntilMs <= now
        ) {
          if (m.lockToken !== undefined) m.consumer?.inFlight.delete(m.lockToken);
          this.unlock(m);
        }
      }
      this.pump(entity);
    }
  }

  // ---- $cbs ----

  private putToken(connection: Connection, request: Message): void {
    const props = request.application_properties ?? {};
    const audience = typeof props['name'] === 'string' ? props['name'] : '';
    const verdict =
      props['operation'] !== 'put-token' ? 'operation must be put-token' : this.checkToken(request.body, audience);
    const accepted = verdict === undefined;
    this.tokens.push({ audience, accepted, ...(accepted ? {} : { reason: verdict }) });
    if (accepted) this.state(connection).authorized.add(audiencePath(audience));
    this.reply(
      connection,
      request,
      { 'status-code': accepted ? 200 : 401, 'status-description': accepted ? 'OK' : verdict },
      undefined,
    );
  }

  /** undefined when the SAS token is valid for `audience`, else why not. */
  private checkToken(token: unknown, audience: string): string | undefined {
    if (typeof token !== 'string' || !token.startsWith('SharedAccessSignature '))
      return 'token is not a SharedAccessSignature';
    const fields = new Map<string, string>();
    for (const part of token.slice('SharedAccessSignature '.length).split('&')) {
      const eq = part.indexOf('=');
      if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
    }
    const sr = fields.get('sr');
    const sig = fields.get('sig');
    const se = fields.get('se');
    const skn = fields.get('skn');
    if (sr === undefined || sig === undefined || se === undefined || skn === undefined)
      return 'token lacks sr, sig, se or skn';
    if (skn !== this.keyName) return `unknown key name '${skn}'`;
    if (!/^\d+$/.test(se) || Number(se) * 1000 <= Date.now()) return 'token expired';
    const expected = createHmac('sha256', this.key).update(`${sr}\n${se}`).digest();
    const given = Buffer.from(decodeURIComponent(sig), 'base64');
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return 'signature does not match the key';
    const resource = audiencePath(decodeURIComponent(sr));
    const wanted = audiencePath(audience);
    if (resource !== '' && wanted !== resource && !wanted.startsWith(`${resource}/`))
      return `token for '${resource}' does not cover '${wanted}'`;
    return undefined;
  }

  // ---- $management ----

  private management(connection: Connection, entity: Entity, request: Message): void {
    const operation = String(request.application_properties?.['operation'] ?? '');
    const body = (request.body ?? {}) as Record<string, unknown>;
    const answer = this.operation(entity, operation, body);
    this.calls.push({ entity: entity.name, operation, statusCode: answer.status });
    this.reply(
      connection,
      request,
      {
        statusCode: answer.status,
        statusDescription: answer.description,
        ...(answer.condition === undefined ? {} : { 'error-condition': answer.condition }),
      },
      answer.body,
    );
  }

  private operation(
    entity: Entity,
    operation: string,
    body: Record<string, unknown>,
  ): { status: number; description: string; condition?: string; body?: unknown } {
    const now = Date.now();
    switch (operation) {
      case 'com.microsoft:renew-session-lock': {
        const sessionId = String(body['session-id'] ?? '');
        const lock = entity.sessionLocks.get(sessionId);
        if (lock === undefined || lock.lockedUntilMs <= now) {
          return {
            status: 410,
            description: `session '${sessionId}' is not locked`,
            condition: 'com.microsoft:session-lock-lost',
          };
        }
        lock.lockedUntilMs = now + this.lockDurationMs;
        return { status: 200, description: 'OK', body: { expiration: new Date(lock.lockedUntilMs) } };
      }
      case 'com.microsoft:renew-lock': {
        const locked = this.byLockTokens(entity, body['lock-tokens']);
        if (locked.some((m) => m === undefined))
          return { status: 410, description: 'lock lost', condition: 'com.microsoft:message-lock-lost' };
        const expirations = locked.map((m) => {
          if (m !== undefined) m.lockedUntilMs = now + this.lockDurationMs;
          return new Date(now + this.lockDurationMs);
        });
        return { status: 200, description: 'OK', body: { expirations } };
      }
      case 'com.microsoft:update-disposition': {
        const locked = this.byLockTokens(entity, body['lock-tokens']);
        if (locked.some((m) => m === undefined))
          return { status: 410, description: 'lock lost', condition: 'com.microsoft:message-lock-lost' };
        const status = String(body['disposition-status'] ?? '');
        for (const m of locked) {
          if (m === undefined) continue;
          if (m.lockToken !== undefined) m.consumer?.inFlight.delete(m.lockToken);
          if (status === 'completed') this.settle(entity, m, 'accepted', undefined);
          else if (status === 'abandoned') this.settle(entity, m, 'released', undefined);
          else if (status === 'defered') this.settle(entity, m, 'modified', { undeliverable_here: true });
          else if (status === 'suspended') {
            this.settle(entity, m, 'rejected', {
              error: {
                info: {
                  DeadLetterReason: body['deadletter-reason'],
                  DeadLetterErrorDescription: body['deadletter-description'],
                },
              },
            });
          } else return { status: 400, description: `unknown disposition-status '${status}'` };
        }
        this.pump(entity);
        return { status: 200, description: 'OK' };
      }
      case 'com.microsoft:get-session-state': {
        const sessionId = String(body['session-id'] ?? '');
        return {
          status: 200,
          description: 'OK',
          body: { 'session-state': entity.sessionStates.get(sessionId) ?? null },
        };
      }
      case 'com.microsoft:set-session-state': {
        const sessionId = String(body['session-id'] ?? '');
        const value = body['session-state'];
        if (Buffer.isBuffer(value)) entity.sessionStates.set(sessionId, value);
        else entity.sessionStates.delete(sessionId);
        return { status: 200, description: 'OK' };
      }
      case 'com.microsoft:peek-message': {
        const from = Number(body['from-sequence-number'] ?? 0);
        const count = Number(body['message-count'] ?? 1);
        const sessionId = typeof body['session-id'] === 'string' ? body['session-id'] : undefined;
        const found = entity.messages
          .filter((m) => m.seq >= from && (sessionId === undefined || m.sessionId === sessionId))
          .slice(0, count)
          .map((m) => ({
            message: amqpMessage.encode({
              ...m.message,
              message_annotations: {
                ...(m.message.message_annotations ?? {}),
                'x-opt-sequence-number': types.wrap_long(m.seq),
                'x-opt-enqueued-time': new Date(m.enqueuedAtMs),
              },
            }),
          }));
        return found.length === 0
          ? { status: 204, description: 'No Content' }
          : { status: 200, description: 'OK', body: { messages: found } };
      }
      default:
        return {
          status: 501,
          description: `operation '${operation}' is not implemented by the stand-in`,
          condition: 'com.microsoft:not-implemented',
        };
    }
  }

  private byLockTokens(entity: Entity, tokens: unknown): (Stored | undefined)[] {
    const list = Array.isArray(tokens) ? tokens : [];
    return list.map((t: unknown) => {
      const token = Buffer.isBuffer(t) ? uuid_to_string(t) : String(t);
      return entity.messages.find((m) => m.lockToken === token && m.state === 'locked');
    });
  }

  private reply(connection: Connection, request: Message, properties: Record<string, unknown>, body: unknown): void {
    if (this.deadConnections.has(connection)) return;
    const replyTo = typeof request.reply_to === 'string' ? request.reply_to : undefined;
    const state = this.state(connection);
    const link = [...state.replyLinks].find((l) => {
      const internals = l as unknown as LinkInternals;
      return internals.name === replyTo || internals.remote.attach?.target?.address === replyTo;
    });
    if (link === undefined || !link.is_open()) return;
    const response: Message = {
      correlation_id: request.message_id,
      ...(replyTo === undefined ? {} : { to: replyTo }),
      application_properties: properties,
      body: body ?? null,
    };
    if (link.sendable()) {
      link.send(response);
      return;
    }
    const queued = state.pendingReplies.get(link) ?? [];
    queued.push(response);
    state.pendingReplies.set(link, queued);
  }
}

/** Clears rhea's idle-heartbeat timers of a connection whose socket is gone (rhea internals). */
function clearHeartbeats(connection: Connection): void {
  const timers = connection as unknown as { heartbeat_out?: NodeJS.Timeout; heartbeat_in?: NodeJS.Timeout };
  clearTimeout(timers.heartbeat_out);
  clearTimeout(timers.heartbeat_in);
  timers.heartbeat_out = undefined;
  timers.heartbeat_in = undefined;
}

function normalize(address: string): string {
  let path = address.trim();
  const scheme = /^(sb|amqps?):\/\/[^/]+/i.exec(path);
  if (scheme) path = path.slice(scheme[0].length);
  return path.replace(/^\/+/, '').replace(/\/+$/, '').toLowerCase();
}

/** The entity path of a CBS audience (`sb://host/path`); '' for the namespace. */
function audiencePath(audience: string): string {
  return normalize(audience);
}

function ticks(epochMs: number): Buffer {
  const buffer = Buffer.alloc(8);
  buffer.writeBigInt64BE(BigInt(epochMs) * 10_000n + EPOCH_TICKS);
  return buffer;
}

function tagToken(delivery: Delivery): string | undefined {
  const tag = delivery.tag;
  if (typeof tag === 'string') return tag;
  return tag.length === 16 ? uuid_to_string(tag) : undefined;
}

function randomUuid(): string {
  const bytes = randomBytes(16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  return uuid_to_string(bytes);
}

function decodeRaw(payload: unknown): Message {
  return Buffer.isBuffer(payload) ? (amqpMessage.decode(payload) as unknown as Message) : (payload as Message);
}

/** The messages inside a batch delivery (format 0x80013700): each data section is one encoded message. */
function splitBatch(batch: Message): Message[] {
  const body = batch.body as { content?: unknown; multiple?: boolean } | undefined;
  const content = body?.content;
  const parts = Array.isArray(content) && body?.multiple ? content : [content];
  return parts.filter((p): p is Buffer => Buffer.isBuffer(p)).map((p) => amqpMessage.decode(p) as unknown as Message);
}

function view(m: Stored): StandInMessage {
  const props = (m.message.application_properties ?? {}) as Record<string, unknown>;
  const body = m.message.body as { typecode?: number; content?: unknown } | unknown;
  const data =
    typeof body === 'object' && body !== null && 'typecode' in body && (body as { typecode?: number }).typecode === 0x75
      ? (body as { content?: unknown }).content
      : body;
  return {
    sequenceNumber: m.seq,
    messageId: m.message.message_id,
    sessionId: m.sessionId,
    correlationId: m.message.correlation_id,
    replyTo: typeof m.message.reply_to === 'string' ? m.message.reply_to : undefined,
    replyToSessionId: typeof m.message.reply_to_group_id === 'string' ? m.message.reply_to_group_id : undefined,
    contentType: typeof m.message.content_type === 'string' ? m.message.content_type : undefined,
    subject: typeof m.message.subject === 'string' ? m.message.subject : undefined,
    applicationProperties: props,
    body: data,
    deliveryCount: m.deliveryCount,
    state: m.state,
    enqueuedAtMs: m.enqueuedAtMs,
    deadLetterReason: typeof props['DeadLetterReason'] === 'string' ? props['DeadLetterReason'] : undefined,
    deadLetterErrorDescription:
      typeof props['DeadLetterErrorDescription'] === 'string' ? props['DeadLetterErrorDescription'] : undefined,
  };
}
