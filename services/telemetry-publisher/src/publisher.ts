import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  ReplayPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { NatsConnection } from '@voltimax/bus';
import type { LinkStatus } from '@voltimax/cloud';
import type { HealthControl } from '@voltimax/service-kit';
import type { Logger } from 'pino';
import { envelopeBytes, splitFrame, toTelemetryFrame, type FrameLimits, type PlannedFrame } from './framing';
import { Lane, rfc3339Ms, type LaneSettings } from './lane';
import {
  isLaneName,
  laneName,
  planLanes,
  shouldSplit,
  unsentCount,
  type LaneConsumer,
  type SplitPolicy,
  type StreamPosition,
} from './lanes-plan';
import { backoffMs, chooseNext, fullBucket, spend, type RateLimit, type TokenBucket } from './rate';
import { sendFrame, type Sinks } from './sender';

/** Everything the publisher is tuned by (from the environment, see config.ts). */
export interface PublisherSettings {
  readonly gatewayId: string;
  readonly stream: string;
  /** Frame window (server store time), readings and bytes per frame (bytes before the transports' own limits). */
  readonly frame: {
    readonly windowMs: number;
    readonly maxReadings: number;
    readonly maxBytes: number;
    readonly graceMs: number;
  };
  /** Frames at least this large (encoded JSON) are sent gzip-compressed, bytes. */
  readonly gzipMinBytes: number;
  readonly backlogRate: RateLimit;
  readonly split: SplitPolicy;
  readonly lane: LaneSettings;
  readonly consumer: { readonly ackWaitMs: number; readonly maxAckPending: number };
  readonly sendTimeoutMs: number;
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
  /** Stream info, loss check and backlog metrics, ms. */
  readonly statsIntervalMs: number;
  /** Backlog older than this makes the service `degraded`, ms. */
  readonly degradedBacklogAgeMs: number;
}

/** Everything the publisher needs. */
export interface PublisherDeps {
  readonly nc: NatsConnection;
  readonly log: Logger;
  readonly health: HealthControl;
  /** Epoch ms. */
  readonly now: () => number;
  readonly sinks: Sinks;
  readonly settings: PublisherSettings;
}

/** Counters of the publisher (also in the heartbeat). */
export interface PublisherStats {
  framesSent: number;
  readingsSent: number;
  framesViaFallback: number;
  /** Encoded bytes of the frames sent (before gzip). */
  bytesSent: number;
  framesGzipped: number;
  /** Failed send attempts (each try of each transport). */
  sendFailures: number;
  framesSplit: number;
  /** Readings every transport refused for good (a single reading that cannot be split further). */
  readingsRejected: number;
  /** Malformed messages in the stream, skipped (acked with their frame). */
  readingsInvalid: number;
  /** Messages the stream's limits dropped before they were sent. */
  readingsLost: number;
  /** Messages in the stream not yet accepted by the cloud. */
  backlogReadings: number;
  /** Age of the oldest of them, ms (0 without backlog). */
  backlogOldestAgeMs: number;
  lanes: number;
  laneSplits: number;
  streamBytes: number;
  streamFirstSeq: number;
  streamLastSeq: number;
  redeliveriesIgnored: number;
}

/** A running publisher. */
export interface Publisher {
  stop(): Promise<void>;
  stats(): Readonly<PublisherStats>;
}

/** Consumer settings every lane has; ack policy `all`: one ack per frame, and the ack floor is always a frame end. */
function laneConfig(settings: PublisherSettings): Partial<ConsumerConfig> {
  return {
    ack_policy: AckPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    ack_wait: nanos(settings.consumer.ackWaitMs),
    max_ack_pending: settings.consumer.maxAckPending,
    max_deliver: -1,
  };
}

function startOf(info: ConsumerInfo): number {
  return info.config.deliver_policy === DeliverPolicy.StartSequence ? (info.config.opt_start_seq ?? 1) : 1;
}

