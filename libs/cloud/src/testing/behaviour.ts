import { cloudExamples, exampleReadings } from '@voltimax/contracts/testing';
import type { CloudMessageType, CloudReplyEnvelope, TelemetryFrame } from '@voltimax/contracts';
import { waitFor } from '@voltimax/testing';
import type {
  CloudCommandClient,
  CommandChannel,
  CommandResult,
  DeferredReply,
  LinkState,
  LinkStatus,
  ReceivedCommand,
  RejectedCommand,
  TelemetrySink,
} from '../lib/port';
import { TransportError } from '../lib/port';
import type { LinkProxy } from './link-proxy';

/** Kinds of malformed command the behaviour suite sends. */
export type MalformedKind =
  | 'not-json'
  | 'not-an-envelope'
  | 'unknown-message-type'
  | 'other-gateway'
  | 'invalid-payload';

/** How the cloud side saw a malformed command refused: the error reply's text, or the dead-letter reason. */
export interface RejectionEvidence {
  readonly reason: string;
}

/** A frame as the cloud side received it, decoded. */
export interface ReceivedFrame {
  readonly frame: TelemetryFrame;
  /** Whether it travelled gzip-compressed (and was marked so). */
  readonly gzip: boolean;
}

/** One gateway's transports on a real broker, the cloud side, and the gateway's network link. */
export interface TransportFixture {
  readonly gatewayId: string;
  readonly commands: CommandChannel;
  readonly telemetry: TelemetrySink;
  readonly cloud: CloudCommandClient;
  /**
   * The gateway's network path to the broker; the cloud side does not go through it. Absent where the gateway cannot
   * connect through a proxy (a live namespace over TLS): the suite then leaves out the link tests.
   */
  readonly link?: LinkProxy;
  /** The malformed kinds this transport can carry (Service Bus routes by session, so no 'other-gateway'). */
  readonly malformedKinds: readonly MalformedKind[];
  /** Sends a malformed command as a foreign client would and resolves with how it was refused. */
  sendMalformed(kind: MalformedKind): Promise<RejectionEvidence>;
  /** Resolves once the broker has accepted the command with this correlation id from the cloud client. */
  brokerAccepted(correlationId: string): Promise<void>;
  /** Frames the cloud side received so far, in arrival order. */
  receivedFrames(): readonly ReceivedFrame[];
  /** Restarts the broker on the same address (every connection drops); absent where that is not possible. */
  readonly restartBroker?: () => Promise<void>;
  close(): Promise<void>;
}

/** What a fixture is built with. */
export interface FixtureOptions {
  /** Reply TTL of the command channel, ms. */
  readonly replyTtlMs: number;
}

export type MakeTransportFixture = (options: FixtureOptions) => Promise<TransportFixture>;

/** Options of {@link describeTransportBehaviour}. */
export interface BehaviourSuiteOptions {
  /** Jest timeout of each test, ms (default 30 000): a bound for failures, not a speed expectation. */
  readonly testTimeoutMs?: number;
  /** Bound of each waitFor, ms (default 15 000). */
  readonly waitMs?: number;
  /** Register the broker-restart test: every fixture then has `restartBroker`. */
  readonly restartableBroker?: boolean;
  /** Register the tests that cut or hold the gateway's link (default true): every fixture then has `link`. */
  readonly linkControl?: boolean;
}

const LONG_TTL_MS = 120_000;
const SHORT_TTL_MS = 300;
const CLOUD_TIMEOUT_MS = 20_000;

/** A PingGateway handler that answers as the gateway would, echoing what it needs for checks. */
export function pingResult(command: ReceivedCommand, version = 'suite'): CommandResult {
  const request = command.envelope.payload as { sentAtMs: number };
  return {
    ok: true,
    payload: {
      gatewayId: command.envelope.gatewayId,
      version,
      uptimeMs: 1,
      receivedAtMs: command.receivedAtMs,
      requestSentAtMs: request.sentAtMs,
      services: [],
    },
  };
}

