// Test harness of the telemetry-publisher's integration tests: the publisher as a child process (main.ts, exactly as
// in production), a driver publishing readings into TELEMETRY as `modbus-poller`, the cloud side (an MQTT subscriber
// on the broker and the Platform API double), a heartbeat watcher, and a nats-server that can be stopped and started
// again on the same port and store. Everything is real: processes, sockets, servers.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { replyInbox } from '@voltimax/bus';
import { mqttTopics } from '@voltimax/cloud';
import {
  HeartbeatSchema,
  inboxPrefixFor,
  type AssetReading,
  type Heartbeat,
  type SiteConfig,
  type TelemetryFrame,
} from '@voltimax/contracts';
import { exampleSiteConfig } from '@voltimax/contracts/testing';
import {
  findBinary,
  freePort,
  NATS_CONFIG_PATH,
  NATS_DEV_PASSWORDS,
  provisionTestStreams,
  waitFor,
  type NatsUser,
} from '@voltimax/testing';
import { connectAsync, type MqttClient } from 'mqtt';

const gunzipAsync = promisify(gunzip);
const ROOT = resolve(__dirname, '../../../..');
const MAIN = join(ROOT, 'services/telemetry-publisher/src/main.ts');

/** A connection to the test server as one of nats.conf's users (development password). */
export function connectAs(url: string, user: NatsUser, name = `test-${user}`): Promise<NatsConnection> {
  return connect({
    servers: url,
    user,
    pass: NATS_DEV_PASSWORDS[user],
    inboxPrefix: inboxPrefixFor(user),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
  });
}

