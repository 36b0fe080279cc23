// A tiny Modbus TCP server for fault tests: speaks MBAP + FC01–04/06/16 and misbehaves on request.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** One request as the fault server parsed it. */
export interface FaultRequest {
  /** Which accepted connection (1, 2, …) carried it. */
  readonly connection: number;
  readonly transactionId: number;
  readonly unitId: number;
  readonly functionCode: number;
  readonly address: number;
  /** Registers or bits asked for (reads, FC16), 1 for FC06. */
  readonly count: number;
  /** Words carried by FC06/FC16. */
  readonly words: readonly number[];
  /** performance.now() when the complete request arrived. */
  readonly atMs: number;
}

/** What to do with a request. */
export type FaultAction =
  /** A normal answer: these words for a read (bits: 0/1), the echo for a write. */
  | { readonly kind: 'answer'; readonly words?: readonly number[] }
  | { readonly kind: 'exception'; readonly code: number }
  /** Destroy the connection without answering. */
  | { readonly kind: 'drop' }
  /** Reset the connection (TCP RST: the client sees ECONNRESET). */
  | { readonly kind: 'reset' }
  /** Never answer. */
  | { readonly kind: 'silent' }
  /** Answer normally after a delay. */
  | { readonly kind: 'late'; readonly afterMs: number; readonly words?: readonly number[] }
  /** Send these bytes instead of an answer. */
  | { readonly kind: 'raw'; readonly bytes: Buffer | ((req: FaultRequest) => Buffer) };

export type FaultHandler = (req: FaultRequest) => FaultAction;

export interface FaultServer {
  readonly port: number;
  /** Every complete request received, in order. */
  readonly requests: FaultRequest[];
  /** Connections accepted so far. */
  readonly connectionCount: number;
  setHandler(handler: FaultHandler): void;
  /** Close every client socket from the server side (FIN), as a device does when it restarts or drops idle clients. */
  closeClients(): void;
  close(): Promise<void>;
}

/** Words a read is answered with by default: register n holds n (low 16 bits); bits alternate 1, 0. */
export function defaultWords(req: FaultRequest): number[] {
  return Array.from({ length: req.count }, (_, i) =>
    req.functionCode <= 2 ? (i + 1) % 2 : (req.address + i) & 0xffff,
  );
}

/** Wrap a PDU (unit id first) in an MBAP header. */
export function mbap(transactionId: number, pdu: Buffer): Buffer {
  const header = Buffer.alloc(6);
  header.writeUInt16BE(transactionId, 0);
  header.writeUInt16BE(0, 2);
  header.writeUInt16BE(pdu.length, 4);
  return Buffer.concat([header, pdu]);
}

/** The MBAP frame of a normal answer to `req`. */
export function answerFrame(req: FaultRequest, words?: readonly number[]): Buffer {
  const head = Buffer.from([req.unitId, req.functionCode]);
  switch (req.functionCode) {
    case 1:
    case 2: {
      const bits = words ?? defaultWords(req);
      const bytes = Buffer.alloc(Math.ceil(req.count / 8));
      bits.forEach((bit, i) => {
        if (bit) bytes[i >> 3] = (bytes[i >> 3] ?? 0) | (1 << (i & 7));
      });
      return mbap(req.transactionId, Buffer.concat([head, Buffer.from([bytes.length]), bytes]));
    }
    case 3:
    case 4: {
      const regs = words ?? defaultWords(req);
      const body = Buffer.alloc(1 + regs.length * 2);
      body.writeUInt8(regs.length * 2, 0);
      regs.forEach((w, i) => body.writeUInt16BE(w, 1 + i * 2));
      return mbap(req.transactionId, Buffer.concat([head, body]));
    }
    case 6:
    case 16: {
      const body = Buffer.alloc(4);
      body.writeUInt16BE(req.address, 0);
      body.writeUInt16BE(req.functionCode === 6 ? (req.words[0] ?? 0) : req.count, 2);
      return mbap(req.transactionId, Buffer.concat([head, body]));
    }
    default:
      return exceptionFrame(req, 1);
  }
}

/** The MBAP frame of exception `code` for `req`. */
export function exceptionFrame(req: FaultRequest, code: number): Buffer {
  return mbap(req.transactionId, Buffer.from([req.unitId, req.functionCode | 0x80, code]));
}

function parse(frame: Buffer, connection: number): FaultRequest {
  const functionCode = frame.readUInt8(7);
  const address = frame.length >= 10 ? frame.readUInt16BE(8) : 0;
  const field = frame.length >= 12 ? frame.readUInt16BE(10) : 0;
  const words: number[] = [];
  if (functionCode === 6) words.push(field);
  if (functionCode === 16) {
    for (let i = 0; i < field && 13 + i * 2 + 1 < frame.length; i++) words.push(frame.readUInt16BE(13 + i * 2));
  }
  return {
    connection,
    transactionId: frame.readUInt16BE(0),
    unitId: frame.readUInt8(6),
    functionCode,
    address,
    count: functionCode === 6 ? 1 : field,
    words,
    atMs: performance.now(),
  };
}

/** Start on 127.0.0.1 (`port` 0 = ephemeral). */
export async function startFaultServer(
  handler: FaultHandler = () => ({ kind: 'answer' }),
  port = 0,
): Promise<FaultServer> {
  let current = handler;
  let connections = 0;
  const requests: FaultRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const respond = (socket: Socket, req: FaultRequest): void => {
    const action = current(req);
    const send = (bytes: Buffer): void => {
      if (!socket.destroyed) socket.write(bytes);
    };
    switch (action.kind) {
      case 'answer':
        return send(answerFrame(req, action.words));
      case 'exception':
        return send(exceptionFrame(req, action.code));
      case 'drop':
        socket.destroy();
        return;
      case 'reset':
        socket.resetAndDestroy();
        return;
      case 'silent':
        return;
      case 'late': {
        const timer = setTimeout(() => {
          timers.delete(timer);
          send(answerFrame(req, action.words));
        }, action.afterMs);
        timers.add(timer);
        return;
      }
      case 'raw':
        return send(typeof action.bytes === 'function' ? action.bytes(req) : action.bytes);
    }
  };

  const server: Server = createServer((socket) => {
    connections += 1;
    const connection = connections;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 7) {
        const length = buffer.readUInt16BE(4);
        if (buffer.length < 6 + length) return;
        const frame = buffer.subarray(0, 6 + length);
        buffer = buffer.subarray(6 + length);
        const req = parse(frame, connection);
        requests.push(req);
        respond(socket, req);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    port: address.port,
    requests,
    get connectionCount() {
      return connections;
    },
    setHandler(next) {
      current = next;
    },
    closeClients() {
      for (const socket of sockets) socket.end();
    },
    close() {
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port on 127.0.0.1 that nothing listens on right now (connecting is refused). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
