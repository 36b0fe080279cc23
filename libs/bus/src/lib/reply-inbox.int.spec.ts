/**
 * `replyInbox(nc)` reads the inbox prefix from nats.js's connection options, which is not a documented field. If an
 * upgrade of nats.js moved it, the function would fall back to the shared `_INBOX.` prefix, which docker/nats/nats.conf
 * lets nobody subscribe: the telemetry-publisher's lanes would then get no answers. This pins the behaviour against the
 * installed nats.js and a real server started from the project's configuration.
 */
import { inboxPrefixFor } from '@voltimax/contracts';
import { NATS_CONFIG_PATH, NATS_DEV_PASSWORDS, startNats, type NatsTestServer } from '@voltimax/testing';
import { connectBus, replyInbox, type BusConnection } from '../index';
import { captureLogger } from '../testing';

describe('replyInbox on a connection made by connectBus', () => {
  let server: NatsTestServer;
  let connection: BusConnection | undefined;

  beforeAll(async () => {
    server = await startNats({ config: NATS_CONFIG_PATH, provision: false });
  });

  afterAll(async () => {
    await connection?.nc.close();
    await server?.stop();
  });

  it("is under the user's own prefix, and the server lets the user subscribe it and deliver into it", async () => {
    const log = captureLogger('warn');
    connection = await connectBus({
      servers: server.url,
      name: 'reply-inbox-test',
      user: 'telemetry-publisher',
      pass: NATS_DEV_PASSWORDS['telemetry-publisher'],
      log: log.log,
    });
    const { nc } = connection;
    const inbox = replyInbox(nc);
    expect(inbox.startsWith(`${inboxPrefixFor('telemetry-publisher')}.`)).toBe(true);
    expect(replyInbox(nc)).not.toBe(inbox);

    // A JetStream API request answered into that inbox: the server publishes the answer (no user permission needed
    // to answer) and the subscription receives it only if the user may subscribe the inbox.
    const answer = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer on ${inbox} (subscribe refused?)`)), 5_000);
      nc.subscribe(inbox, {
        max: 1,
        callback: (err, msg) => {
          clearTimeout(timer);
          if (err) reject(err);
          else resolve(msg.string());
        },
      });
    });
    nc.publish('$JS.API.INFO', '', { reply: inbox });
    expect(JSON.parse(await answer)).toMatchObject({ type: 'io.nats.jetstream.api.v1.account_info_response' });
  });
});