/** A temp dir with an assets.json for `gatewayId` and the given cloud block. */
export function writeSite(
  gatewayId: string,
  cloud: SiteConfig['cloud'] | Record<string, unknown>,
): { dir: string; path: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'telemetry-publisher-'));
  const path = join(dir, 'assets.json');
  writeFileSync(path, JSON.stringify({ ...exampleSiteConfig, gatewayId, cloud }, null, 2));
  return { dir, path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The publisher as a child process. */
export interface PublisherProcess {
  /** PID of the publisher's node process (undefined until it is known, right after the start). */
  readonly pid: number | undefined;
  /** Parsed pino lines so far. */
  readonly lines: readonly { level: number; msg: string; [key: string]: unknown }[];
  /** Non-JSON output (stderr), for failures. */
  tail(): string;
  /** Resident set size now, MiB (VmRSS); NaN before the start or after the exit. */
  rssMib(): number;
  /** SIGKILL: no shutdown at all. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
  readonly exited: Promise<number | null>;
}

/**
 * Runs the publisher under a small shell that holds a pipe from this process on its stdin: when this process ends in
 * any way (even SIGKILL of the test run), the pipe closes and the shell kills the publisher, so no test leaves one
 * behind. The shell reports the publisher's PID first and exits with its exit status.
 */
const WATCHDOG = `
exec 3<&0
"$@" </dev/null 3<&- &
child=$!
echo "PID $child"
( cat <&3 >/dev/null; kill -KILL "$child" 2>/dev/null ) &
watch=$!
exec 3<&-
wait "$child"
status=$?
kill "$watch" 2>/dev/null
exit "$status"
`;

/** Starts `node tools/run-ts.js services/telemetry-publisher/src/main.ts` with `env`. */
export function startPublisherProcess(env: Readonly<Record<string, string>>): PublisherProcess {
  const child: ChildProcess = spawn(
    '/bin/sh',
    ['-c', WATCHDOG, 'publisher', process.execPath, join(ROOT, 'tools/run-ts.js'), MAIN],
    {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', OTEL_SDK_DISABLED: 'true', HEALTH_PORT: 'off', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  child.stdin?.on('error', () => undefined);
  const lines: { level: number; msg: string }[] = [];
  const other: string[] = [];
  let pid: number | undefined;
  let resolvePid: (pid: number | undefined) => void = () => undefined;
  const pidKnown = new Promise<number | undefined>((resolve) => {
    resolvePid = resolve;
  });
  let carry = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const parts = (carry + chunk.toString('utf8')).split('\n');
    carry = parts.pop() ?? '';
    for (const line of parts) {
      const announced = /^PID (\d+)$/.exec(line);
      if (announced && pid === undefined) {
        pid = Number(announced[1]);
        resolvePid(pid);
        continue;
      }
      if (!line.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(line) as { level: number; msg: string });
      } catch {
        other.push(line);
      }
    }
    if (lines.length > 5_000) lines.splice(0, lines.length - 5_000);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    other.push(chunk.toString('utf8'));
    if (other.length > 200) other.splice(0, other.length - 200);
  });
  const exited = once(child, 'exit').then(([code]) => {
    resolvePid(undefined);
    child.stdin?.end(); // ends the watchdog's `cat`
    return code as number | null;
  });
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  const signal = async (name: NodeJS.Signals): Promise<void> => {
    const target = await pidKnown;
    if (target === undefined || !running()) return;
    try {
      process.kill(target, name);
    } catch {
      // already gone
    }
  };
  return {
    get pid() {
      return pid;
    },
    lines,
    tail: () => [...lines.slice(-30).map((l) => JSON.stringify(l)), ...other.slice(-20)].join('\n'),
    rssMib: () => {
      if (pid === undefined) return Number.NaN;
      try {
        const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        return match ? Number(match[1]) / 1024 : Number.NaN;
      } catch {
        return Number.NaN; // exited
      }
    },
    kill9: async () => {
      await signal('SIGKILL');
      await exited;
    },
    stop: async () => {
      await signal('SIGTERM');
      return exited;
    },
    exited,
  };
}

/** The environment of a publisher for the tests: fast windows, fast stats, fast retries. */
export function publisherEnv(opts: {
  natsUrl: string;
  siteFile: string;
  extra?: Readonly<Record<string, string>>;
}): Record<string, string> {
  return {
    NATS_URL: opts.natsUrl,
    NATS_USER: 'telemetry-publisher',
    NATS_PASS: NATS_DEV_PASSWORDS['telemetry-publisher'],
    SITE_FILE: opts.siteFile,
    LOG_LEVEL: 'info',
    HEARTBEAT_MS: '500',
    STATS_INTERVAL_MS: '250',
    FRAME_INTERVAL_MS: '1000',
    FRAME_GRACE_MS: '200',
    PULL_INTERVAL_MS: '100',
    RETRY_MIN_MS: '100',
    RETRY_MAX_MS: '1000',
    SEND_TIMEOUT_MS: '10000',
    MQTT_RECONNECT_MIN_MS: '50',
    MQTT_RECONNECT_MAX_MS: '500',
    ...opts.extra,
  };
}

/** A reading of test asset `assetId` with sequence `seq`, measured at `baseMs + seq × 1 s` (1 Hz). */
export function testReading(assetId: string, seq: number, baseMs: number): AssetReading {
  return {
    v: 1,
    assetId,
    kind: 'meter',
    atMs: baseMs + seq * 1000,
    sequence: seq,
    quality: 'good',
    values: { powerW: 1000 + (seq % 500), importEnergyWh: 1_000_000 + seq, voltageL1V: 230.1, frequencyHz: 50 },
  };
}

/**
 * Publishes readings into TELEMETRY as a driver (`modbus-poller`) with JetStream async publishes: each message carries
 * a reply subject of its own and `Nats-Msg-Id` `<assetId>:<sequence>`; the server's PubAck on that subject confirms it
 * is stored. Up to `window` may be unconfirmed; when no PubAck arrives for 2 s (server restarting), every unconfirmed
 * one is published again (the msg id makes the server store it once).
 */
export class TelemetryDriver {
  private constructor(readonly nc: NatsConnection) {}

  static async connect(url: string): Promise<TelemetryDriver> {
    return new TelemetryDriver(await connectAs(url, 'modbus-poller', 'test-driver'));
  }

  /**
   * Resolves with the count once every reading is stored. `msgId: false` leaves out `Nats-Msg-Id` (faster; only
   * safe while the server does not restart, since a resent reading would then be stored twice).
   */
  async publish(
    readings: Iterable<{ subject: string; data: Uint8Array; msgID: string }>,
    opts: { readonly window?: number; readonly msgId?: boolean } = {},
  ): Promise<number> {
    const window = opts.window ?? 20_000;
    const withMsgId = opts.msgId ?? true;
    const inbox = replyInbox(this.nc);
    const pending = new Map<number, { subject: string; data: Uint8Array; msgID: string }>();
    let wake: (() => void) | undefined;
    let lastAckAtMs = Date.now();
    const refused: number[] = [];
    const sub = this.nc.subscribe(`${inbox}.*`, {
      callback: (_err, msg) => {
        const index = Number(msg.subject.slice(inbox.length + 1));
        let ack: { error?: unknown; seq?: number } = {};
        try {
          ack = msg.data.length === 0 ? {} : msg.json<{ error?: unknown; seq?: number }>();
        } catch {
          // not a PubAck
        }
        if (ack.error !== undefined || ack.seq === undefined) {
          // Not stored (e.g. 503 no responders while the stream is being created): publish it again.
          if (pending.has(index)) refused.push(index);
          return;
        }
        pending.delete(index);
        lastAckAtMs = Date.now();
        const w = wake;
        wake = undefined;
        w?.();
      },
    });
    // The PubAck subscription must be on the server before the first publish. The server may be restarting right
    // now (the restart test): a flush then fails with "connection disconnected" — wait for the reconnect and retry.
    for (let attempt = 0; ; attempt += 1) {
      try {
        await this.nc.flush();
        break;
      } catch (err) {
        if (attempt >= 200 || this.nc.isClosed()) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const send = (index: number, r: { subject: string; data: Uint8Array; msgID: string }): void => {
      if (!withMsgId) {
        this.nc.publish(r.subject, r.data, { reply: `${inbox}.${index}` });
        return;
      }
      const h = headers();
      h.set('Nats-Msg-Id', r.msgID);
      this.nc.publish(r.subject, r.data, { reply: `${inbox}.${index}`, headers: h });
    };
    const waitBelow = async (limit: number): Promise<void> => {
      while (pending.size > limit) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 500);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        for (const index of refused.splice(0)) {
          const r = pending.get(index);
          if (r !== undefined) send(index, r);
        }
        if (withMsgId && pending.size > limit && Date.now() - lastAckAtMs > 2_000 && !this.nc.isClosed()) {
          lastAckAtMs = Date.now();
          for (const [index, r] of pending) send(index, r);
        }
      }
    };
    let count = 0;
    for (const r of readings) {
      pending.set(count, r);
      send(count, r);
      count += 1;
      if (pending.size >= window) await waitBelow(window / 2);
    }
    await waitBelow(0);
    sub.unsubscribe();
    return count;
  }

  /** Publishes raw bytes (e.g. a malformed message) on `subject` and waits for the PubAck. */
  async publishRaw(subject: string, data: string): Promise<void> {
    await jetstream(this.nc).publish(subject, data);
  }

  close(): Promise<void> {
    return this.nc.close();
  }
}

const encoder = new TextEncoder();

/** `count` seconds of 1 Hz readings of `assets` (interleaved by time), from sequence `fromSeq`. */
export function* readingsAt1Hz(
  assets: readonly string[],
  fromSeq: number,
  count: number,
  baseMs: number,
): Generator<{ subject: string; data: Uint8Array; msgID: string }> {
  for (let seq = fromSeq; seq < fromSeq + count; seq += 1) {
    for (const assetId of assets) {
      yield {
        subject: `telemetry.${assetId}`,
        data: encoder.encode(JSON.stringify(testReading(assetId, seq, baseMs))),
        msgID: `${assetId}:${seq}`,
      };
    }
  }
}

/** One frame as the cloud received it. */
export interface CloudFrame {
  readonly frameId: string;
  readonly via: 'mqtt' | 'http';
  readonly gzip: boolean;
  readonly readings: readonly { readonly assetId: string; readonly sequence: number }[];
}

/**
 * The cloud side: receives frames (from the MQTT broker as a subscriber, and from the Platform API double when
 * given), de-duplicates them by frameId and keeps, per asset, the sequences in arrival order.
 */
export class CloudRecorder {
  /** Every frame received, duplicates included, in arrival order. */
  readonly frames: CloudFrame[] = [];
  private readonly seen = new Set<string>();
  /** Sequences per asset, in arrival order, after de-duplication by frameId. */
  readonly sequences = new Map<string, number[]>();
  /** Frame ids received more than once. */
  readonly duplicateFrameIds: string[] = [];
  unique = 0;
  invalid = 0;
  private mqtt: MqttClient | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly gatewayId: string) {}

  /** Subscribes to the gateway's telemetry topic on the broker (directly, not through the gateway's link). */
  async subscribe(brokerUrl: string, topicPrefix = 'voltimax'): Promise<void> {
    const client = await connectAsync(brokerUrl, {
      protocolVersion: 5,
      clientId: `cloud-${this.gatewayId}-${process.pid}`,
      reconnectPeriod: 100,
    });
    client.on('message', (_topic, payload, packet) => {
      const gzip = packet.properties?.userProperties?.['content-encoding'] === 'gzip';
      // One after the other: gunzip finishes out of order, the arrival order is what is checked.
      this.queue = this.queue
        .then(async () => {
          const body = gzip ? await gunzipAsync(payload) : payload;
          this.add(JSON.parse(body.toString('utf8')) as TelemetryFrame, 'mqtt', gzip);
        })
        .catch(() => {
          this.invalid += 1;
        });
    });
    await client.subscribeAsync(mqttTopics(topicPrefix).telemetry(this.gatewayId), { qos: 1 });
    this.mqtt = client;
  }

  /** Records a frame (from any transport). */
  add(frame: TelemetryFrame, via: 'mqtt' | 'http', gzip: boolean): void {
    if (frame.gatewayId !== this.gatewayId || !Array.isArray(frame.readings)) {
      this.invalid += 1;
      return;
    }
    const readings = frame.readings.map((r) => ({ assetId: r.assetId, sequence: r.sequence }));
    this.frames.push({ frameId: frame.frameId, via, gzip, readings });
    if (this.seen.has(frame.frameId)) {
      this.duplicateFrameIds.push(frame.frameId);
      return;
    }
    this.seen.add(frame.frameId);
    for (const r of readings) {
      let list = this.sequences.get(r.assetId);
      if (list === undefined) {
        list = [];
        this.sequences.set(r.assetId, list);
      }
      list.push(r.sequence);
      this.unique += 1;
    }
  }

  /** Per asset: sequences missing from `[0, count)`, received twice (after frameId de-duplication), or out of order. */
  check(assets: readonly string[], count: number): { missing: number; duplicated: number; outOfOrder: number } {
    let missing = 0;
    let duplicated = 0;
    let outOfOrder = 0;
    for (const assetId of assets) {
      const list = this.sequences.get(assetId) ?? [];
      const seen = new Uint8Array(count);
      let last = -1;
      for (const seq of list) {
        if (seq < last) outOfOrder += 1;
        last = seq;
        if (seq >= 0 && seq < count) {
          if (seen[seq] === 1) duplicated += 1;
          seen[seq] = 1;
        }
      }
      for (let i = 0; i < count; i += 1) if (seen[i] !== 1) missing += 1;
    }
    return { missing, duplicated, outOfOrder };
  }

  /** Frames (first copies) that arrived after a frame with a higher first stream sequence: 0 = stream order. */
  frameOrderInversions(): number {
    const seen = new Set<string>();
    let last = 0;
    let inversions = 0;
    for (const frame of this.frames) {
      if (seen.has(frame.frameId)) continue;
      seen.add(frame.frameId);
      const { first } = frameRange(frame.frameId);
      if (first < last) inversions += 1;
      last = first;
    }
    return inversions;
  }

  async close(): Promise<void> {
    await this.mqtt?.endAsync(true);
  }
}

