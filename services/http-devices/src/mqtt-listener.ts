import type { Bus } from '@voltimax/bus';
import {
  decodeMqttPayload,
  describeJsonIssues,
  mqttTopic,
  toMeasurements,
  type JsonReading,
  type MqttProfile,
  type MqttTopic,
  type ReadValues,
} from '@voltimax/devices';
import {
  assetCounter,
  chargerStateFromCp,
  createReadingPublisher,
  type AssetErrorTracker,
  type ReadingPublisher,
} from '@voltimax/driver-sdk/plumbing';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { BrokerSpec, OwnedAsset } from './assets';
import type { Health } from './counters';
import { redactUrl } from './redact';

/** Opens an MQTT client for a broker (mqtt.js `connect`; injectable for tests). */
export type ConnectBroker = (url: string, options: IClientOptions) => MqttClient;

/** Dependencies of the MQTT side. */
export interface MqttListenerOptions {
  readonly bus: Pick<Bus, 'publish'>;
  readonly log: Logger;
  readonly health: Health;
  readonly errors: AssetErrorTracker;
  /** The MQTT assets (driver `mqtt` or `unusable`). */
  readonly assets: readonly OwnedAsset[];
  readonly brokers: readonly BrokerSpec[];
  /** Part of every client id (brokers drop an older connection with the same id). */
  readonly instanceId: string;
  readonly connectTimeoutMs: number;
  readonly reconnectMs: number;
  /** Epoch ms. */
  readonly now: () => number;
  readonly staleAfterIntervals?: number;
  readonly connectBroker?: ConnectBroker;
}

/** The latest message of one reading topic; `connection` counts the broker's CONNACKs (which connection it came on). */
export type TopicMessage =
  | { readonly kind: 'reading'; readonly atMs: number; readonly connection: number; readonly reading: JsonReading }
  | { readonly kind: 'garbage'; readonly atMs: number; readonly connection: number; readonly error: string };

/** What waiting for a confirming message gave. */
export type WaitOutcome =
  | { readonly kind: 'confirmed'; readonly reading: JsonReading }
  /** No confirming message in time; `last` is the last message that arrived meanwhile, if any. */
  | { readonly kind: 'timeout'; readonly last?: TopicMessage };

/** The running MQTT side: listens, publishes readings, and lets the write path command and observe devices. */
export interface MqttListener {
  /**
   * The latest message on a reading topic of an asset (profile topic name), only while it still describes the device:
   * received on the broker connection that is up now and within the staleness window the readings use
   * (`staleAfterIntervals` poll intervals). Older news is no news: undefined.
   */
  latest(assetId: string, topicName: string): TopicMessage | undefined;
  /**
   * Resolves with the first message on the topic (after this call) that `confirms`, or `timeout` after `timeoutMs`.
   * Register it before publishing the command, so a fast answer is not missed.
   */
  waitFor(
    assetId: string,
    topicName: string,
    confirms: (reading: JsonReading) => boolean,
    timeoutMs: number,
  ): Promise<WaitOutcome>;
  /**
   * Publishes a command on the asset's broker; rejects at once when the broker is offline. A QoS 1/2 command not
   * acknowledged within `timeoutMs` is taken back out of the client's outgoing store (mqtt.js would otherwise resend
   * it after a reconnect, long after the write it belongs to was answered and expired) and the promise rejects.
   */
  publish(
    assetId: string,
    topic: string,
    payload: string,
    options: { readonly qos: 0 | 1 | 2; readonly retain: boolean; readonly timeoutMs: number },
  ): Promise<void>;
  /** Publishes the profile's status request (if it has one), best effort. */
  requestStatus(assetId: string): void;
  stop(): Promise<void>;
}

/** Counter names of the MQTT side (all start at 0). */
export const MQTT_COUNTERS = [
  'mqttMessages',
  'mqttGarbage',
  'mqttMalformedFields',
  'mqttImplausible',
  'mqttStaleReadings',
  'mqttStatusRequests',
  'mqttReconnects',
  'brokersOffline',
] as const;

const clip = (text: string): string => (text.length > 500 ? `${text.slice(0, 497)}...` : text);

/** One broker connection shared by the assets that name it. */
class BrokerLink {
  readonly client: MqttClient;
  private readonly topics = new Set<string>();
  online = false;
  /** Counts CONNACKs: a message remembers the connection it came on. */
  connection = 0;
  lastError: string | undefined;
  private closing = false;

