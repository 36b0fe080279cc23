import {
  connect,
  createInbox,
  PermissionViolationError,
  type NatsConnection,
  type Status,
} from '@nats-io/transport-node';
import { inboxPrefixFor } from '@voltimax/contracts';
import type { Logger } from 'pino';

/** Options for {@link connectBus}. */
export interface ConnectBusOptions {
  /** One URL, a comma-separated list, or an array (`nats://127.0.0.1:4222`). */
  readonly servers: string | readonly string[];
  /** Connection name shown by the server (`nats-server` monitoring): the service name. */
  readonly name: string;
  readonly user?: string;
  readonly pass?: string;
  /** Status events (disconnect, reconnect, permission errors) are logged here. */
  readonly log: Logger;
  /** Wait between reconnect attempts to the same server, ms (default 1000). */
  readonly reconnectTimeWaitMs?: number;
  /** Random extra wait added to each reconnect attempt, ms (default 500), so restarts do not stampede. */
  readonly reconnectJitterMs?: number;
}

/**
 * A new reply inbox under the connection's own inbox prefix (`_INBOX_<user>` under docker/nats/nats.conf, where a user
 * may subscribe no other). For code that subscribes an inbox itself; `request()` and JetStream already use the prefix.
 */
export function replyInbox(nc: NatsConnection): string {
  // nats.js keeps the connect options on the connection (its JetStream client reads `nc.options.inboxPrefix` too).
  const prefix = (nc as { readonly options?: { readonly inboxPrefix?: string } }).options?.inboxPrefix;
  return createInbox(prefix);
}

/** A NATS connection that reconnects forever, and whether it is connected right now. */
export interface BusConnection {
  readonly nc: NatsConnection;
  /** False while disconnected or reconnecting, and after close/drain. */
  isConnected(): boolean;
}

function splitServers(servers: string | readonly string[]): string[] {
  const list = typeof servers === 'string' ? servers.split(',') : [...servers];
  return list.map((s) => s.trim()).filter((s) => s.length > 0);
}

/**
 * Connect to NATS with endless reconnects (with jitter). Waits for the first connection however long the server
 * takes to come up (`waitOnFirstConnect`). Status events are logged: disconnect/stale connection as warn,
 * reconnect as info, permission violations and server errors as error.
 */
export async function connectBus(opts: ConnectBusOptions): Promise<BusConnection> {
  const nc = await connect({
    servers: splitServers(opts.servers),
    name: opts.name,
    user: opts.user,
    pass: opts.pass,
    // Replies come back on the user's own inbox prefix, the only one docker/nats/nats.conf lets it subscribe.
    ...(inboxPrefixFor(opts.user) === undefined ? {} : { inboxPrefix: inboxPrefixFor(opts.user) }),
    maxReconnectAttempts: -1,
    reconnectTimeWait: opts.reconnectTimeWaitMs ?? 1000,
    reconnectJitter: opts.reconnectJitterMs ?? 500,
    reconnectJitterTLS: opts.reconnectJitterMs ?? 500,
    waitOnFirstConnect: true,
  });
  let connected = true;
  opts.log.info({ server: nc.getServer(), name: opts.name }, 'nats connected');
  void watchStatus(nc, opts.log, (value) => {
    connected = value;
  });
  return {
    nc,
    isConnected: () => connected && !nc.isClosed() && !nc.isDraining(),
  };
}

async function watchStatus(nc: NatsConnection, log: Logger, setConnected: (value: boolean) => void): Promise<void> {
  try {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'reconnecting' || status.type === 'close') {
        setConnected(false);
      } else if (status.type === 'reconnect') {
        setConnected(true);
      }
      logStatus(log, status);
    }
  } catch (err) {
    log.error({ err }, 'nats status watch failed');
  }
}

/** One log line per status event, at a level that matches what a human must do about it. */
export function logStatus(log: Logger, status: Status): void {
  switch (status.type) {
    case 'disconnect':
      log.warn({ server: status.server }, 'nats disconnected');
      return;
    case 'reconnect':
      log.info({ server: status.server }, 'nats reconnected');
      return;
    case 'reconnecting':
      log.debug('nats reconnecting');
      return;
    case 'staleConnection':
      log.warn('nats connection stale');
      return;
    case 'ldm':
      log.warn({ server: status.server }, 'nats server entering lame duck mode');
      return;
    case 'slowConsumer':
      log.warn({ subject: status.sub.getSubject(), pending: status.pending }, 'nats slow consumer');
      return;
    case 'error':
      if (status.error instanceof PermissionViolationError) {
        log.error(
          { err: status.error, operation: status.error.operation, subject: status.error.subject },
          'nats permission violation',
        );
      } else {
        log.error({ err: status.error }, 'nats server error');
      }
      return;
    case 'update':
      log.info({ added: status.added, deleted: status.deleted }, 'nats cluster update');
      return;
    case 'close':
      log.info('nats connection closed');
      return;
    case 'ping':
    case 'forceReconnect':
      log.debug({ status: status.type }, 'nats status');
      return;
  }
}
