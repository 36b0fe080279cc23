import { connect, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { ShellyPro3emImage } from './shelly-pro-3em';

/** One simulated MQTT meter: its topic prefix and the image it publishes. */
export interface SimulatedMqttMeter {
  readonly assetId: string;
  readonly prefix: string;
  readonly image: ShellyPro3emImage;
}

/** The simulator's MQTT connection and the meters publishing through it. */
export interface MqttMeterPublisher {
  /** Publishes every meter's status (after each step). */
  publishAll(): void;
  /** Messages published per meter. */
  counters(): Readonly<Record<string, number>>;
  /** Resolves once connected (or rejects after `timeoutMs`). */
  whenConnected(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Connects to the broker at `url` (MQTT 3.1.1, as Shelly Gen2 devices do) and publishes each meter's `em:0` and
 * `emdata:0` status objects, QoS 1, not retained — on every `publishAll()` and when the meter gets `status_update`
 * on `<prefix>/command` (the device's MQTT control). Reconnects by itself; publishes while offline are dropped.
 */
export function startMqttMeterPublisher(options: {
  readonly url: string;
  readonly meters: readonly SimulatedMqttMeter[];
  readonly clientId: string;
  readonly log: Logger;
}): MqttMeterPublisher {
  const { log } = options;
  const counts: Record<string, number> = Object.fromEntries(options.meters.map((m) => [m.assetId, 0]));
  const byCommandTopic = new Map(options.meters.map((m) => [`${m.prefix}/command`, m]));
  const client: MqttClient = connect(options.url, {
    protocolVersion: 4,
    clientId: options.clientId,
    clean: true,
    reconnectPeriod: 1_000,
    connectTimeout: 5_000,
  });
  const publishMeter = (meter: SimulatedMqttMeter) => {
    if (!client.connected || !meter.image.ready) return;
    for (const [component, status] of [
      ['em:0', meter.image.em()],
      ['emdata:0', meter.image.emData()],
    ] as const) {
      client.publish(`${meter.prefix}/status/${component}`, JSON.stringify(status), { qos: 1 }, (err) => {
        if (err) log.debug({ err, assetId: meter.assetId }, 'publish failed');
      });
    }
    counts[meter.assetId] = (counts[meter.assetId] ?? 0) + 2;
  };
  client.on('message', (topic, payload) => {
    const meter = byCommandTopic.get(topic);
    if (meter !== undefined && payload.toString('utf8').trim() === 'status_update') publishMeter(meter);
  });
  client.on('connect', () => {
    log.info({ url: options.url, meters: options.meters.length }, 'mqtt meters connected');
    if (byCommandTopic.size > 0) {
      client.subscribe([...byCommandTopic.keys()], { qos: 1 }, (err) => {
        if (err) log.warn({ err }, 'subscribe to command topics failed');
      });
    }
  });
  client.on('error', (err) => log.debug({ err }, 'mqtt error'));
  return {
    publishAll: () => options.meters.forEach(publishMeter),
    counters: () => ({ ...counts }),
    whenConnected: (timeoutMs) =>
      client.connected
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => {
              client.off('connect', onConnect);
              reject(new Error(`no connection to ${options.url} within ${timeoutMs} ms`));
            }, timeoutMs);
            const onConnect = () => {
              clearTimeout(timer);
              resolve();
            };
            client.once('connect', onConnect);
          }),
    close: async () => {
      await client.endAsync(true).catch(() => undefined);
    },
  };
}
