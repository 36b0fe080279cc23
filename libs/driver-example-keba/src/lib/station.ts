// One UDP socket for all stations (a KEBA answers to port 7090 of the sender, so the driver listens there), and per
// station a queue that keeps the guide's pauses between commands and matches each answer to its command.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { COMMAND_PAUSE_MS, DISABLE_PAUSE_MS, parseDatagram, type Datagram, type ReportFields } from './protocol';

/** What a command waits for: a report with this ID, or the generic `TCH-OK :done`. */
export type Expect = { readonly report: number } | 'ok';

/** The station did not answer in time (UDP has no delivery guarantee). */
export class StationTimeoutError extends Error {
  override readonly name = 'StationTimeoutError';
}

/** The station answered `TCH-ERR`. */
export class StationRefusedError extends Error {
  override readonly name = 'StationRefusedError';
}

interface Waiting {
  readonly expect: Expect;
  readonly resolve: (datagram: Datagram) => void;
  readonly reject: (err: Error) => void;
}

/** Counters of the link (the driver's health). */
export interface LinkCounters {
  datagrams: number;
  malformed: number;
  strangers: number;
  statusMessages: number;
  timeouts: number;
  refused: number;
}

/** One station: its address, a command queue, and the latest value of every field it reported. */
export class Station {
  /** Latest fields of reports 2 and 3 and of status messages, merged. */
  readonly fields: Record<string, number | string> = {};
  /** Epoch ms of the newest field (report or status message); 0 before the first. */
  fieldsAtMs = 0;
  /** When reports 2 and 3 were last fetched by a poll, epoch ms. */
  polledAtMs = Number.NEGATIVE_INFINITY;
  /** Whether the last command got its answer. */
  answering = true;
  private queue: Promise<unknown> = Promise.resolve();
  private notBeforeMs = 0;
  private waiting: Waiting | undefined;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly link: StationLink,
  ) {}

  /**
   * Sends `command` after the earlier ones (keeping t_UDP_pause, and t_DIS_pause after a disabling command) and
   * resolves with its answer; StationTimeoutError after `timeoutMs`, StationRefusedError on `TCH-ERR`.
   */
  command(command: string, expect: Expect, timeoutMs: number, signal?: AbortSignal): Promise<Datagram> {
    const run = this.queue.then(() => this.send(command, expect, timeoutMs, signal));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async send(command: string, expect: Expect, timeoutMs: number, signal?: AbortSignal): Promise<Datagram> {
    const waitMs = this.notBeforeMs - this.link.now();
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    signal?.throwIfAborted();
    const disabling = /^(currtime 0 |ena 0)/.test(command);
    try {
      return await new Promise<Datagram>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.waiting = undefined;
          this.link.counters.timeouts += 1;
          this.answering = false;
          reject(
            new StationTimeoutError(`${this.host}:${this.port} did not answer '${command}' within ${timeoutMs} ms`),
          );
        }, timeoutMs);
        const onAbort = (): void => {
          clearTimeout(timer);
          this.waiting = undefined;
          reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waiting = {
          expect,
          resolve: (datagram) => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
            this.waiting = undefined;
            this.answering = true;
            resolve(datagram);
          },
          reject: (err) => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
            this.waiting = undefined;
            reject(err);
          },
        };
        this.link.sendTo(this, command);
      });
    } finally {
      this.notBeforeMs = this.link.now() + (disabling ? DISABLE_PAUSE_MS : COMMAND_PAUSE_MS);
    }
  }

  /** A datagram from this station. Returns the fields of a status message (for a push), else undefined. */
  receive(datagram: Datagram): ReportFields | undefined {
    switch (datagram.kind) {
      case 'malformed':
        this.link.counters.malformed += 1;
        return undefined;
      case 'status':
        this.link.counters.statusMessages += 1;
        this.merge(datagram.fields);
        return datagram.fields;
      case 'report':
        this.merge(datagram.fields);
        if (this.waiting !== undefined && this.waiting.expect !== 'ok' && this.waiting.expect.report === datagram.id) {
          this.waiting.resolve(datagram);
        }
        return undefined;
      case 'ok':
        if (this.waiting?.expect === 'ok') this.waiting.resolve(datagram);
        return undefined;
      case 'refused':
        this.link.counters.refused += 1;
        if (this.waiting?.expect === 'ok')
          this.waiting.reject(new StationRefusedError(`the station refused: ${datagram.text}`));
        return undefined;
    }
  }

  private merge(fields: ReportFields): void {
    for (const [key, value] of Object.entries(fields)) if (key !== 'ID') this.fields[key] = value;
    this.fieldsAtMs = this.link.now();
  }
}

/** The socket and the stations behind it. */
export class StationLink {
  readonly counters: LinkCounters = {
    datagrams: 0,
    malformed: 0,
    strangers: 0,
    statusMessages: 0,
    timeouts: 0,
    refused: 0,
  };
  private readonly stations = new Map<string, Station>();

  private constructor(
    private readonly socket: Socket,
    readonly now: () => number,
    private readonly onStatus: (station: Station, fields: ReportFields) => void,
  ) {
    socket.on('message', (data, rinfo) => this.onMessage(data, rinfo));
  }

  /** Binds the socket (EADDRINUSE and the like reject: the host retries the driver's start). */
  static open(options: {
    readonly bindAddress: string;
    readonly localPort: number;
    readonly now: () => number;
    readonly onStatus: (station: Station, fields: ReportFields) => void;
    readonly onError: (err: Error) => void;
  }): Promise<StationLink> {
    const socket = createSocket({ type: 'udp4', reuseAddr: false });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(options.localPort, options.bindAddress, () => {
        socket.off('error', reject);
        socket.on('error', options.onError);
        resolve(new StationLink(socket, options.now, options.onStatus));
      });
    });
  }

  /** The station at host:port (created on first use). */
  station(host: string, port: number): Station {
    const key = `${host}:${port}`;
    let station = this.stations.get(key);
    if (station === undefined) {
      station = new Station(host, port, this);
      this.stations.set(key, station);
    }
    return station;
  }

  sendTo(station: Station, command: string): void {
    this.socket.send(Buffer.from(command, 'latin1'), station.port, station.host);
  }

  /** The port the socket listens on (7090 on a site; ephemeral in tests). */
  get localPort(): number {
    return this.socket.address().port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private onMessage(data: Buffer, rinfo: RemoteInfo): void {
    this.counters.datagrams += 1;
    const station = this.stations.get(`${rinfo.address}:${rinfo.port}`);
    if (station === undefined) {
      this.counters.strangers += 1;
      return;
    }
    const status = station.receive(parseDatagram(data));
    if (status !== undefined) this.onStatus(station, status);
  }
}
