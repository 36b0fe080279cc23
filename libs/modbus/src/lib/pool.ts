import {
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  circuitBreaker,
  handleWhen,
  isBrokenCircuitError,
  retry,
  type CircuitBreakerPolicy,
  type RetryPolicy,
} from 'cockatiel';
import type { Logger } from 'pino';
import { ModbusConnection, type ModbusConnectionHealth, type ReconnectOptions } from './connection';
import { endpointDifferences, resolveEndpoint, type ModbusEndpoint } from './endpoint';
import {
  CircuitOpenError,
  ModbusConfigError,
  ModbusConnectionError,
  ModbusExceptionError,
  isRetryableModbusError,
} from './errors';
import { openModbusSerialLink, type LinkOpener } from './link';
import {
  readOperation,
  writeOperation,
  type ModbusOperation,
  type ModbusReadRange,
  type ModbusReadRequest,
  type ModbusRegisterWrite,
  type ModbusWriteRequest,
  type ModbusWriteResult,
} from './requests';

/** Retry of one request: exponential backoff with decorrelated jitter between attempts. */
export interface ModbusRetryOptions {
  /** Attempts in total, including the first (default 3; 1 = no retry). */
  readonly attempts: number;
  /** Scale of the first backoff, ms (default 100; jittered). */
  readonly initialDelayMs: number;
  /** Upper bound of one backoff, ms (default 2000). */
  readonly maxDelayMs: number;
}

/** The circuit breaker of each unit. */
export interface ModbusBreakerOptions {
  /** Failed attempts in a row (retryable errors only) that open the breaker (default 5). */
  readonly consecutiveFailures: number;
  /** Cool-down after opening before one probe request is let through (half-open), ms (default 10 000). */
  readonly halfOpenAfterMs: number;
}

/** Options of a {@link ModbusPool}. Durations in ms. */
export interface ModbusPoolOptions {
  /** Connection and breaker events are logged here (a child of the service logger). */
  readonly log: Logger;
  /** Per-request timeout on the wire, ms (default 5000). Unit clients may override it. */
  readonly timeoutMs?: number;
  readonly retry?: Partial<ModbusRetryOptions>;
  readonly breaker?: Partial<ModbusBreakerOptions>;
  /** Backoff between failed connect attempts per endpoint (defaults 250 ms initial, 10 000 ms max). */
  readonly reconnect?: Partial<ReconnectOptions>;
  /**
   * Close and reopen the connection after a timeout (default true): the only way to be sure a late or partial
   * answer (RTU framing has no transaction id) is not taken for the next response.
   */
  readonly resetOnTimeout?: boolean;
}

/** Per-unit overrides for {@link ModbusPool.client}. */
export interface ModbusUnitOptions {
  /** Per-request timeout on the wire, ms (default: the pool's). */
  readonly timeoutMs?: number;
  /** Attempts in total (default: the pool's). */
  readonly attempts?: number;
  /** Always write with FC16, also single words: for devices that do not implement FC06 (default false). */
  readonly forceFc16?: boolean;
}

/** Circuit breaker state of a unit. */
export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

/** Emitted on every breaker transition (open, half-open, closed). */
export interface BreakerStateChange {
  /** Endpoint key (`host:port` or serial path). */
  readonly endpoint: string;
  readonly unitId: number;
  readonly state: BreakerState;
  readonly previous: BreakerState;
  /** Epoch ms of the transition. */
  readonly atMs: number;
  /** With `open`: the failure that opened it. */
  readonly lastError?: Error;
}

/** Observable state of one unit, for health and telemetry quality. */
export interface ModbusUnitHealth {
  readonly endpoint: string;
  readonly unitId: number;
  readonly breaker: BreakerState;
  /** Failed attempts in a row as the breaker counts them. */
  readonly consecutiveFailures: number;
  /** Epoch ms of the last successful transaction (or exception 1–3 answer: the unit is alive). */
  readonly lastSuccessAtMs?: number;
  /** Epoch ms of the last retryable failure. */
  readonly lastFailureAtMs?: number;
  /** The last retryable failure. */
  readonly lastError?: Error;
}

/** Health of every endpoint and unit the pool knows. */
export interface ModbusPoolHealth {
  readonly endpoints: readonly ModbusConnectionHealth[];
  readonly units: readonly ModbusUnitHealth[];
}

/** A handle for one unit id behind one endpoint; cheap, the connection and the breaker are shared. */
export interface ModbusUnitClient {
  /** Endpoint key (`host:port` or serial path). */
  readonly endpoint: string;
  readonly unitId: number;
  /** Read a block: register words (0..65535) for `holding`/`input`, 0/1 per bit for `coil`/`discrete`. */
  read(range: ModbusReadRange): Promise<number[]>;
  /** Write raw words to holding registers: FC06 for one word, FC16 for several (or always with `forceFc16`). */
  write(write: ModbusRegisterWrite): Promise<ModbusWriteResult>;
  breakerState(): BreakerState;
  health(): ModbusUnitHealth;
}

/** Listener for {@link ModbusPool.onBreakerStateChange}. */
export type BreakerListener = (change: BreakerStateChange) => void;

