import { randomBytes } from 'node:crypto';
import { connect, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Candidate } from '../candidate';
import { HA_DISCOVERY_TOPICS, haCandidates, parseHaConfig, type ParsedSensor } from './ha-discovery';

/** Options of {@link discoverHomeAssistant}. */
export interface HaDiscoveryOptions {
  /** `mqtt://host:1883` (or `mqtts://`, `ws://`). */
  readonly brokerUrl: string;
  readonly username?: string;
  readonly password?: string;
  /** How long to collect retained discovery messages after subscribing, ms (default 3000). */
  readonly durationMs?: number;
  /** Bound on connecting (TCP + CONNACK), ms (default 5000). */
  readonly connectTimeoutMs?: number;
  readonly signal?: AbortSignal;
  readonly log?: Logger;
}

/** What the broker's discovery topics gave. */
export interface HaDiscoveryResult {
  readonly candidates: readonly Candidate[];
  /** Discovery messages received. */
  readonly messages: number;
  /** Energy sensors taken. */
  readonly sensors: number;
  /** Messages not about energy sensors (other components, removals, other device classes), by reason. */
  readonly ignored: Readonly<Record<string, number>>;
  /** Malformed or unusable configs, by reason. */
  readonly rejected: Readonly<Record<string, number>>;
  /** Devices with sensors that are not energy assets. */
  readonly skipped: readonly { readonly device: string; readonly reason: string }[];
}

/** The MQTT broker could not be reached or refused us. */
export class MqttDiscoveryError extends Error {
  override readonly name = 'MqttDiscoveryError';
  readonly retryable = true;
  constructor(
    readonly brokerUrl: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`MQTT discovery at ${brokerUrl}: ${message}`, options);
  }
}

function connected(client: MqttClient, brokerUrl: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => finish(new MqttDiscoveryError(brokerUrl, `no CONNACK within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onError = (err: Error): void => finish(new MqttDiscoveryError(brokerUrl, err.message, { cause: err }));
    const onConnect = (): void => finish();
    function finish(err?: Error): void {
      clearTimeout(timer);
      client.removeListener('error', onError);
      client.removeListener('connect', onConnect);
      if (err) reject(err);
      else resolve();
    }
    client.once('error', onError);
    client.once('connect', onConnect);
  });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Subscribes to the Home Assistant discovery topics, collects the (retained) config messages for `durationMs`,
 * and returns one candidate per Home Assistant device with energy sensors. Read-only: it subscribes and never
 * publishes. Every message is validated; malformed ones are counted by reason and logged (the first of each reason
 * at warn), never thrown. Rejects with {@link MqttDiscoveryError} when the broker cannot be reached.
 */
export async function discoverHomeAssistant(options: HaDiscoveryOptions): Promise<HaDiscoveryResult> {
  const log = options.log;
  const client = connect(options.brokerUrl, {
    protocolVersion: 5,
    clientId: `voltimax-discovery-${randomBytes(4).toString('hex')}`,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: options.connectTimeoutMs ?? 5_000,
    ...(options.username === undefined ? {} : { username: options.username }),
    ...(options.password === undefined ? {} : { password: options.password }),
  });
  const sensors: ParsedSensor[] = [];
  const ignored: Record<string, number> = {};
  const rejected: Record<string, number> = {};
  let messages = 0;
  client.on('message', (topic, payload) => {
    messages += 1;
    const outcome = parseHaConfig(topic, payload.toString('utf8'));
    if (outcome.kind === 'sensors') {
      sensors.push(...outcome.sensors);
    } else if (outcome.kind === 'ignored') {
      ignored[outcome.reason] = (ignored[outcome.reason] ?? 0) + 1;
    } else {
      const count = (rejected[outcome.reason] = (rejected[outcome.reason] ?? 0) + 1);
      const fields = { topic, reason: outcome.reason, count };
      if (count === 1) log?.warn(fields, 'discovery config rejected');
      else log?.debug(fields, 'discovery config rejected');
    }
  });
  try {
    await connected(client, options.brokerUrl, options.connectTimeoutMs ?? 5_000);
    const granted = await client.subscribeAsync([...HA_DISCOVERY_TOPICS], { qos: 0 });
    const refused = granted.filter((g) => g.qos >= 0x80);
    if (refused.length > 0) {
      throw new MqttDiscoveryError(
        options.brokerUrl,
        `subscription refused: ${refused.map((g) => g.topic).join(', ')}`,
      );
    }
    await sleep(options.durationMs ?? 3_000, options.signal);
  } finally {
    await client.endAsync(true).catch(() => undefined);
  }
  const { candidates, skipped } = haCandidates(sensors, options.brokerUrl);
  log?.info(
    { brokerUrl: options.brokerUrl, messages, sensors: sensors.length, candidates: candidates.length },
    'mqtt discovery done',
  );
  return { candidates, messages, sensors: sensors.length, ignored, rejected, skipped };
}
