import { connect as netConnect, type Socket } from 'node:net';
import ModbusRTU from 'modbus-serial';
import type { ResolvedEndpoint } from './endpoint';
import { ModbusConnectionError, ModbusExceptionError, ModbusProtocolError } from './errors';
import type { ModbusOperation } from './requests';

/** One open transport to an endpoint, able to run one transaction at a time (the connection serializes). */
export interface ModbusLink {
  /** Send one request and resolve with the response words (bits as 0/1; `[]` for a confirmed write). */
  execute(op: ModbusOperation): Promise<readonly number[]>;
  /** False once the socket or serial port closed or errored. */
  readonly isOpen: boolean;
  /** Called once when the link dies (peer closed, transport error, or {@link ModbusLink.close}). */
  onClose(listener: (cause: unknown) => void): void;
  /** Tear the transport down; in-flight work fails with a `connection-lost` ModbusConnectionError. */
  close(): Promise<void>;
}

/** Opens a link to an endpoint; rejects with a ModbusConnectionError. */
export type LinkOpener = (endpoint: ResolvedEndpoint) => Promise<ModbusLink>;

type Callback = (err: unknown, result: unknown) => void;

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : undefined;
}

function describe(err: unknown): string {
  const message = field(err, 'message');
  return typeof message === 'string' ? message : String(err);
}

/**
 * Turn a modbus-serial callback error into a typed error. modbus-serial reports exception responses as an Error
 * with `modbusCode`, a closed port as a (non-Error) `PortNotOpenError`, and anything it cannot parse (CRC, length,
 * unit or function code mismatch) as a plain Error with a message.
 */
export function mapClientError(key: string, op: ModbusOperation, err: unknown): Error {
  const code = field(err, 'modbusCode');
  if (typeof code === 'number') {
    return new ModbusExceptionError(key, op.unitId, op.functionCode, op.address, code, { cause: err });
  }
  if (field(err, 'name') === 'PortNotOpenError') {
    return new ModbusConnectionError(key, 'connection-lost', 'port not open', { cause: err });
  }
  return new ModbusProtocolError(key, op.unitId, `bad response to FC${op.functionCode}: ${describe(err)}`, {
    cause: err,
  });
}

/** Check and convert a modbus-serial result for `op`. */
export function decodeResult(key: string, op: ModbusOperation, result: unknown): readonly number[] {
  const data = field(result, 'data');
  if (op.kind === 'read') {
    if (!Array.isArray(data))
      throw new ModbusProtocolError(key, op.unitId, `FC${op.functionCode} response has no data`);
    if (op.functionCode === 1 || op.functionCode === 2) {
      // modbus-serial pads bits to whole bytes
      if (data.length < op.count) {
        throw new ModbusProtocolError(key, op.unitId, `expected ${op.count} bits, got ${data.length}`);
      }
      return data.slice(0, op.count).map((bit: unknown) => (bit === true ? 1 : 0));
    }
    if (data.length !== op.count || !data.every((w: unknown) => typeof w === 'number')) {
      throw new ModbusProtocolError(key, op.unitId, `expected ${op.count} registers, got ${data.length}`);
    }
    return data as number[];
  }
  const address = field(result, 'address');
  const echoed = op.functionCode === 6 ? field(result, 'value') : field(result, 'length');
  const expected = op.functionCode === 6 ? op.words[0] : op.words.length;
  if (address !== op.address || echoed !== expected) {
    throw new ModbusProtocolError(
      key,
      op.unitId,
      `FC${op.functionCode} echo ${String(address)}/${String(echoed)} does not match ${op.address}/${String(expected)}`,
    );
  }
  return [];
}

/** A modbus-serial client plus the transport it owns, failing in-flight work as soon as the transport dies. */
class ClientLink implements ModbusLink {
  private closed = false;
  private inFlight: ((err: Error) => void) | undefined;
  private readonly listeners: Array<(cause: unknown) => void> = [];

  constructor(
    private readonly key: string,
    private readonly client: ModbusRTU,
    private readonly teardown: () => Promise<void>,
  ) {}

  get isOpen(): boolean {
    return !this.closed && this.client.isOpen;
  }

  onClose(listener: (cause: unknown) => void): void {
    this.listeners.push(listener);
  }

  /** The transport died (or we closed it): fail the transaction in flight and tell the listeners, once. */
  markClosed(cause: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.inFlight?.(
      new ModbusConnectionError(this.key, 'connection-lost', 'connection closed during the transaction', { cause }),
    );
    this.inFlight = undefined;
    for (const listener of this.listeners.splice(0)) listener(cause);
  }

  async close(): Promise<void> {
    this.markClosed(undefined);
    await this.teardown();
  }

