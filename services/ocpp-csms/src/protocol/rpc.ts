// The one place that touches ocpp-rpc's server side. Its type declarations are loose (options objects with every
// field required, handlers returning `any`), so the rest of the service sees this small typed facade instead.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { RPCServer, createRPCError, type RPCError } from 'ocpp-rpc';

/** A CALLERROR code of OCPP-J (1.6 names; ocpp-rpc maps FormatViolation → FormationViolation on 1.6). */
export type RpcErrorCode =
  | 'GenericError'
  | 'NotImplemented'
  | 'NotSupported'
  | 'InternalError'
  | 'ProtocolError'
  | 'SecurityError'
  | 'FormationViolation'
  | 'PropertyConstraintViolation'
  | 'OccurrenceConstraintViolation'
  | 'TypeConstraintViolation';

/** Throw from a handler to answer the call with this CALLERROR. */
export function rpcError(code: RpcErrorCode, message: string): Error {
  return createRPCError(code, message, {}) as Error;
}

/** The CALLERROR code carried by an error from ocpp-rpc (a CALLERROR answer, or a local strict-mode failure). */
export function rpcErrorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'rpcErrorCode' in err) {
    const code = (err as RPCError).rpcErrorCode;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** What the WebSocket upgrade request told us, before anything is accepted. */
export interface Handshake {
  /** The last path segment of the URL, decoded: the charge point's identity. */
  readonly identity: string;
  /** The HTTP basic-auth password, when the user name equals the identity. */
  readonly password: Buffer | undefined;
  readonly protocols: ReadonlySet<string>;
  readonly remoteAddress: string | undefined;
}

/** A call to us that failed strict validation (answered with a CALLERROR by ocpp-rpc), or a malformed frame. */
export interface ProtocolViolation {
  /** `call`: an inbound CALL failed the schema; `frame`: not an OCPP-J message at all. */
  readonly kind: 'call' | 'frame';
  readonly method?: string;
  readonly code: string;
  readonly message: string;
  /** The (invalid) params of the call, as received. */
  readonly params?: unknown;
}

/** One charge point's WebSocket, as the central system uses it. */
export interface RpcConnection {
  readonly identity: string;
  /** The negotiated subprotocol, e.g. `ocpp1.6`. */
  readonly protocol: string;
  readonly remoteAddress: string | undefined;
  /** Answer `method` calls; the return value is the CALLRESULT, a thrown {@link rpcError} the CALLERROR. */
  handle(method: string, handler: (params: unknown) => unknown): void;
  /** Call the charge point; rejects on CALLERROR (with `rpcErrorCode`), timeout or a lost connection. */
  call(method: string, params: unknown, timeoutMs: number): Promise<unknown>;
  close(code: number, reason: string): Promise<void>;
  onClose(listener: (code: number, reason: string) => void): void;
  /** Inbound calls refused by strict validation, and frames that are not OCPP-J. */
  onViolation(listener: (violation: ProtocolViolation) => void): void;
  /** Every inbound message (for "last seen"). */
  onMessage(listener: () => void): void;
  /** Our own replies refused by strict validation (a bug on our side). */
  onOwnReplyInvalid(listener: (method: string, message: string) => void): void;
}

/** The structural part of ocpp-rpc's RPCServerClient we use. */
interface ServerClient {
  readonly identity: string;
  readonly protocol: string;
  readonly handshake: { readonly remoteAddress?: string };
  handle(method: string, handler: (args: { params: unknown }) => unknown): void;
  call(method: string, params: unknown, options: { callTimeoutMs: number }): Promise<unknown>;
  close(options: { code: number; reason: string }): Promise<unknown>;
  on(event: 'close', listener: (event: { code?: number; reason?: string }) => void): void;
  on(event: 'strictValidationFailure', listener: (event: StrictFailure) => void): void;
  on(event: 'badMessage', listener: (event: { error: unknown }) => void): void;
  on(event: 'message', listener: (event: { outbound: boolean }) => void): void;
}

interface StrictFailure {
  readonly error: unknown;
  readonly method: string;
  readonly params: unknown;
  readonly outbound: boolean;
  readonly isCall: boolean;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function wrap(client: ServerClient): RpcConnection {
  return {
    identity: client.identity,
    protocol: client.protocol,
    remoteAddress: client.handshake.remoteAddress,
    handle(method, handler) {
      client.handle(method, ({ params }) => handler(params));
    },
    call: (method, params, timeoutMs) => client.call(method, params, { callTimeoutMs: timeoutMs }),
    async close(code, reason) {
      await client.close({ code, reason });
    },
    onClose(listener) {
      client.on('close', (event) => listener(event.code ?? 1006, event.reason ?? ''));
    },
    onViolation(listener) {
      client.on('strictValidationFailure', (event) => {
        // Inbound calls only: invalid answers to our calls reject the call itself; invalid replies of ours are ours.
        if (event.outbound || !event.isCall) return;
        listener({
          kind: 'call',
          method: event.method,
          code: rpcErrorCode(event.error) ?? 'FormationViolation',
          message: messageOf(event.error),
          params: event.params,
        });
      });
      client.on('badMessage', (event) => {
        listener({ kind: 'frame', code: rpcErrorCode(event.error) ?? 'RpcFrameworkError', message: messageOf(event.error) });
      });
    },
    onMessage(listener) {
      client.on('message', (event) => {
        if (!event.outbound) listener();
      });
    },
    onOwnReplyInvalid(listener) {
      client.on('strictValidationFailure', (event) => {
        if (event.outbound && !event.isCall) listener(event.method, messageOf(event.error));
      });
    },
  };
}

/** The last segment of a request URL's path, undecoded. */
function lastPathSegment(url: string | undefined): string {
  return (url ?? '').split('?')[0]?.split('/').pop() ?? '';
}

/** Answers an upgrade request with 400 and drops the connection (as ocpp-rpc's own refusals do). */
function refuseBadRequest(socket: Socket): void {
  // Nobody else listens on an upgrade socket: a write error after the client went away must not be thrown.
  socket.on('error', () => undefined);
  if (socket.writable) socket.write('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  socket.destroy();
}

/** Options of {@link createRpcServer}. */
export interface RpcServerOptions {
  /** Subprotocols in order of preference, e.g. `['ocpp1.6']`. */
  readonly protocols: readonly string[];
  readonly callTimeoutMs: number;
  readonly pingIntervalMs: number;
  /** Decide on an upgrade: accept, or refuse with an HTTP status and a reason. */
  readonly authenticate: (handshake: Handshake) => { readonly accept: true } | { readonly accept: false; readonly status: number; readonly reason: string };
  readonly onConnection: (connection: RpcConnection) => void;
  readonly onUpgradeError: (identity: string, err: unknown) => void;
  /** An upgrade request too malformed to decide on (answered 400); `identity` is the last path segment as sent. */
  readonly onBadRequest: (request: { readonly identity: string; readonly remoteAddress: string | undefined; readonly reason: string }) => void;
}

/** The WebSocket side of the central system: plug `handleUpgrade` into an HTTP(S) server's `upgrade` event. */
export interface RpcServer {
  readonly handleUpgrade: (request: IncomingMessage, socket: Socket, head: Buffer) => void;
  close(): Promise<void>;
}

/** An ocpp-rpc server with strict schema validation of every call in both directions. */
export function createRpcServer(opts: RpcServerOptions): RpcServer {
  const server = new RPCServer({
    protocols: [...opts.protocols],
    strictMode: true,
    callTimeoutMs: opts.callTimeoutMs,
    pingIntervalMs: opts.pingIntervalMs,
    respondWithDetailedErrors: false,
  });
  server.auth((accept, reject, handshake) => {
    const decision = opts.authenticate({
      identity: handshake.identity,
      password: handshake.password,
      protocols: handshake.protocols,
      remoteAddress: handshake.remoteAddress,
    });
    if (decision.accept) accept({ identity: handshake.identity });
    else reject(decision.status, decision.reason);
  });
  server.on('client', (client: ServerClient) => opts.onConnection(wrap(client)));
  server.on('upgradeAborted', (event: { identity: string; error: unknown }) => opts.onUpgradeError(event.identity, event.error));
  const upgrade = server.handleUpgrade;
  return {
    handleUpgrade: (request, socket, head) => {
      // ocpp-rpc decodes the identity before its own error handling: a path that is not valid percent-encoding
      // (`/ocpp/%E0%A4%A`) rejects its promise without an answer to the client. Unhandled, that would stop the service.
      const remoteAddress = socket.remoteAddress;
      upgrade(request, socket, head).catch((err: unknown) => {
        refuseBadRequest(socket);
        opts.onBadRequest({ identity: lastPathSegment(request.url), remoteAddress, reason: `malformed upgrade request: ${messageOf(err)}` });
      });
    },
    close: () => server.close({ code: 1001, reason: 'central system shutting down' }),
  };
}