interface UnitEntry {
  readonly endpoint: string;
  readonly unitId: number;
  readonly breaker: CircuitBreakerPolicy;
  readonly counter: ConsecutiveBreaker;
  state: BreakerState;
  lastSuccessAtMs?: number;
  lastFailureAtMs?: number;
  lastError?: Error;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_RETRY: ModbusRetryOptions = { attempts: 3, initialDelayMs: 100, maxDelayMs: 2_000 };
const DEFAULT_BREAKER: ModbusBreakerOptions = { consecutiveFailures: 5, halfOpenAfterMs: 10_000 };
const DEFAULT_RECONNECT: ReconnectOptions = { initialDelayMs: 250, maxDelayMs: 10_000 };

const BREAKER_STATES: Readonly<Record<CircuitState, BreakerState>> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'isolated',
};

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new ModbusConfigError(`${name} must be an integer ≥ 1, got ${value}`);
  return value;
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new ModbusConfigError(`${name} must be a number > 0, got ${value}`);
  return value;
}

/**
 * Modbus connections keyed by physical endpoint, shared by all unit ids behind each; every request goes through
 * retry (exponential backoff with jitter) → the unit's circuit breaker → the endpoint's serial queue → a timeout.
 *
 * The breaker is per unit, not per endpoint: on an RS485 gateway one dead or unplugged device must not take its
 * healthy neighbours offline, and an open breaker keeps the dead one from eating bus time with timeouts. When the
 * whole endpoint is down, every unit's breaker opens on its own (connect failures are cheap and backed off).
 */
export class ModbusPool {
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly retryOptions: ModbusRetryOptions;
  private readonly breakerOptions: ModbusBreakerOptions;
  private readonly reconnect: ReconnectOptions;
  private readonly resetOnTimeout: boolean;
  private readonly connections = new Map<string, ModbusConnection>();
  private readonly units = new Map<string, UnitEntry>();
  private readonly listeners = new Set<BreakerListener>();
  private closed = false;

