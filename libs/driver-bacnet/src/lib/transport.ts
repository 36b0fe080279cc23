// BACnet/IP over UDP for the @bacnet-js/client stack (its `transport` option): our own socket so that the port may be
// ephemeral (0), address reuse is off (a second BACnet app on the port fails loudly instead of stealing replies),
// no timer outlives close(), and a sender is always `ip:port`.
import { createSocket, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';

/** The standard BACnet/IP port (0xBAC0). */
export const BACNET_PORT = 47_808;
const MAX_PAYLOAD = 1_482;
/** How long a broadcast we sent is remembered, to drop it when it loops back to us. */
const ECHO_WINDOW_MS = 2_000;

/** Where and how the socket binds. */
export interface UdpTransportOptions {
  /** Local IPv4 address to bind; default 0.0.0.0 (needed to receive broadcasts). */
  readonly interface?: string;
  /** Local UDP port; 0 picks a free one. Default 47808. */
  readonly port?: number;
  /** Where a request without a receiver goes (Who-Is): `ip` or `ip:port`; default 255.255.255.255:47808. */
  readonly broadcastAddress?: string;
  /** Share the port with other sockets (SO_REUSEADDR); default false. */
  readonly reuseAddr?: boolean;
  /** Sees every datagram before the stack does; return false to drop it (simulated routers and faults). */
  readonly accept?: (buffer: Buffer, from: string) => boolean;
}

/** `host[:port]` → host and port (47808 when absent). */
export function splitAddress(address: string): { readonly host: string; readonly port: number } {
  const [host = '', portText] = address.split(':');
  const port = portText === undefined || portText === '' ? BACNET_PORT : Number(portText);
  return { host, port };
}

/** The transport the stack drives: `open`, `send`, `close` and `message`/`listening`/`error` events. */
export class UdpTransport extends EventEmitter {
  private readonly socket: Socket;
  private readonly recentBroadcasts: { readonly atMs: number; readonly data: Buffer }[] = [];
  private bound: { address: string; port: number } | undefined;
  private closed = false;
  /** Resolves with the bound address once the socket listens; rejects when binding fails. */
  readonly ready: Promise<{ readonly address: string; readonly port: number }>;

  constructor(private readonly options: UdpTransportOptions = {}) {
    super();
    this.socket = createSocket({ type: 'udp4', reuseAddr: options.reuseAddr ?? false });
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('listening', () => {
        this.socket.setBroadcast(true);
        const info = this.socket.address();
        this.bound = { address: info.address, port: info.port };
        this.emit('listening', this.bound);
        resolve(this.bound);
      });
      this.socket.once('error', reject);
    });
    // a failed bind is reported through `ready` and the 'error' event; never as an unhandled rejection
    this.ready.catch(() => undefined);
    this.socket.on('error', (err) => this.emit('error', err));
    this.socket.on('message', (msg, rinfo) => {
      const from = `${rinfo.address}:${rinfo.port}`;
      if (this.bound !== undefined && rinfo.port === this.bound.port && this.isOwnBroadcast(msg)) return;
      if (this.options.accept && !this.options.accept(msg, from)) return;
      this.emit('message', msg, from);
    });
    this.socket.on('close', () => this.emit('close'));
  }

  /** The bound `ip:port` (after `ready`). */
  get localAddress(): string | undefined {
    return this.bound === undefined ? undefined : `${this.bound.address}:${this.bound.port}`;
  }

  getBroadcastAddress(): string {
    return this.options.broadcastAddress ?? `255.255.255.255:${BACNET_PORT}`;
  }

  getMaxPayload(): number {
    return MAX_PAYLOAD;
  }

  open(): void {
    this.socket.bind({
      address: this.options.interface ?? '0.0.0.0',
      port: this.options.port ?? BACNET_PORT,
      exclusive: true,
    });
  }

  send(buffer: Buffer, offset: number, receiver?: string): void {
    if (this.closed) return;
    const target = receiver ?? this.getBroadcastAddress();
    if (receiver === undefined) this.rememberBroadcast(Buffer.from(buffer.subarray(0, offset)));
    const { host, port } = splitAddress(target);
    this.socket.send(buffer, 0, offset, port, host, (err) => {
      if (err) this.emit('error', err);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }

  private rememberBroadcast(data: Buffer): void {
    const now = Date.now();
    while (this.recentBroadcasts.length > 0 && now - (this.recentBroadcasts[0]?.atMs ?? now) > ECHO_WINDOW_MS)
      this.recentBroadcasts.shift();
    this.recentBroadcasts.push({ atMs: now, data });
  }

  private isOwnBroadcast(msg: Buffer): boolean {
    const now = Date.now();
    return this.recentBroadcasts.some((b) => now - b.atMs <= ECHO_WINDOW_MS && b.data.equals(msg));
  }
}