  execute(op: ModbusOperation): Promise<readonly number[]> {
    if (!this.isOpen) {
      return Promise.reject(new ModbusConnectionError(this.key, 'connection-lost', 'connection is closed'));
    }
    return new Promise<readonly number[]>((resolve, reject) => {
      let settled = false;
      const release = (): void => {
        settled = true;
        // an abandoned transaction (timed out, link kept) must not clear the hook of the one now on the wire
        if (this.inFlight === fail) this.inFlight = undefined;
      };
      const fail = (err: Error): void => {
        if (settled) return;
        release();
        reject(err);
      };
      this.inFlight = fail;
      // modbus-serial may call back after we gave up (late answer, timeout); `settled` makes that a no-op.
      const callback: Callback = (err, result) => {
        if (settled) return;
        if (err) return fail(mapClientError(this.key, op, err));
        try {
          const words = decodeResult(this.key, op, result);
          release();
          resolve(words);
        } catch (decodeErr) {
          fail(decodeErr instanceof Error ? decodeErr : new Error(String(decodeErr)));
        }
      };
      try {
        this.send(op, callback);
      } catch (sendErr) {
        fail(mapClientError(this.key, op, sendErr));
      }
    });
  }

  private send(op: ModbusOperation, callback: Callback): void {
    const c = this.client;
    switch (op.functionCode) {
      case 1:
        return c.writeFC1(op.unitId, op.address, op.count, callback);
      case 2:
        return c.writeFC2(op.unitId, op.address, op.count, callback);
      case 3:
        return c.writeFC3(op.unitId, op.address, op.count, callback);
      case 4:
        return c.writeFC4(op.unitId, op.address, op.count, callback);
      case 6:
        return c.writeFC6(op.unitId, op.address, op.words[0] ?? 0, callback);
      case 16:
        return c.writeFC16(op.unitId, op.address, [...op.words], callback);
    }
  }
}

function connectSocket(key: string, host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const socket = netConnect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ModbusConnectionError(key, 'connect-timeout', `connect did not complete within ${timeoutMs} ms`));
    }, timeoutMs);
    const onError = (err: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(new ModbusConnectionError(key, 'connect-failed', `connect failed: ${err.message}`, { cause: err }));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      resolve(socket);
    });
  });
}

/**
 * TCP transports: we connect the socket ourselves and hand it to modbus-serial (`connectTCP` / `connectTelnet`
 * with `socket`), so that we see every `close` and `error` (modbus-serial's TcpPort swallows the close that follows
 * a socket error, e.g. ECONNRESET, and would leave the request hanging until its timeout) and so that a connect
 * that takes too long is really aborted.
 */
async function openTcpLink(endpoint: Exclude<ResolvedEndpoint, { readonly transport: 'rtu' }>): Promise<ModbusLink> {
  const socket = await connectSocket(endpoint.key, endpoint.host, endpoint.port, endpoint.connectTimeoutMs);
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 10_000);
  const client = new ModbusRTU();
  const link = new ClientLink(endpoint.key, client, async () => {
    socket.destroy();
  });
  let lastError: unknown;
  socket.on('error', (err) => {
    lastError = err;
  });
  socket.once('close', () => link.markClosed(lastError));
  // modbus-serial re-emits port errors on the client; without a listener an EventEmitter 'error' would throw.
  client.on('error', (err) => link.markClosed(err));
  try {
    // RTU over TCP is connectTelnet: connectTcpRTUBuffered sends Modbus TCP (MBAP) frames.
    if (endpoint.transport === 'tcp') await client.connectTCP(endpoint.host, { port: endpoint.port, socket });
    else await client.connectTelnet(endpoint.host, { port: endpoint.port, socket });
  } catch (err) {
    socket.destroy();
    throw new ModbusConnectionError(endpoint.key, 'connect-failed', `connect failed: ${describe(err)}`, { cause: err });
  }
  return link;
}

async function openSerialLink(endpoint: Extract<ResolvedEndpoint, { readonly transport: 'rtu' }>): Promise<ModbusLink> {
  const client = new ModbusRTU();
  const closeClient = () =>
    new Promise<void>((resolve) => {
      // closing an already closed port calls back with an error: nothing left to do either way
      client.close(() => resolve());
    });
  const link = new ClientLink(endpoint.key, client, closeClient);
  client.on('error', (err) => link.markClosed(err));
  client.on('close', () => link.markClosed(undefined));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new ModbusConnectionError(
            endpoint.key,
            'connect-timeout',
            `opening the port did not complete within ${endpoint.connectTimeoutMs} ms`,
          ),
        ),
      endpoint.connectTimeoutMs,
    );
  });
  try {
    await Promise.race([
      client.connectRTUBuffered(endpoint.path, {
        baudRate: endpoint.baudRate,
        parity: endpoint.parity,
        dataBits: endpoint.dataBits,
        stopBits: endpoint.stopBits,
      }),
      timedOut,
    ]);
  } catch (err) {
    link.markClosed(err);
    await closeClient();
    if (err instanceof ModbusConnectionError) throw err;
    throw new ModbusConnectionError(endpoint.key, 'connect-failed', `open failed: ${describe(err)}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
  return link;
}

/** The production opener: modbus-serial over TCP (`connectTCP`), RTU over TCP (`connectTelnet`) or serial. */
export const openModbusSerialLink: LinkOpener = (endpoint) =>
  endpoint.transport === 'rtu' ? openSerialLink(endpoint) : openTcpLink(endpoint);