/** A TelemetryFrame of `gatewayId` with `count` readings and a unique id. */
export function telemetryFrame(gatewayId: string, first: number, count = 3): TelemetryFrame {
  const readings = Array.from({ length: count }, (_, i) => ({
    ...exampleReadings.battery,
    sequence: first + i,
    values: { ...exampleReadings.battery.values },
  }));
  return { v: 1, frameId: `${gatewayId}:${first}-${first + count - 1}`, gatewayId, createdAtMs: Date.now(), readings };
}

/** A promise with its resolver, for holding a handler until the test lets it go. */
export function gate(): { readonly promise: Promise<void>; readonly open: () => void } {
  let open: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Records every LinkStatus change, to wait for a transition (offline, then online again) rather than a state. */
export function statusLog(target: { onStatus(listener: (status: LinkStatus) => void): void }): {
  readonly states: LinkState[];
} {
  const log = { states: [] as LinkState[] };
  target.onStatus((status) => log.states.push(status.state));
  return log;
}

function linkOf(fixture: TransportFixture): LinkProxy {
  if (fixture.link === undefined) throw new Error('the fixture has no link although linkControl is set');
  return fixture.link;
}

function ping(
  fixture: TransportFixture,
  correlationId?: string,
  timeoutMs = CLOUD_TIMEOUT_MS,
): Promise<CloudReplyEnvelope> {
  return fixture.cloud.send({
    gatewayId: fixture.gatewayId,
    messageType: 'PingGateway',
    payload: { sentAtMs: Date.now() },
    timeoutMs,
    ...(correlationId === undefined ? {} : { correlationId }),
  });
}

const MALFORMED_REASONS: Readonly<Record<MalformedKind, RegExp>> = {
  'not-json': /not JSON/i,
  'not-an-envelope': /envelope|messageType/i,
  'unknown-message-type': /unknown messageType/i,
  'other-gateway': /gateway/i,
  'invalid-payload': /invalid SetBatterySetpoint payload/i,
};

/**
 * The behaviour every CommandChannel / TelemetrySink / CloudCommandClient must show, on a real broker: one
 * `describe` block per transport, `makeFixture` building a fresh gateway (unique id) for each test.
 */
export function describeTransportBehaviour(
  name: string,
  makeFixture: MakeTransportFixture,
  options: BehaviourSuiteOptions = {},
): void {
  const testTimeoutMs = options.testTimeoutMs ?? 30_000;
  const waitMs = options.waitMs ?? 15_000;
  const until = <T>(what: string, predicate: () => T | Promise<T>) =>
    waitFor(predicate, { timeoutMs: waitMs, message: what });

  describe(`cloud transport behaviour: ${name}`, () => {
    const linkIt = options.linkControl === false ? undefined : it;
    let fixture: TransportFixture | undefined;
    const open = async (ttlMs = LONG_TTL_MS): Promise<TransportFixture> => {
      fixture = await makeFixture({ replyTtlMs: ttlMs });
      return fixture;
    };
    afterEach(async () => {
      await fixture?.close();
      fixture = undefined;
    });

    it(
      'delivers a command to the handler and returns its reply with the correlation id',
      async () => {
        const f = await open();
        const received: ReceivedCommand[] = [];
        await f.commands.start(async (command) => {
          received.push(command);
          return pingResult(command);
        });
        await until('the command channel to be online', () => f.commands.status().state === 'online');

        const reply = await ping(f, 'suite-corr-1');

        expect(reply).toMatchObject({
          messageType: 'PingGateway',
          correlationId: 'suite-corr-1',
          gatewayId: f.gatewayId,
          ok: true,
        });
        expect(reply.payload).toMatchObject({ gatewayId: f.gatewayId, version: 'suite' });
        expect(received).toHaveLength(1);
        expect(received[0]?.envelope).toMatchObject({
          messageType: 'PingGateway',
          correlationId: 'suite-corr-1',
          gatewayId: f.gatewayId,
        });
      },
      testTimeoutMs,
    );

    it(
      'routes each message type to the handler with its validated payload',
      async () => {
        const f = await open();
        const seen: { type: CloudMessageType; payload: unknown }[] = [];
        await f.commands.start(async (command) => {
          seen.push({ type: command.envelope.messageType, payload: command.envelope.payload });
          const type = command.envelope.messageType;
          return { ok: true, payload: cloudExamples[type].response };
        });
        await until('the command channel to be online', () => f.commands.status().state === 'online');

        const setpoint = await f.cloud.send({
          gatewayId: f.gatewayId,
          messageType: 'SetBatterySetpoint',
          payload: cloudExamples.SetBatterySetpoint.request,
          timeoutMs: CLOUD_TIMEOUT_MS,
        });
        const refresh = await f.cloud.send({
          gatewayId: f.gatewayId,
          messageType: 'RefreshConfiguration',
          payload: {},
          timeoutMs: CLOUD_TIMEOUT_MS,
        });

        expect(setpoint).toMatchObject({
          messageType: 'SetBatterySetpoint',
          ok: true,
          payload: { accepted: true, outcome: 'applied', appliedPowerW: 3000 },
        });
        expect(refresh).toMatchObject({ messageType: 'RefreshConfiguration', ok: true, payload: { changed: true } });
        expect(seen).toEqual([
          { type: 'SetBatterySetpoint', payload: cloudExamples.SetBatterySetpoint.request },
          // The request schema's default is applied before the handler sees it.
          { type: 'RefreshConfiguration', payload: { reason: 'cloud request' } },
        ]);
      },
      testTimeoutMs,
    );

    it(
      'answers concurrent commands each with its own reply, in whatever order the handlers finish',
      async () => {
        const f = await open();
        const gates = new Map<string, { readonly open: () => void }>();
        await f.commands.start(async (command) => {
          const g = gate();
          gates.set(command.envelope.correlationId, g);
          await g.promise;
          return pingResult(command, command.envelope.correlationId);
        });
        await until('the command channel to be online', () => f.commands.status().state === 'online');

        const ids = Array.from({ length: 8 }, (_, i) => `suite-concurrent-${i}`);
        const replies = Promise.all(ids.map((id) => ping(f, id)));
        await until('all 8 commands to be in their handlers at once', () => gates.size === ids.length);
        for (const id of [...ids].reverse()) gates.get(id)?.open();

        const answered = await replies;
        expect(answered.map((r) => r.correlationId)).toEqual(ids);
        expect(answered.map((r) => (r.payload as { version: string }).version)).toEqual(ids);
      },
      testTimeoutMs,
    );

    it(
      'refuses malformed commands with a reason, tells onRejected, and keeps serving',
      async () => {
        const f = await open();
        const rejected: RejectedCommand[] = [];
        f.commands.onRejected((r) => rejected.push(r));
        let handled = 0;
        await f.commands.start(async (command) => {
          handled += 1;
          return pingResult(command);
        });
        await until('the command channel to be online', () => f.commands.status().state === 'online');

        for (const kind of f.malformedKinds) {
          const evidence = await f.sendMalformed(kind);
          expect({ kind, reason: evidence.reason }).toEqual({
            kind,
            reason: expect.stringMatching(MALFORMED_REASONS[kind]),
          });
        }
        await until('every malformed command to reach onRejected', () => rejected.length === f.malformedKinds.length);
        expect(handled).toBe(0);

        const reply = await ping(f);
        expect(reply.ok).toBe(true);
        expect(handled).toBe(1);
      },
      testTimeoutMs,
    );

    it(
      'turns a throwing handler into an error reply and keeps serving',
      async () => {
        const f = await open();
        let calls = 0;
        await f.commands.start(async (command) => {
          calls += 1;
          if (calls === 1) throw new Error('battery controller on fire');
          return pingResult(command);
        });
        await until('the command channel to be online', () => f.commands.status().state === 'online');

        const failed = await ping(f);
        const next = await ping(f);

        expect(failed).toMatchObject({ ok: false, error: expect.stringContaining('battery controller on fire') });
        expect(next.ok).toBe(true);
      },
      testTimeoutMs,
    );

    linkIt?.(
      'keeps a reply made while the link is down and delivers it when the link returns',
      async () => {
        const f = await open();
        const deferred: DeferredReply[] = [];
        f.commands.onDeferredReply((d) => deferred.push(d));
        const hold = gate();
        let entered = 0;
        await f.commands.start(async (command) => {
          entered += 1;
          await hold.promise;
          return pingResult(command);
        });
        await until('the command channel to be online', () => f.commands.status().state === 'online');

        const reply = ping(f, 'suite-deferred-1');
        await until('the handler to run', () => entered >= 1);
        await linkOf(f).cut();
        await until('the channel to notice the link is down', () => f.commands.status().state === 'offline');
        hold.open();
        await until('the reply to be queued', () => f.commands.pendingReplies() >= 1);
        expect(deferred).toEqual([]);

        await linkOf(f).restore();

        await expect(reply).resolves.toMatchObject({ correlationId: 'suite-deferred-1', ok: true });
        await until('the delivery to be reported', () => deferred.some((d) => d.outcome === 'delivered'));
        expect(deferred[0]).toMatchObject({
          correlationId: 'suite-deferred-1',
          messageType: 'PingGateway',
          outcome: 'delivered',
        });
        await until('nothing to be pending', () => f.commands.pendingReplies() === 0);
      },
      testTimeoutMs,
    );

    linkIt?.(
      'expires a queued reply that outlives its TTL, reports it, and serves again after reconnecting',
      async () => {
        const f = await open(SHORT_TTL_MS);
        const deferred: DeferredReply[] = [];
        f.commands.onDeferredReply((d) => deferred.push(d));
        const hold = gate();
        let entered = 0;
        await f.commands.start(async (command) => {
          entered += 1;
          if (entered === 1) await hold.promise;
          return pingResult(command);
        });
        await until('the command channel to be online', () => f.commands.status().state === 'online');

        const lost = ping(f, 'suite-expired-1', 2_000).catch((err: unknown) => err);
        await until('the handler to run', () => entered >= 1);
        await linkOf(f).cut();
        await until('the channel to notice the link is down', () => f.commands.status().state === 'offline');
        hold.open();

        await until('the expiry to be reported', () => deferred.find((d) => d.outcome === 'expired'));
        expect(deferred).toEqual([expect.objectContaining({ correlationId: 'suite-expired-1', outcome: 'expired' })]);
        expect(f.commands.pendingReplies()).toBe(0);

        await linkOf(f).restore();
        await until('the channel to be back online', () => f.commands.status().state === 'online');
        await expect(ping(f)).resolves.toMatchObject({ ok: true });
        await lost;
      },
      testTimeoutMs,
    );

    linkIt?.(
      'delivers commands sent while the gateway was offline once it reconnects (session resumption)',
      async () => {
        const f = await open();
        let handled = 0;
        await f.commands.start(async (command) => {
          handled += 1;
          return pingResult(command);
        });
        await until('the command channel to be online', () => f.commands.status().state === 'online');
        await linkOf(f).cut();
        await until('the channel to notice the link is down', () => f.commands.status().state === 'offline');

        const reply = ping(f, 'suite-while-offline');
        await f.brokerAccepted('suite-while-offline');
        expect(handled).toBe(0);
        await linkOf(f).restore();

        await expect(reply).resolves.toMatchObject({ correlationId: 'suite-while-offline', ok: true });
        expect(handled).toBe(1);
      },
      testTimeoutMs,
    );

    linkIt?.(
      'resolves a telemetry send only after the cloud accepted the frame',
      async () => {
        const f = await open();
        await f.telemetry.send(telemetryFrame(f.gatewayId, 1));
        linkOf(f).holdDownstream();

        const frame = telemetryFrame(f.gatewayId, 4);
        let settled = false;
        const sent = f.telemetry.send(frame).finally(() => {
          settled = true;
        });
        await until('the cloud side to receive the frame', () =>
          f.receivedFrames().some((r) => r.frame.frameId === frame.frameId),
        );
        // The broker has the frame but its acknowledgement is held on the link: the send must still be pending.
        expect(settled).toBe(false);
        linkOf(f).releaseDownstream();

        await expect(sent).resolves.toBeUndefined();
        expect(f.receivedFrames().find((r) => r.frame.frameId === frame.frameId)?.frame).toEqual(frame);
      },
      testTimeoutMs,
    );

    it(
      'sends gzip-compressed frames marked as such, decoding to the same frame',
      async () => {
        const f = await open();
        const frame = telemetryFrame(f.gatewayId, 10, 50);

        await f.telemetry.send(frame, { gzip: true });

        const received = await until('the cloud side to receive the frame', () =>
          f.receivedFrames().find((r) => r.frame.frameId === frame.frameId),
        );
        expect(received).toEqual({ frame, gzip: true });
      },
      testTimeoutMs,
    );

    linkIt?.(
      'rejects telemetry as retryable while the broker is unreachable, goes offline, and recovers',
      async () => {
        const f = await open();
        await f.commands.start(async (command) => pingResult(command));
        await f.telemetry.send(telemetryFrame(f.gatewayId, 1));
        await until('the command channel to be online', () => f.commands.status().state === 'online');
        const commandStates = statusLog(f.commands);

        await linkOf(f).cut();
        const failure = await f.telemetry.send(telemetryFrame(f.gatewayId, 2)).then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(failure).toBeInstanceOf(TransportError);
        expect(failure).toMatchObject({ retryable: true });
        await until('the sink to report offline', () => f.telemetry.status().state === 'offline');
        await until('the command channel to report offline', () => f.commands.status().state === 'offline');

        await linkOf(f).restore();
        await until('a send to succeed again', () => f.telemetry.send(telemetryFrame(f.gatewayId, 3)).then(() => true));
        expect(f.telemetry.status().state).toBe('online');
        await until('the command channel to be back online', () => f.commands.status().state === 'online');
        expect(commandStates.states).toEqual(['offline', 'online']);
        await expect(ping(f)).resolves.toMatchObject({ ok: true });
      },
      testTimeoutMs,
    );

    const restartIt = options.restartableBroker === true ? it : undefined;
    restartIt?.(
      'reconnects after a broker restart and serves commands and telemetry again',
      async () => {
        const f = await open();
        if (f.restartBroker === undefined)
          throw new Error('the fixture has no restartBroker although restartableBroker is set');
        await f.commands.start(async (command) => pingResult(command));
        await until('the command channel to be online', () => f.commands.status().state === 'online');
        await f.telemetry.send(telemetryFrame(f.gatewayId, 1));
        const states = statusLog(f.commands);

        await f.restartBroker();

        await until(
          'the channel to go offline and come back',
          () => states.states.includes('offline') && f.commands.status().state === 'online',
        );
        await expect(ping(f)).resolves.toMatchObject({ ok: true });
        await until('a telemetry send to succeed again', () =>
          f.telemetry.send(telemetryFrame(f.gatewayId, 5)).then(() => true),
        );
      },
      testTimeoutMs,
    );

    it(
      'reports closed after close and refuses further sends',
      async () => {
        const f = await open();
        await f.commands.start(async (command) => pingResult(command));
        await until('the command channel to be online', () => f.commands.status().state === 'online');

        await f.commands.close();
        await f.telemetry.close();

        expect(f.commands.status().state).toBe('closed');
        expect(f.telemetry.status().state).toBe('closed');
        await expect(f.telemetry.send(telemetryFrame(f.gatewayId, 1))).rejects.toBeInstanceOf(TransportError);
      },
      testTimeoutMs,
    );
  });
}