/** The first stream sequence of a frame id `<gw>:<first>-<last>`. */
export function frameRange(frameId: string): { first: number; last: number } {
  const match = /:(\d+)-(\d+)$/.exec(frameId);
  if (!match) throw new Error(`not a frame id: ${frameId}`);
  return { first: Number(match[1]), last: Number(match[2]) };
}

/** The publisher's heartbeats as a dashboard sees them (user `dashboard`). */
export class HeartbeatWatch {
  latest: Heartbeat | undefined;
  private constructor(private readonly nc: NatsConnection) {}

  static async start(url: string): Promise<HeartbeatWatch> {
    const nc = await connectAs(url, 'dashboard', 'test-heartbeats');
    const watch = new HeartbeatWatch(nc);
    nc.subscribe('health.telemetry-publisher', {
      callback: (_err, msg) => {
        const parsed = HeartbeatSchema.safeParse(msg.json());
        if (parsed.success) watch.latest = parsed.data;
      },
    });
    await nc.flush();
    return watch;
  }

  /** A heartbeat after the service's start finished (stream TELEMETRY exists, consumers are set up). */
  started(): boolean {
    return this.latest !== undefined && this.latest.status !== 'starting';
  }

  counter(name: string): number | undefined {
    return this.latest?.counters?.[name];
  }