  constructor(
    options: ModbusPoolOptions,
    /** Transport factory; tests may pass a fake. */
    private readonly openLink: LinkOpener = openModbusSerialLink,
  ) {
    this.log = options.log;
    this.timeoutMs = positive('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.retryOptions = { ...DEFAULT_RETRY, ...options.retry };
    positiveInt('retry.attempts', this.retryOptions.attempts);
    this.breakerOptions = { ...DEFAULT_BREAKER, ...options.breaker };
    positiveInt('breaker.consecutiveFailures', this.breakerOptions.consecutiveFailures);
    positive('breaker.halfOpenAfterMs', this.breakerOptions.halfOpenAfterMs);
    this.reconnect = { ...DEFAULT_RECONNECT, ...options.reconnect };
    this.resetOnTimeout = options.resetOnTimeout ?? true;
  }

  /**
   * A unit-scoped client. The first call for an endpoint key creates its connection (opened lazily by the first
   * request); later calls must describe the endpoint identically or get a {@link ModbusConfigError}.
   */
  client(endpoint: ModbusEndpoint, unitId: number, options: ModbusUnitOptions = {}): ModbusUnitClient {
    if (!Number.isInteger(unitId) || unitId < 0 || unitId > 255) {
      throw new RangeError(`unit id must be an integer 0..255, got ${unitId}`);
    }
    const connection = this.connection(endpoint);
    const unit = this.unit(connection.key, unitId);
    const timeoutMs = positive('timeoutMs', options.timeoutMs ?? this.timeoutMs);
    const attempts = positiveInt('attempts', options.attempts ?? this.retryOptions.attempts);
    const forceFc16 = options.forceFc16 ?? false;
    const retryPolicy = retry(handleWhen(isRetryableModbusError), {
      maxAttempts: attempts - 1,
      backoff: new ExponentialBackoff({
        initialDelay: this.retryOptions.initialDelayMs,
        maxDelay: this.retryOptions.maxDelayMs,
      }),
    });
    retryPolicy.onRetry((event) => {
      const err = 'error' in event ? event.error : undefined;
      this.log.debug(
        { endpoint: unit.endpoint, unitId, attempt: event.attempt, delayMs: Math.round(event.delay), err },
        'modbus request retry',
      );
    });
    const run = (op: ModbusOperation) => this.execute(connection, unit, retryPolicy, op, timeoutMs);
    return {
      endpoint: connection.key,
      unitId,
      read: async (range) => [...(await run(readOperation(unitId, range)))],
      write: async (write) => {
        const op = writeOperation(unitId, write, forceFc16);
        await run(op);
        return { functionCode: op.functionCode, address: op.address, count: op.words.length };
      },
      breakerState: () => unit.state,
      health: () => this.unitHealth(unit),
    };
  }

  /** One read, addressed by the request's unit id (a shortcut for `client(endpoint, unitId).read(request)`). */
  read(endpoint: ModbusEndpoint, request: ModbusReadRequest): Promise<number[]> {
    return this.client(endpoint, request.unitId).read(request);
  }

  /** One write, addressed by the request's unit id. */
  write(endpoint: ModbusEndpoint, request: ModbusWriteRequest): Promise<ModbusWriteResult> {
    return this.client(endpoint, request.unitId).write(request);
  }

  /** Breaker state of a unit (`closed` for a unit never used). */
  breakerState(endpoint: ModbusEndpoint, unitId: number): BreakerState {
    return this.units.get(unitKey(resolveEndpoint(endpoint).key, unitId))?.state ?? 'closed';
  }

  /** Subscribe to breaker transitions of every unit; returns the unsubscribe function. */
  onBreakerStateChange(listener: BreakerListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  health(): ModbusPoolHealth {
    return {
      endpoints: [...this.connections.values()].map((c) => c.health()),
      units: [...this.units.values()].map((u) => this.unitHealth(u)),
    };
  }

  /** Close every connection; queued and later requests fail with a non-retryable ModbusConnectionError. */
  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    await Promise.all([...this.connections.values()].map((c) => c.close()));
  }

  private connection(endpoint: ModbusEndpoint): ModbusConnection {
    const resolved = resolveEndpoint(endpoint);
    const existing = this.connections.get(resolved.key);
    if (existing) {
      const differences = endpointDifferences(existing.endpoint, resolved);
      if (differences.length > 0) {
        throw new ModbusConfigError(
          `endpoint ${resolved.key} is already in use with different settings: ${differences.join(', ')}`,
        );
      }
      return existing;
    }
    const connection = new ModbusConnection({
      endpoint: resolved,
      log: this.log,
      openLink: this.openLink,
      reconnect: this.reconnect,
      resetOnTimeout: this.resetOnTimeout,
    });
    if (this.closed) void connection.close();
    this.connections.set(resolved.key, connection);
    return connection;
  }

  private unit(endpoint: string, unitId: number): UnitEntry {
    const key = unitKey(endpoint, unitId);
    const existing = this.units.get(key);
    if (existing) return existing;
    const counter = new ConsecutiveBreaker(this.breakerOptions.consecutiveFailures);
    const breaker = circuitBreaker(handleWhen(isRetryableModbusError), {
      halfOpenAfter: this.breakerOptions.halfOpenAfterMs,
      breaker: counter,
    });
    const entry: UnitEntry = { endpoint, unitId, breaker, counter, state: 'closed' };
    breaker.onStateChange((circuitState) => this.breakerChanged(entry, BREAKER_STATES[circuitState]));
    this.units.set(key, entry);
    return entry;
  }

  private breakerChanged(unit: UnitEntry, state: BreakerState): void {
    const previous = unit.state;
    unit.state = state;
    const change: BreakerStateChange = {
      endpoint: unit.endpoint,
      unitId: unit.unitId,
      state,
      previous,
      atMs: Date.now(),
      ...(state === 'open' && unit.lastError ? { lastError: unit.lastError } : {}),
    };
    const fields = { endpoint: unit.endpoint, unitId: unit.unitId, state, previous };
    if (state === 'open') this.log.warn({ ...fields, err: unit.lastError }, 'modbus circuit opened');
    else if (state === 'closed') this.log.info(fields, 'modbus circuit closed');
    else this.log.debug(fields, 'modbus circuit probing');
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (err) {
        this.log.error({ err, ...fields }, 'breaker listener failed');
      }
    }
  }

  private async execute(
    connection: ModbusConnection,
    unit: UnitEntry,
    retryPolicy: RetryPolicy,
    op: ModbusOperation,
    timeoutMs: number,
  ): Promise<readonly number[]> {
    if (this.closed) throw new ModbusConnectionError(connection.key, 'closed', 'the Modbus pool is closed');
    return retryPolicy.execute(async () => {
      try {
        return await unit.breaker.execute(async () => {
          try {
            const words = await connection.run(op, timeoutMs);
            unit.lastSuccessAtMs = Date.now();
            return words;
          } catch (err) {
            if (isRetryableModbusError(err)) {
              unit.lastError = err;
              unit.lastFailureAtMs = Date.now();
            } else if (err instanceof ModbusExceptionError) {
              // an exception 1, 2, 3 … answer still proves the unit is alive
              unit.lastSuccessAtMs = Date.now();
            }
            throw err;
          }
        });
      } catch (err) {
        if (isBrokenCircuitError(err)) {
          throw new CircuitOpenError(connection.key, unit.unitId, { cause: unit.lastError ?? err });
        }
        throw err;
      }
    });
  }

  private unitHealth(unit: UnitEntry): ModbusUnitHealth {
    return {
      endpoint: unit.endpoint,
      unitId: unit.unitId,
      breaker: unit.state,
      consecutiveFailures: unit.counter.state,
      ...(unit.lastSuccessAtMs === undefined ? {} : { lastSuccessAtMs: unit.lastSuccessAtMs }),
      ...(unit.lastFailureAtMs === undefined ? {} : { lastFailureAtMs: unit.lastFailureAtMs }),
      ...(unit.lastError === undefined ? {} : { lastError: unit.lastError }),
    };
  }
}

function unitKey(endpoint: string, unitId: number): string {
  return `${endpoint}#${unitId}`;
}