/** Finds the lane consumers, creating the first one; updates their changeable settings. */
async function discoverLanes(jsm: JetStreamManager, settings: PublisherSettings, log: Logger): Promise<LaneConsumer[]> {
  const found: LaneConsumer[] = [];
  for await (const info of jsm.consumers.list(settings.stream)) {
    if (!isLaneName(info.name)) continue;
    if (info.config.ack_policy !== AckPolicy.All || info.config.deliver_subject) {
      throw new Error(
        `consumer ${settings.stream}/${info.name} is not a pull consumer with ack policy "all"; delete it (its position is lost) or rename it`,
      );
    }
    const want = laneConfig(settings);
    if (info.config.ack_wait !== want.ack_wait || info.config.max_ack_pending !== want.max_ack_pending) {
      await jsm.consumers.update(settings.stream, info.name, {
        ack_wait: want.ack_wait,
        max_ack_pending: want.max_ack_pending,
      });
    }
    found.push({ name: info.name, startSeq: startOf(info) });
  }
  if (found.length === 0) {
    const name = laneName(1);
    await jsm.consumers.add(settings.stream, {
      durable_name: name,
      deliver_policy: DeliverPolicy.All,
      ...laneConfig(settings),
    });
    log.info({ consumer: name }, 'consumer created');
    found.push({ name, startSeq: 1 });
  }
  return found;
}