  close(): Promise<void> {
    return this.nc.close();
  }
}

/** State of the consumers and the stream, read as the publisher's user. */
export async function streamState(nc: NatsConnection): Promise<{
  jsm: JetStreamManager;
  messages: number;
  firstSeq: number;
  lastSeq: number;
  consumers: { name: string; ackFloor: number }[];
}> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info('TELEMETRY');
  const consumers: { name: string; ackFloor: number }[] = [];
  for await (const c of jsm.consumers.list('TELEMETRY'))
    consumers.push({ name: c.name, ackFloor: c.ack_floor.stream_seq });
  return {
    jsm,
    messages: info.state.messages,
    firstSeq: info.state.first_seq,
    lastSeq: info.state.last_seq,
    consumers,
  };
}

/** A nats-server from the project's nats.conf on a fixed port and store dir, which a test can stop and start again. */
export class RestartableNats {
  private child: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly binary: string,
  ) {}

  static async start(): Promise<RestartableNats> {
    const binary = findBinary('nats-server');
    if (binary === undefined) throw new Error('nats-server is not installed (apt-get install nats-server)');
    const dir = mkdtempSync(join(tmpdir(), 'telemetry-publisher-nats-'));
    const conf = join(dir, 'nats.conf');
    // Includes resolve relative to the including file; later keys win, so the store moves into our dir.
    writeFileSync(
      conf,
      `include ${JSON.stringify(relative(dir, NATS_CONFIG_PATH))}\njetstream { store_dir: ${JSON.stringify(join(dir, 'store'))} }\n`,
    );
    const server = new RestartableNats(await freePort('127.0.0.1'), dir, binary);
    await server.startProcess();
    // As `voltimax bus init` before the services: only the provisioner may create streams. The store survives restarts.
    await provisionTestStreams(server.url);
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  private async startProcess(): Promise<void> {
    const child = spawn(
      this.binary,
      ['-c', join(this.dir, 'nats.conf'), '-a', '127.0.0.1', '-p', String(this.port), '-m', '0'],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let output = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8_000);
    });
    this.child = child;
    await waitFor(() => output.includes('Server is ready') || child.exitCode !== null, {
      timeoutMs: 15_000,
      message: `nats-server on ${this.port}`,
    });
    if (child.exitCode !== null) throw new Error(`nats-server exited: ${output}`);
  }

  /** Graceful stop (SIGTERM: the store is flushed), waits for the exit. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }

  /** Starts again on the same port with the same store. */
  async restart(): Promise<void> {
    await this.stop();
    await this.startProcess();
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