  constructor(
    readonly spec: BrokerSpec,
    clientId: string,
    private readonly opts: MqttListenerOptions,
    private readonly onMessage: (topic: string, payload: Buffer) => void,
    private readonly onStateChange: () => void,
  ) {
    const log = opts.log.child({ broker: redactUrl(spec.url) });
    const options: IClientOptions = {
      protocolVersion: spec.protocolVersion,
      clientId,
      clean: true,
      connectTimeout: opts.connectTimeoutMs,
      reconnectPeriod: opts.reconnectMs,
      // We subscribe ourselves on every CONNACK (clean sessions keep nothing).
      resubscribe: false,
      // Never send a QoS 0 message later: offline means the command fails now.
      queueQoSZero: false,
      keepalive: 30,
      ...(spec.username === undefined ? {} : { username: spec.username }),
      ...(spec.password === undefined ? {} : { password: spec.password }),
    };
    this.client = (opts.connectBroker ?? connect)(spec.url, options);
    // Handlers go on before the first CONNACK can arrive.
    this.client.on('message', (topic, payload) => this.onMessage(topic, payload));
    this.client.on('connect', () => {
      this.connection += 1;
      this.online = true;
      this.lastError = undefined;
      log.info(
        { mqttVersion: spec.protocolVersion === 5 ? '5.0' : '3.1.1', topics: this.topics.size },
        'broker connected',
      );
      this.onStateChange();
      this.subscribeAll(log);
    });
    this.client.on('reconnect', () => opts.health.incrementCounter('mqttReconnects'));
    this.client.on('error', (err) => {
      this.lastError = err.message;
      log.debug({ err }, 'mqtt error');
    });
    this.client.on('close', () => {
      if (!this.online) return;
      this.online = false;
      if (!this.closing) log.warn({ lastError: this.lastError }, 'broker connection lost; reconnecting');
      this.onStateChange();
    });
  }

  addTopic(topic: string): void {
    this.topics.add(topic);
  }

  private subscribeAll(log: Logger): void {
    if (this.topics.size === 0) return;
    this.client
      .subscribeAsync([...this.topics], { qos: 1 })
      .then((grants) => {
        const refused = grants.filter((g) => g.qos === 128).map((g) => g.topic);
        if (refused.length > 0) log.error({ refused }, 'broker refused subscriptions');
        else log.debug({ topics: grants.length }, 'subscribed');
      })
      .catch((err: unknown) => log.warn({ err }, 'subscribe failed'));
  }

  describe(): string {
    return this.online
      ? `broker ${redactUrl(this.spec.url)} online`
      : `broker ${redactUrl(this.spec.url)} offline${this.lastError ? `: ${this.lastError}` : ''}`;
  }

  /** See {@link MqttListener.publish}. */
  publish(topic: string, payload: string, qos: 0 | 1 | 2, retain: boolean, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const done = (err?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err === undefined) resolve();
        else reject(err);
      };
      const callback = (err?: Error): void => done(err ?? undefined);
      const timer = setTimeout(() => {
        // Take it back: mqtt.js keeps QoS 1/2 messages until acknowledged and resends them after a reconnect.
        done(new Error(`no ${qos === 2 ? 'PUBCOMP' : 'PUBACK'} within ${timeoutMs} ms; the command was withdrawn`));
        const messageId = Object.entries(this.client.outgoing).find(([, pending]) => pending.cb === callback)?.[0];
        if (messageId !== undefined) this.client.removeOutgoingMessage(Number(messageId));
      }, timeoutMs);
      this.client.publish(topic, payload, { qos, retain }, callback);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.client.endAsync(true).catch(() => undefined);
  }
}

interface TopicState {
  readonly topic: MqttTopic;
  readonly fullTopic: string;
  last: TopicMessage | undefined;
  /** The error text last logged for this topic (garbage or bad members), to log each new problem once. */
  lastLogged: string | undefined;
}

interface Waiter {
  readonly topicName: string;
  readonly confirms: (reading: JsonReading) => boolean;
  readonly resolve: (outcome: WaitOutcome) => void;
  last: TopicMessage | undefined;
}