/** Sleeps that end early when the publisher stops. */
function stopSignalSource(): { sleep(ms: number): Promise<void>; fire(): void } {
  const sleepers = new Set<() => void>();
  let fired = false;
  return {
    sleep: (ms) =>
      new Promise((resolve) => {
        if (fired) return resolve();
        const done = (): void => {
          clearTimeout(timer);
          sleepers.delete(done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        sleepers.add(done);
      }),
    fire: () => {
      fired = true;
      for (const done of [...sleepers]) done();
    },
  };
}

/**
 * Store and forward: reads TELEMETRY through its lanes, sends frames live-first with the backlog paced, acks what
 * the cloud accepted, splits a backlog off into its own lane after an outage, and reports the backlog and every
 * loss on the heartbeat.
 */
export async function startPublisher(deps: PublisherDeps): Promise<Publisher> {
  const { nc, log, health, now, sinks, settings } = deps;
  const jsm = await jetstreamManager(nc);
  const envelope = envelopeBytes(settings.gatewayId);
  /**
   * Frame limits now: the configured bytes, lowered to what each transport takes (an MQTT broker may announce a
   * smaller Maximum Packet Size once connected). Sized on the JSON before gzip, so a frame fits either way.
   */
  const currentLimits = (): FrameLimits => ({
    windowMs: settings.frame.windowMs,
    maxReadings: settings.frame.maxReadings,
    maxBytes: Math.min(
      settings.frame.maxBytes,
      sinks.primary?.maxFrameBytes ?? Number.MAX_SAFE_INTEGER,
      sinks.fallback?.maxFrameBytes ?? Number.MAX_SAFE_INTEGER,
    ),
    envelopeBytes: envelope,
  });
  const limits = { envelopeBytes: envelope };
  const stats: PublisherStats = {
    framesSent: 0,
    readingsSent: 0,
    framesViaFallback: 0,
    bytesSent: 0,
    framesGzipped: 0,
    sendFailures: 0,
    framesSplit: 0,
    readingsRejected: 0,
    readingsInvalid: 0,
    readingsLost: 0,
    backlogReadings: 0,
    backlogOldestAgeMs: 0,
    lanes: 0,
    laneSplits: 0,
    streamBytes: 0,
    streamFirstSeq: 0,
    streamLastSeq: 0,
    redeliveriesIgnored: 0,
  };
  const sendLog = log.child({ component: 'send' });
  const laneLog = log.child({ component: 'lane' });

  let running = true;
  const stopSignal = stopSignalSource();
  // Two wake-ups: new data or a lane change (`notify`), and a transport coming online (`notifyLink`). A backoff after
  // a failed send listens to the second only, so new readings do not turn it into a busy retry.
  let wake: (() => void) | undefined;
  let linkWake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const notifyLink = (): void => {
    const w = linkWake;
    linkWake = undefined;
    w?.();
    notify();
  };
  const waitForWake = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const waitForLink = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        linkWake = undefined;
        resolve();
      }, ms);
      linkWake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  let invalidLogged = 0;
  let invalidSuppressed = 0;
  const laneDeps = {
    nc,
    jsm,
    stream: settings.stream,
    log: laneLog,
    now,
    settings: settings.lane,
    events: {
      invalid: (info: { lane: string; seq: number; subject: string; reason: string; detail: string }) => {
        stats.readingsInvalid += 1;
        // One line per second at most: one bad publisher must not flood the log.
        const t = now();
        if (t - invalidLogged >= 1000) {
          laneLog.warn({ ...info, suppressed: invalidSuppressed }, 'malformed message in the stream skipped');
          invalidLogged = t;
          invalidSuppressed = 0;
        } else invalidSuppressed += 1;
      },
      lost: (info: { lane: string; count: number; fromSeq: number; toSeq: number }) => {
        stats.readingsLost += info.count;
        laneLog.error(
          { ...info, totalLost: stats.readingsLost },
          'readings dropped by the stream limits (max_bytes or max_age) before they reached the cloud',
        );
        publishHealth();
      },
      wake: notify,
    },
  };

  const consumers = await discoverLanes(jsm, settings, log);
  const lanes: Lane[] = planLanes(consumers).map(
    (range) => new Lane(laneDeps, range.name, range.startSeq, range.endSeq),
  );
  for (const lane of lanes) await lane.start();
  log.info(
    {
      lanes: lanes.map((l) => ({
        consumer: l.name,
        startSeq: l.startSeq,
        endSeq: l.endSeq,
        ackFloor: l.acceptedThrough,
      })),
      frame: { ...settings.frame, maxBytes: currentLimits().maxBytes },
      transports: { primary: sinks.primary?.kind, fallback: sinks.fallback?.kind },
    },
    'publisher started',
  );

  let bucket: TokenBucket = fullBucket(settings.backlogRate, now());
  let failures = 0;
  let lastFailure: string | undefined;
  let stream: StreamPosition | undefined;
  let inProgress: { frame: PlannedFrame; parts: PlannedFrame[] } | undefined;

  for (const sink of [sinks.primary, sinks.fallback]) {
    sink?.onStatus((status: LinkStatus) => {
      if (status.state === 'online') notifyLink();
    });
  }

  function liveLane(): Lane {
    return lanes[lanes.length - 1] as Lane;
  }

  function publishHealth(): void {
    stats.lanes = lanes.length;
    stats.redeliveriesIgnored = lanes.reduce((n, l) => n + l.redeliveriesIgnored, 0);
    for (const [name, value] of Object.entries(stats)) health.setCounter(name, value);
    const problems: string[] = [];
    if (sinks.primary === undefined && sinks.fallback === undefined)
      problems.push('no cloud transport configured: telemetry is only stored');
    if (failures > 0)
      problems.push(`cloud not reachable (${failures} failed attempts; ${lastFailure ?? 'unknown error'})`);
    if (stats.backlogOldestAgeMs >= settings.degradedBacklogAgeMs)
      problems.push(
        `backlog ${stats.backlogReadings} readings, oldest ${Math.round(stats.backlogOldestAgeMs / 1000)} s`,
      );
    if (stats.readingsLost > 0) problems.push(`${stats.readingsLost} readings lost to the stream limits`);
    const summary = `backlog ${stats.backlogReadings} readings, oldest ${Math.round(stats.backlogOldestAgeMs / 1000)} s; lanes ${lanes.length}; sent ${stats.readingsSent}; lost ${stats.readingsLost}; invalid ${stats.readingsInvalid}`;
    const degraded = problems.filter((p) => !p.includes('lost to the stream limits'));
    health.setStatus(
      degraded.length > 0 ? 'degraded' : 'ok',
      (problems.length > 0 ? `${problems.join('; ')} | ${summary}` : summary).slice(0, 500),
    );
  }

  async function refreshStats(): Promise<void> {
    const info = await jsm.streams.info(settings.stream);
    stream = { firstSeq: info.state.first_seq, lastSeq: info.state.last_seq };
    stats.streamBytes = info.state.bytes;
    stats.streamFirstSeq = info.state.first_seq;
    stats.streamLastSeq = info.state.last_seq;
    for (const lane of lanes) lane.accountLoss(info.state.first_seq);
    stats.backlogReadings = unsentCount(lanes, stream);
    stats.backlogOldestAgeMs = 0;
    for (const lane of lanes) {
      const from = Math.max(lane.acceptedThrough + 1, stream.firstSeq);
      const to = lane.endSeq === undefined ? stream.lastSeq : Math.min(lane.endSeq, stream.lastSeq);
      if (from > to) continue;
      let storedAtMs = lane.headStoredAtMs();
      if (storedAtMs === undefined) {
        const sm = await jsm.streams.getMessage(settings.stream, { seq: from });
        storedAtMs = sm === null ? undefined : rfc3339Ms(sm.timestamp);
      }
      if (storedAtMs !== undefined) stats.backlogOldestAgeMs = Math.max(0, now() - storedAtMs);
      break;
    }
    publishHealth();
  }

  let statsFailures = 0;
  async function statsLoop(): Promise<void> {
    while (running) {
      try {
        await refreshStats();
        statsFailures = 0;
      } catch (err) {
        statsFailures += 1;
        if (statsFailures === 1 || statsFailures % 60 === 0)
          log.warn({ err, failures: statsFailures }, 'stream info not available');
      }
      await stopSignal.sleep(settings.statsIntervalMs);
    }
  }

  /** Sends the frame (and the parts it was split into); true once all of it is accepted or refused for good. */
  async function deliver(frame: PlannedFrame): Promise<boolean> {
    if (inProgress?.frame !== frame) inProgress = { frame, parts: [frame] };
    const parts = inProgress.parts;
    while (parts.length > 0 && running) {
      const part = parts[0] as PlannedFrame;
      if (part.readings.length === 0) {
        parts.shift();
        continue;
      }
      const gzip = part.encodedBytes >= settings.gzipMinBytes;
      const sendStartedAtMs = now();
      const outcome = await sendFrame(
        sinks,
        toTelemetryFrame(settings.gatewayId, part, now()),
        { gzip },
        settings.sendTimeoutMs,
      );
      sendLog.debug(
        {
          frameId: part.frameId,
          readings: part.readings.length,
          bytes: part.encodedBytes,
          gzip,
          ok: outcome.ok,
          ms: now() - sendStartedAtMs,
        },
        'frame sent',
      );
      if (outcome.ok) {
        parts.shift();
        stats.framesSent += 1;
        stats.readingsSent += part.readings.length;
        stats.bytesSent += part.encodedBytes;
        if (gzip) stats.framesGzipped += 1;
        if (outcome.via === 'fallback') stats.framesViaFallback += 1;
        if (failures > 0) sendLog.info({ frameId: part.frameId, via: outcome.via, failures }, 'cloud reachable again');
        failures = 0;
        lastFailure = undefined;
        continue;
      }
      stats.sendFailures += outcome.errors.length;
      if (outcome.kind === 'retry') {
        failures += 1;
        lastFailure = outcome.errors
          .map((e) => `${e.via}: ${e.error instanceof Error ? e.error.message : String(e.error)}`)
          .join('; ')
          .slice(0, 200);
        if (failures === 1 || failures % 20 === 0) {
          sendLog.warn(
            { frameId: part.frameId, failures, errors: outcome.errors.map((e) => ({ via: e.via, err: e.error })) },
            'frame not accepted; retrying',
          );
        }
        return false;
      }
      const halves = splitFrame(settings.gatewayId, part, limits);
      if (halves !== undefined) {
        stats.framesSplit += 1;
        sendLog.warn(
          { frameId: part.frameId, kind: outcome.kind, readings: part.readings.length },
          'frame refused; splitting it',
        );
        parts.splice(0, 1, ...halves);
        continue;
      }
      stats.readingsRejected += part.readings.length;
      sendLog.error(
        {
          frameId: part.frameId,
          reading: part.readings[0],
          errors: outcome.errors.map((e) => ({ via: e.via, err: e.error })),
        },
        'every transport refused this reading for good; it is dropped',
      );
      parts.shift();
    }
    if (parts.length > 0) return false;
    inProgress = undefined;
    return true;
  }

  async function maybeSplit(): Promise<void> {
    const live = liveLane();
    if (lanes.length >= settings.split.maxLanes) return;
    const info = await jsm.streams.info(settings.stream);
    const liveUnsent = Math.max(0, info.state.last_seq - live.acceptedThrough);
    const head = live.headStoredAtMs();
    const liveOldestAgeMs = head === undefined ? undefined : now() - head;
    if (!shouldSplit({ policy: settings.split, lanes: lanes.length, justAccepted: true, liveUnsent, liveOldestAgeMs }))
      return;
    await live.pause();
    try {
      const fresh = await jsm.streams.info(settings.stream);
      const startSeq = Math.max(fresh.state.last_seq, live.receivedThrough) + 1;
      const name = laneName(startSeq);
      await jsm.consumers.add(settings.stream, {
        durable_name: name,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: startSeq,
        ...laneConfig(settings),
      });
      live.endAt(startSeq - 1);
      const next = new Lane(laneDeps, name, startSeq, undefined);
      lanes.push(next);
      await startLane(next);
      stats.laneSplits += 1;
      log.info(
        { backlog: { consumer: live.name, fromSeq: live.acceptedThrough + 1, toSeq: startSeq - 1 }, live: name },
        'backlog split off; live frames go first, the backlog is paced',
      );
    } finally {
      live.resume();
    }
  }

  /** Starts a lane, retrying while NATS is unavailable (the lane's consumer exists already). */
  async function startLane(lane: Lane): Promise<void> {
    for (let attempt = 1; running; attempt += 1) {
      try {
        await lane.start();
        return;
      } catch (err) {
        if (attempt === 1 || attempt % 30 === 0)
          log.warn({ err, consumer: lane.name, attempt }, 'lane not started; retrying');
        await stopSignal.sleep(settings.retryMinMs);
      }
    }
  }

  let deleteRetryAtMs = 0;
  async function removeDrained(): Promise<void> {
    for (const lane of [...lanes]) {
      if (lane.live || !lane.drained || now() < deleteRetryAtMs) continue;
      await lane.flushAcks(settings.lane.requestTimeoutMs);
      try {
        await jsm.consumers.delete(settings.stream, lane.name);
      } catch (err) {
        // Already gone is fine; anything else is retried a little later (the lane is idle meanwhile).
        if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) {
          log.warn({ err, consumer: lane.name }, 'drained backlog consumer not deleted; retrying');
          deleteRetryAtMs = now() + settings.retryMaxMs;
          continue;
        }
      }
      await lane.stop();
      lanes.splice(lanes.indexOf(lane), 1);
      log.info({ consumer: lane.name, endSeq: lane.endSeq }, 'backlog drained; consumer deleted');
      publishHealth();
    }
  }

  let loopFailures = 0;
  async function sendLoop(): Promise<void> {
    const hasSink = sinks.primary !== undefined || sinks.fallback !== undefined;
    while (running) {
      if (!hasSink) {
        await waitForWake(1000);
        continue;
      }
      try {
        await removeDrained();
        const t = now();
        const live = liveLane();
        const backlog = lanes.find((l) => !l.live);
        const graceMs = settings.frame.graceMs;
        const frameLimits = currentLimits();
        const liveFrame = live.nextFrame(settings.gatewayId, frameLimits, graceMs);
        const backlogFrame = backlog?.nextFrame(settings.gatewayId, frameLimits, graceMs);
        const choice = chooseNext({
          liveReady: liveFrame !== undefined,
          backlogReady: backlogFrame !== undefined,
          bucket,
          limit: settings.backlogRate,
          nowMs: t,
        });
        if (choice.lane === 'none') {
          await waitForWake(Math.min(choice.waitMs ?? 1000, 1000));
          continue;
        }
        const lane = choice.lane === 'live' ? live : (backlog as Lane);
        const frame = (choice.lane === 'live' ? liveFrame : backlogFrame) as PlannedFrame;
        const done = await deliver(frame);
        if (!done) {
          if (!running) break;
          await waitForLink(backoffMs(failures, settings.retryMinMs, settings.retryMaxMs));
          continue;
        }
        lane.accepted(frame);
        if (choice.lane === 'backlog') bucket = spend(bucket, settings.backlogRate, now(), frame.readings.length);
        if (choice.lane === 'live' && frame.readings.length > 0) await maybeSplit();
      } catch (err) {
        // Typically a JetStream request while NATS restarts; the frame stays at its lane's head and is retried.
        loopFailures += 1;
        if (loopFailures === 1 || loopFailures % 60 === 0)
          log.warn({ err, failures: loopFailures }, 'publisher step failed; retrying');
        await stopSignal.sleep(settings.retryMinMs);
        continue;
      }
      loopFailures = 0;
    }
  }

  const statsDone = statsLoop();
  const sendDone = sendLoop();

  return {
    stats: () => ({ ...stats }),
    async stop() {
      running = false;
      stopSignal.fire();
      notifyLink();
      // A send in progress may wait for its transport's timeout; it is simply not acked (sent again next start).
      await Promise.race([sendDone, new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
      await statsDone;
      for (const lane of lanes) await lane.flushAcks(settings.lane.requestTimeoutMs);
      for (const lane of lanes) await lane.stop();
    },
  };
}
