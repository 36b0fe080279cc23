import { resolve } from 'node:path';
import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { inboxPrefixFor } from '@voltimax/contracts';

/** Absolute path of the production NATS config, `docker/nats/nats.conf`, for `startNats({ config })`. */
export const NATS_CONFIG_PATH = resolve(__dirname, '../../../../docker/nats/nats.conf');

/** The users `docker/nats/nats.conf` defines: one per service, plus the CLI, the dashboard and the provisioner. */
export const NATS_USERS = [
  'modbus-poller',
  'http-devices',
  'ocpp-csms',
  'driver-host',
  'strategy-engine',
  'safety-arbiter',
  'cloud-bridge',
  'telemetry-publisher',
  'simulator',
  'cli',
  'dashboard',
  'provisioner',
] as const;

/** A user of `docker/nats/nats.conf`. */
export type NatsUser = (typeof NATS_USERS)[number];

/**
 * The fixed development passwords of `docker/nats/nats.conf` (`dev-<user>`). Production replaces the
 * file; these only ever open a server a test started.
 */
export const NATS_DEV_PASSWORDS: Readonly<Record<NatsUser, string>> = Object.fromEntries(
  NATS_USERS.map((user) => [user, `dev-${user}`]),
) as Record<NatsUser, string>;

/** A connection to a test server as one of nats.conf's users; no reconnect (a test wants a failure at once). */
export function connectNatsAs(
  url: string,
  user: NatsUser,
  opts: Partial<ConnectionOptions> = {},
): Promise<NatsConnection> {
  return connect({
    servers: url,
    user,
    pass: NATS_DEV_PASSWORDS[user],
    inboxPrefix: inboxPrefixFor(user), // the only inbox nats.conf lets it subscribe
    name: `test-${user}`,
    reconnect: false,
    ...opts,
  });
}
