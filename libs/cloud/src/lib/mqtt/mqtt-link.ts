import { connect, type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { Backoff, describeError, LinkStatusTracker } from '../link-status';
import type { LinkStatus } from '../port';
import { redactUrlCredentials } from '../redact';

/** TLS settings for `mqtts://` and `wss://` brokers (PEM strings or buffers); the system CAs are used when `ca` is absent. */
export interface MqttTlsOptions {
  readonly ca?: string | Buffer;
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** Default true; false only for a test broker with a self-signed certificate. */
  readonly rejectUnauthorized?: boolean;
  /** SNI / certificate host name when it differs from the URL's host. */
  readonly servername?: string;
}

/** How to reach the broker; shared by the command channel, the telemetry sink and the cloud client. */
export interface MqttConnectionOptions {
  /** `mqtt://`, `mqtts://`, `ws://` or `wss://`. */
  readonly brokerUrl: string;
  readonly username?: string;
  readonly password?: string;
  readonly tls?: MqttTlsOptions;
  /** Topic prefix (site settings `topicPrefix`); default `voltimax`. */
  readonly topicPrefix?: string;
  /** Bound on one connection attempt (TCP + TLS + CONNACK); default 10 000 ms. */
  readonly connectTimeoutMs?: number;
  /** MQTT keep-alive; default 30 s. A dead link is noticed after ~1.5 × this. */
  readonly keepaliveS?: number;
  /** Reconnect backoff: first delay (default 500 ms), doubling with jitter up to `reconnectMaxMs` (default 30 000 ms). */
  readonly reconnectInitialMs?: number;
  readonly reconnectMaxMs?: number;
  /** pino logger; silent when absent. */
  readonly log?: Logger;
  /** Epoch ms clock; default Date.now. */
  readonly now?: () => number;
}

/** One MQTT 5 connection with backoff reconnect and a LinkStatus (internal to the adapters). */
export interface MqttLinkOptions extends MqttConnectionOptions {
  readonly clientId: string;
  /** false: a persistent session (subscriptions and QoS 1 messages kept by the broker while offline). */
  readonly clean: boolean;
  /** Session expiry for a persistent session, seconds. */
  readonly sessionExpiryS?: number;
  readonly log: Logger;
  readonly now: () => number;
  /** Runs after every CONNACK before the link counts as online (subscribe here when `sessionPresent` is false). */
  readonly onConnect?: (connack: IConnackPacket) => Promise<void>;
  /** Runs once the link is online (after onConnect). */
  readonly onOnline?: () => void;
}

const CLOSE_GRACE_MS = 2_000;

export class MqttLink {
  readonly client: MqttClient;
  private readonly tracker: LinkStatusTracker;
  private readonly backoff: Backoff;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private lastError: string | undefined;
  private serverMaxPacketBytes: number | undefined;
  private readonly waiters = new Set<(status: LinkStatus) => void>();

  constructor(private readonly opts: MqttLinkOptions) {
    this.tracker = new LinkStatusTracker(opts.now, 'connecting');
    this.backoff = new Backoff(opts.reconnectInitialMs ?? 500, opts.reconnectMaxMs ?? 30_000);
    const clientOptions: IClientOptions = {
      protocolVersion: 5,
      clientId: opts.clientId,
      clean: opts.clean,
      // Reconnects are ours (backoff); mqtt.js would retry at a fixed period.
      reconnectPeriod: 0,
      resubscribe: false,
      connectTimeout: opts.connectTimeoutMs ?? 10_000,
      keepalive: opts.keepaliveS ?? 30,
      ...(opts.username === undefined ? {} : { username: opts.username }),
      ...(opts.password === undefined ? {} : { password: opts.password }),
      ...(opts.clean ? {} : { properties: { sessionExpiryInterval: opts.sessionExpiryS ?? 3600 } }),
      ...tlsOptions(opts.tls),
    };
    this.client = connect(opts.brokerUrl, clientOptions);
    // Listeners go on before the first CONNACK can arrive (connect() only starts the socket), so messages the
    // broker kept for a persistent session are not lost.
    this.client.on('connect', (connack) => void this.connected(connack));
    this.client.on('error', (err) => {
      this.lastError = describeMqttError(err);
      opts.log.debug({ err, clientId: opts.clientId }, 'mqtt error');
    });
    this.client.on('disconnect', (packet) => {
      this.lastError = `broker disconnected us (reason code ${packet.reasonCode ?? 0}${packet.properties?.reasonString ? `: ${packet.properties.reasonString}` : ''})`;
    });
    this.client.on('close', () => this.closed());
  }

  status(): LinkStatus {
    return this.tracker.status();
  }

  onStatus(listener: (status: LinkStatus) => void): void {
    this.tracker.onStatus(listener);
  }

  /** True while connected and past onConnect. */
  isOnline(): boolean {
    return this.tracker.status().state === 'online' && this.client.connected;
  }

  /** The broker's Maximum Packet Size from the last CONNACK, if it announced one. */
  maxPacketBytes(): number | undefined {
    return this.serverMaxPacketBytes;
  }

  /** Resolves once online; rejects after `timeoutMs` or when closed. */
  whenOnline(timeoutMs: number): Promise<void> {
    if (this.isOnline()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            redactUrlCredentials(
              `not connected to ${this.opts.brokerUrl} within ${timeoutMs} ms${this.lastError ? ` (${this.lastError})` : ''}`,
            ),
          ),
        );
      }, timeoutMs);
      const listener = (status: LinkStatus): void => {
        if (status.state === 'online') {
          done();
          resolve();
        } else if (status.state === 'closed') {
          done();
          reject(new Error('link closed'));
        }
      };
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(listener);
      };
      this.waiters.add(listener);
    });
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    this.setStatus('closed');
    const force = !this.client.connected || Object.keys(this.client.outgoing).length > 0;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.client.endAsync(force).catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.client.stream?.destroy();
          resolve();
        }, CLOSE_GRACE_MS);
      }),
    ]);
    clearTimeout(timer);
  }

  private async connected(connack: IConnackPacket): Promise<void> {
    // Small packets (commands, PUBACKs) must not wait for Nagle's algorithm (≈ 40 ms per hop with delayed ACKs).
    const socket = this.client.stream as { setNoDelay?: (noDelay: boolean) => unknown };
    socket.setNoDelay?.(true);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.serverMaxPacketBytes = connack.properties?.maximumPacketSize;
    try {
      await this.opts.onConnect?.(connack);
    } catch (err: unknown) {
      // The connection dropped during setup (or the broker refused a subscription): the close handler retries.
      this.lastError = `setup after connect failed: ${describeError(err)}`;
      this.opts.log.warn({ err, clientId: this.opts.clientId }, 'mqtt setup after connect failed');
      if (this.client.connected) this.client.stream?.destroy();
      return;
    }
    if (this.closing || !this.client.connected) return;
    this.backoff.reset();
    this.lastError = undefined;
    if (this.tracker.status().state !== 'online') {
      this.opts.log.info({ clientId: this.opts.clientId, sessionPresent: connack.sessionPresent }, 'mqtt link online');
    }
    this.setStatus('online');
    this.opts.onOnline?.();
  }

  private closed(): void {
    if (this.closing) return;
    const reason = redactUrlCredentials(this.lastError ?? 'connection closed');
    if (this.tracker.status().state === 'online')
      this.opts.log.warn({ clientId: this.opts.clientId, reason }, 'mqtt link offline');
    this.setStatus('offline', reason);
    if (this.reconnectTimer !== undefined) return;
    const delayMs = this.backoff.next();
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closing) return;
      // Keep the stores: QoS 1 messages in flight are resent on the new connection.
      this.client.reconnect({ incomingStore: this.client.incomingStore, outgoingStore: this.client.outgoingStore });
    }, delayMs);
  }

  private setStatus(state: LinkStatus['state'], reason?: string): void {
    this.tracker.set(state, reason);
    const status = this.tracker.status();
    for (const waiter of [...this.waiters]) waiter(status);
  }
}

function tlsOptions(tls: MqttTlsOptions | undefined): Partial<IClientOptions> {
  if (tls === undefined) return {};
  return {
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
    ...(tls.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls.key === undefined ? {} : { key: tls.key }),
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    rejectUnauthorized: tls.rejectUnauthorized ?? true,
  };
}

/** MQTT 5 CONNACK reason codes that mean wrong or missing credentials. */
const AUTH_REASON_CODES = new Set([4, 5, 134, 135, 140]);

/** Error text for LinkStatus.reason; credential refusals start with `auth:`. */
export function describeMqttError(err: unknown): string {
  const code = typeof err === 'object' && err !== null && 'code' in err ? (err as { code: unknown }).code : undefined;
  const text = describeError(err);
  return typeof code === 'number' && AUTH_REASON_CODES.has(code) ? `auth: ${text}` : text;
}
