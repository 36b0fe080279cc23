/** Name of a Modbus exception code (Modbus Application Protocol v1.1b3, §7). */
export type ModbusExceptionName =
  | 'illegal-function'
  | 'illegal-data-address'
  | 'illegal-data-value'
  | 'server-device-failure'
  | 'acknowledge'
  | 'server-device-busy'
  | 'negative-acknowledge'
  | 'memory-parity-error'
  | 'gateway-path-unavailable'
  | 'gateway-target-failed-to-respond'
  | 'unknown';

const EXCEPTION_NAMES: Readonly<Record<number, ModbusExceptionName>> = {
  1: 'illegal-function',
  2: 'illegal-data-address',
  3: 'illegal-data-value',
  4: 'server-device-failure',
  5: 'acknowledge',
  6: 'server-device-busy',
  7: 'negative-acknowledge',
  8: 'memory-parity-error',
  10: 'gateway-path-unavailable',
  11: 'gateway-target-failed-to-respond',
};

/**
 * Exception codes worth repeating the same request for: a transient device or gateway condition. 1–3 are
 * permanent for that request (wrong function, address or value) and 5/7/8 mean the device took or refused a
 * long-running command, so repeating it is not safe.
 */
const RETRYABLE_EXCEPTIONS: ReadonlySet<number> = new Set([4, 6, 10, 11]);

/** The name of exception `code` (`'unknown'` for codes the specification does not define). */
export function modbusExceptionName(code: number): ModbusExceptionName {
  return EXCEPTION_NAMES[code] ?? 'unknown';
}

/** Whether a request that got exception `code` may succeed when sent again (4, 6, 10, 11). */
export function isRetryableExceptionCode(code: number): boolean {
  return RETRYABLE_EXCEPTIONS.has(code);
}

/** The device (or gateway) did not answer within `timeoutMs`; also what an unknown unit id looks like. */
export class ModbusTimeoutError extends Error {
  override readonly name = 'ModbusTimeoutError';
  readonly retryable = true;
  constructor(
    /** Endpoint key (`host:port` or serial path). */
    readonly endpoint: string,
    readonly unitId: number,
    /** The per-request timeout that elapsed, ms. */
    readonly timeoutMs: number,
    options?: ErrorOptions,
  ) {
    super(`unit ${unitId} at ${endpoint} did not answer within ${timeoutMs} ms`, options);
  }
}

/** The device answered with a Modbus exception response (function code | 0x80). */
export class ModbusExceptionError extends Error {
  override readonly name = 'ModbusExceptionError';
  /** True for 4 (server device failure), 6 (busy), 10 and 11 (gateway); false otherwise. */
  readonly retryable: boolean;
  /** The exception code's name, e.g. `'illegal-data-address'` for 2. */
  readonly exceptionName: ModbusExceptionName;
  constructor(
    readonly endpoint: string,
    readonly unitId: number,
    /** The function code of the request (3, 4, 6, 16, …). */
    readonly functionCode: number,
    /** First register or bit address of the request (0-based protocol address). */
    readonly address: number,
    /** The Modbus exception code (1..11). */
    readonly code: number,
    options?: ErrorOptions,
  ) {
    const exceptionName = modbusExceptionName(code);
    super(
      `unit ${unitId} at ${endpoint} answered FC${functionCode} @${address} with exception ${code} (${exceptionName})`,
      options,
    );
    this.exceptionName = exceptionName;
    this.retryable = isRetryableExceptionCode(code);
  }
}

/** Why a connection-level failure happened. */
export type ModbusConnectionFailure =
  /** Connecting failed: refused, unreachable, serial port missing or busy. */
  | 'connect-failed'
  /** Connecting took longer than `connectTimeoutMs`. */
  | 'connect-timeout'
  /** The peer closed the socket or the serial port closed or errored, possibly mid-transaction. */
  | 'connection-lost'
  /** A previous connect failed and the reconnect backoff has not elapsed yet; nothing was sent. */
  | 'reconnect-backoff'
  /** The pool was closed. Not retryable. */
  | 'closed';

/** The transport to the endpoint is not usable (socket or serial port). */
export class ModbusConnectionError extends Error {
  override readonly name = 'ModbusConnectionError';
  /** False only once the pool is closed. */
  readonly retryable: boolean;
  /** With `reconnect-backoff`: how long until the next connect attempt is allowed, ms. */
  readonly retryInMs: number | undefined;
  constructor(
    readonly endpoint: string,
    readonly reason: ModbusConnectionFailure,
    message: string,
    options?: ErrorOptions & {
      /** With `reconnect-backoff`: how long until the next connect attempt is allowed, ms. */
      readonly retryInMs?: number;
    },
  ) {
    super(`${endpoint}: ${message}`, options);
    this.retryable = reason !== 'closed';
    this.retryInMs = options?.retryInMs;
  }
}

/**
 * The answer did not parse as the response to our request (garbage bytes, wrong length, wrong unit or function
 * code). The connection is reset because its byte stream can no longer be trusted.
 */
export class ModbusProtocolError extends Error {
  override readonly name = 'ModbusProtocolError';
  readonly retryable = true;
  constructor(
    readonly endpoint: string,
    readonly unitId: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`unit ${unitId} at ${endpoint}: ${message}`, options);
  }
}

/**
 * The unit's circuit breaker is open after repeated failures: the request was not sent. The breaker lets one probe
 * through after its cool-down (`halfOpenAfterMs`); retrying sooner is pointless. `cause` is the last failure.
 */
export class CircuitOpenError extends Error {
  override readonly name = 'CircuitOpenError';
  readonly retryable = false;
  constructor(
    readonly endpoint: string,
    readonly unitId: number,
    options?: ErrorOptions,
  ) {
    super(`circuit open for unit ${unitId} at ${endpoint}: request not sent`, options);
  }
}

/** The same endpoint was registered twice with different settings (transport, serial line, timing). */
export class ModbusConfigError extends Error {
  override readonly name = 'ModbusConfigError';
  readonly retryable = false;
}

/** Any error this library throws for a request. */
export type ModbusError =
  | ModbusTimeoutError
  | ModbusExceptionError
  | ModbusConnectionError
  | ModbusProtocolError
  | CircuitOpenError;

/** True when `err` is one of this library's request errors ({@link ModbusError}). */
export function isModbusError(err: unknown): err is ModbusError {
  return (
    err instanceof ModbusTimeoutError ||
    err instanceof ModbusExceptionError ||
    err instanceof ModbusConnectionError ||
    err instanceof ModbusProtocolError ||
    err instanceof CircuitOpenError
  );
}

/** True when `err` is a {@link ModbusError} whose request may succeed if sent again. */
export function isRetryableModbusError(err: unknown): err is ModbusError {
  return isModbusError(err) && err.retryable;
}