/** One MQTT asset: its topics' latest messages, its waiting writes, and its publish loop. */
class MqttAssetLoop {
  private timer: NodeJS.Timeout | undefined;
  /** A reading held back to coalesce a burst of messages (see {@link publishSoon}). */
  private burstTimer: NodeJS.Timeout | undefined;
  private lastPublishAtMs = Number.NEGATIVE_INFINITY;
  private readonly startedAtMs: number;
  private lastTickAtMs: number;
  private lastStaleAtMs = Number.NEGATIVE_INFINITY;
  private readonly readings: ReadingPublisher;
  readonly waiters = new Set<Waiter>();
  readonly topics: readonly TopicState[];
  private readonly log: Logger;

  constructor(
    readonly asset: OwnedAsset,
    readonly profile: MqttProfile | undefined,
    readonly prefix: string | undefined,
    readonly broker: BrokerLink | undefined,
    private readonly opts: MqttListenerOptions,
  ) {
    this.log = opts.log.child({ assetId: asset.id });
    this.readings = createReadingPublisher({ bus: opts.bus, asset, log: this.log, now: opts.now });
    this.startedAtMs = opts.now();
    this.lastTickAtMs = this.startedAtMs;
    this.topics =
      profile === undefined || prefix === undefined
        ? []
        : profile.topics.map((topic) => ({
            topic,
            fullTopic: mqttTopic(topic.topic, prefix),
            last: undefined,
            lastLogged: undefined,
          }));
  }

  start(): void {
    this.timer = setTimeout(() => this.tick(), this.asset.pollIntervalMs);
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.burstTimer !== undefined) clearTimeout(this.burstTimer);
    this.burstTimer = undefined;
    for (const waiter of this.waiters)
      waiter.resolve({ kind: 'timeout', ...(waiter.last ? { last: waiter.last } : {}) });
    this.waiters.clear();
  }

  /** A message on one of this asset's topics. */
  received(state: TopicState, payload: Buffer): void {
    const { health } = this.opts;
    const atMs = this.opts.now();
    health.incrementCounter('mqttMessages');
    const outcome = decodeMqttPayload(state.topic, payload);
    if (outcome.kind === 'garbage') {
      health.incrementCounter('mqttGarbage');
      health.incrementCounter(assetCounter('mqttGarbage', this.asset.id));
      state.last = { kind: 'garbage', atMs, connection: this.broker?.connection ?? 0, error: outcome.error };
      if (state.lastLogged !== outcome.error) {
        this.log.warn(
          { topic: state.fullTopic, error: outcome.error, bytes: payload.byteLength },
          'garbage payload dropped',
        );
      }
      state.lastLogged = outcome.error;
      this.publishSoon();
      return;
    }
    const { reading } = outcome;
    if (reading.issues.length > 0) {
      const implausible = reading.issues.filter((i) => i.outcome.kind === 'implausible').length;
      if (implausible > 0) health.incrementCounter('mqttImplausible', implausible);
      if (reading.issues.length > implausible)
        health.incrementCounter('mqttMalformedFields', reading.issues.length - implausible);
      const text = describeJsonIssues(reading.issues);
      if (state.lastLogged !== text)
        this.log.warn({ topic: state.fullTopic, issues: text }, 'payload with bad members; dropped them');
      state.lastLogged = text;
    } else {
      state.lastLogged = undefined;
    }
    state.last = { kind: 'reading', atMs, connection: this.broker?.connection ?? 0, reading };
    for (const waiter of [...this.waiters]) {
      if (waiter.topicName !== state.topic.name) continue;
      waiter.last = state.last;
      if (waiter.confirms(reading)) {
        this.waiters.delete(waiter);
        waiter.resolve({ kind: 'confirmed', reading });
      }
    }
    this.publishSoon();
  }

  /**
   * Publishes a reading from the topics' latest messages as a message comes, not on the next poll tick: a reading
   * published up to one poll interval after its message would reach the safety arbiter already old, and with its
   * staleness limit of 1.5 poll intervals the asset would flip to its safe setpoint whenever the device's clock and
   * ours drift more than half an interval apart. A burst (several topics, a chatty device) goes out at most every
   * quarter interval (250 ms at most), as one reading.
   */
  private publishSoon(): void {
    const nowMs = this.opts.now();
    const gapMs = Math.min(250, this.asset.pollIntervalMs / 4);
    const sinceMs = nowMs - this.lastPublishAtMs;
    if (sinceMs >= gapMs) {
      this.publishFresh(nowMs);
      return;
    }
    this.burstTimer ??= setTimeout(() => {
      this.burstTimer = undefined;
      this.publishFresh(this.opts.now());
    }, gapMs - sinceMs);
  }

  /** One reading from the fresh messages, when every required topic has a fresh one (else the tick says stale). */
  private publishFresh(nowMs: number): void {
    if (this.profile === undefined || this.asset.driver.kind !== 'mqtt') return;
    const window = this.windowMs();
    const fresh = (s: TopicState) => s.last !== undefined && nowMs - s.last.atMs <= window;
    if (!this.topics.filter((s) => s.topic.required).every(fresh)) return;
    this.lastPublishAtMs = nowMs;
    this.compose(this.topics.filter(fresh));
  }

  /** The latest message of a topic while it still describes the device (see {@link MqttListener.latest}). */
  current(topicName: string): TopicMessage | undefined {
    const last = this.topics.find((t) => t.topic.name === topicName)?.last;
    const broker = this.broker;
    if (last === undefined || broker === undefined || !broker.online || last.connection !== broker.connection)
      return undefined;
    return this.opts.now() - last.atMs <= this.windowMs() ? last : undefined;
  }

  private windowMs(): number {
    return this.asset.pollIntervalMs * (this.opts.staleAfterIntervals ?? 3);
  }

  private tick(): void {
    this.timer = setTimeout(() => this.tick(), this.asset.pollIntervalMs);
    const nowMs = this.opts.now();
    const since = this.lastTickAtMs;
    this.lastTickAtMs = nowMs;
    if (this.profile === undefined || this.asset.driver.kind !== 'mqtt') {
      this.failed(nowMs, this.asset.driver.kind === 'unusable' ? this.asset.driver.reason : 'not an MQTT asset');
      return;
    }
    const window = this.windowMs();
    const fresh = (s: TopicState) => s.last !== undefined && nowMs - s.last.atMs <= window;
    const isNew = this.topics.some((s) => s.last !== undefined && s.last.atMs > since);
    const required = this.topics.filter((s) => s.topic.required);
    // Readings go out as messages come (publishSoon); the tick asks a quiet device for its status and says stale.
    if (!isNew) this.requestStatus();
    if (required.every(fresh)) return;
    // A required topic has been silent for the whole window (or never spoke).
    if (nowMs - this.startedAtMs <= window || nowMs - this.lastStaleAtMs < this.asset.pollIntervalMs) return;
    this.lastStaleAtMs = nowMs;
    const silent = required
      .filter((s) => !fresh(s))
      .map((s) => (s.last === undefined ? `${s.fullTopic} (never)` : `${s.fullTopic} (${nowMs - s.last.atMs} ms)`));
    const error = clip(`no message on ${silent.join(', ')}; ${this.broker?.describe() ?? 'no broker'}`);
    if (this.readings.stale(error)) {
      this.opts.health.incrementCounter('mqttStaleReadings');
      // Log a new silence once, not every interval (the ages in the text change each time).
      if (this.readings.noteError(error.replace(/\(\d+ ms\)/g, ''))) this.log.warn({ error }, 'readings stale');
      this.opts.errors.outcome(this.asset.id, false);
      return;
    }
    this.failed(nowMs, error);
  }

  /** Builds one reading from the fresh messages of every topic. */
  private compose(states: readonly TopicState[]): void {
    const values: Partial<Record<string, number | string>> = {};
    const problems: string[] = [];
    let atMs = 0;
    for (const state of states) {
      const last = state.last;
      if (last === undefined) continue;
      atMs = Math.max(atMs, last.atMs);
      if (last.kind === 'garbage') {
        problems.push(`${state.topic.name}: ${last.error}`);
        continue;
      }
      for (const [key, value] of Object.entries(last.reading.values))
        if (values[key] === undefined) values[key] = value;
      const issues = describeJsonIssues(last.reading.issues);
      if (issues !== undefined) problems.push(`${state.topic.name}: ${issues}`);
    }
    const typed = values as ReadValues;
    const measurements = toMeasurements(typed);
    const chargerState = this.asset.kind === 'ev-charger' ? chargerStateFromCp(typed.cpState) : undefined;
    if (problems.length > 0) {
      // Logged per topic as the payloads come (received).
      this.readings.error({ atMs, values: measurements, error: clip(problems.join(' | ')), chargerState });
      this.opts.errors.outcome(this.asset.id, false);
      return;
    }
    this.readings.good({ atMs, values: measurements, chargerState });
    this.opts.errors.outcome(this.asset.id, true);
  }

  private failed(atMs: number, reason: string): void {
    this.opts.health.incrementCounter(assetCounter('pollErrors', this.asset.id));
    if (this.readings.error({ atMs, error: clip(reason) }, reason)) this.log.warn({ reason }, 'no usable reading');
    this.opts.errors.outcome(this.asset.id, false);
  }

  requestStatus(): void {
    const request = this.profile?.mqtt.statusRequest;
    const broker = this.broker;
    if (request === undefined || this.prefix === undefined || broker === undefined || !broker.online) return;
    this.opts.health.incrementCounter('mqttStatusRequests');
    broker.client
      .publishAsync(mqttTopic(request.topic, this.prefix), request.payload, { qos: 0 })
      .catch((err: unknown) => this.log.debug({ err }, 'status request failed'));
  }
}

/**
 * Connects to every broker the MQTT assets need (MQTT 3.1.1 or 5.0 per broker, clean sessions, QoS 1
 * subscriptions renewed on every reconnect), decodes every message on the profiles' topics, and publishes one
 * `telemetry.<assetId>` per poll interval in which something new arrived: `good` when every required topic spoke
 * within `staleAfterIntervals` intervals and all is well; `error` with the good values when a payload was garbage or
 * had bad members; `stale` with the last good values (their own `atMs`) when a required topic stays silent, `error`
 * without values when it never spoke. A silent interval triggers the profile's status request.
 */
export function startMqttListener(opts: MqttListenerOptions): MqttListener {
  for (const name of MQTT_COUNTERS) opts.health.setCounter(name, 0);
  const routes = new Map<string, { loop: MqttAssetLoop; state: TopicState }[]>();
  const links = new Map<string, BrokerLink>();
  const updateOffline = () =>
    opts.health.setCounter('brokersOffline', [...links.values()].filter((l) => !l.online).length);
  opts.brokers.forEach((spec, index) => {
    const clientId = `voltimax-http-devices-${opts.instanceId}-${index}`.slice(0, 64);
    links.set(
      spec.url,
      new BrokerLink(
        spec,
        clientId,
        opts,
        (topic, payload) => {
          for (const route of routes.get(topic) ?? []) route.loop.received(route.state, payload);
        },
        updateOffline,
      ),
    );
  });
  updateOffline();
  const loops = new Map<string, MqttAssetLoop>();
  for (const asset of opts.assets) {
    const driver = asset.driver;
    const broker = driver.kind === 'mqtt' ? links.get(driver.brokerUrl) : undefined;
    const loop =
      driver.kind === 'mqtt'
        ? new MqttAssetLoop(asset, driver.profile, driver.prefix, broker, opts)
        : new MqttAssetLoop(asset, undefined, undefined, undefined, opts);
    loops.set(asset.id, loop);
    for (const state of loop.topics) {
      broker?.addTopic(state.fullTopic);
      routes.set(state.fullTopic, [...(routes.get(state.fullTopic) ?? []), { loop, state }]);
    }
    loop.start();
  }

  return {
    latest(assetId, topicName) {
      return loops.get(assetId)?.current(topicName);
    },
    waitFor(assetId, topicName, confirms, timeoutMs) {
      const loop = loops.get(assetId);
      if (loop === undefined) return Promise.resolve({ kind: 'timeout' });
      return new Promise<WaitOutcome>((resolve) => {
        const waiter: Waiter = {
          topicName,
          confirms,
          last: undefined,
          resolve: (outcome) => {
            clearTimeout(timer);
            resolve(outcome);
          },
        };
        const timer = setTimeout(() => {
          loop.waiters.delete(waiter);
          resolve({ kind: 'timeout', ...(waiter.last ? { last: waiter.last } : {}) });
        }, timeoutMs);
        loop.waiters.add(waiter);
      });
    },
    async publish(assetId, topic, payload, options) {
      const broker = loops.get(assetId)?.broker;
      if (broker === undefined) throw new Error(`asset '${assetId}' has no broker`);
      if (!broker.online) throw new Error(broker.describe());
      await broker.publish(topic, payload, options.qos, options.retain, options.timeoutMs);
    },
    requestStatus(assetId) {
      loops.get(assetId)?.requestStatus();
    },
    async stop() {
      for (const loop of loops.values()) loop.stop();
      await Promise.all([...links.values()].map((link) => link.close()));
    },
  };
}
