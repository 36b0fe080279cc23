// Real sockets on 127.0.0.1 against a fault-injecting Modbus TCP server written for these tests.
import { pino } from 'pino';
import {
  closedPort,
  mbap,
  startFaultServer,
  type FaultAction,
  type FaultRequest,
  type FaultServer,
} from '../testing/fault-server';
import { waitFor } from '../testing/wait';
import type { ModbusEndpoint } from './endpoint';
import {
  CircuitOpenError,
  ModbusConnectionError,
  ModbusExceptionError,
  ModbusProtocolError,
  ModbusTimeoutError,
} from './errors';
import { ModbusPool, type BreakerStateChange, type ModbusPoolOptions } from './pool';

const log = pino({ level: 'silent' });
const HALF_OPEN_AFTER_MS = 200;
const FAILURES_TO_OPEN = 3;
const TIMEOUT_MS = 150;
/**
 * For tests where every request must succeed: the server runs in this process, so after an event-loop stall of more
 * than TIMEOUT_MS the timer would fire before the answer waiting in the socket is read (a retry, a new connection).
 */
const SUCCESS_TIMEOUT_MS = 2_000;

const poolOptions: ModbusPoolOptions = {
  log,
  timeoutMs: TIMEOUT_MS,
  retry: { attempts: 3, initialDelayMs: 5, maxDelayMs: 10 },
  breaker: { consecutiveFailures: FAILURES_TO_OPEN, halfOpenAfterMs: HALF_OPEN_AFTER_MS },
  reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
};

const tcp = (port: number, extra: Partial<ModbusEndpoint> = {}): ModbusEndpoint =>
  ({ transport: 'tcp', host: '127.0.0.1', port, ...extra }) as ModbusEndpoint;
const HOLDING_0_2 = { table: 'holding', address: 0, count: 2 } as const;
const answer: FaultAction = { kind: 'answer' };

let server: FaultServer | undefined;
let pool: ModbusPool | undefined;
let changes: BreakerStateChange[] = [];

function newPool(options: Partial<ModbusPoolOptions> = {}): ModbusPool {
  pool = new ModbusPool({ ...poolOptions, ...options });
  changes = [];
  pool.onBreakerStateChange((change) => changes.push(change));
  return pool;
}

afterEach(async () => {
  await pool?.close();
  await server?.close();
  pool = undefined;
  server = undefined;
});

/** Read until the breaker lets a probe through and it succeeds. */
async function readUntilRecovered(read: () => Promise<number[]>): Promise<number[]> {
  let words: number[] | undefined;
  await waitFor(
    async () => {
      words = await read().catch(() => undefined);
      return words !== undefined;
    },
    { timeoutMs: 5_000, what: 'a successful probe' },
  );
  return words ?? [];
}

/** After the breaker opened: the next request is refused unsent, a probe after the cool-down succeeds and closes it. */
async function expectBreakerRecovers(fault: FaultServer, read: () => Promise<number[]>): Promise<void> {
  const sent = fault.requests.length;
  await expect(read()).rejects.toBeInstanceOf(CircuitOpenError);
  expect(fault.requests).toHaveLength(sent);

  fault.setHandler(() => answer);
  await expect(readUntilRecovered(read)).resolves.toEqual([0, 1]);
  expect(changes.map((c) => c.state)).toEqual(['open', 'half-open', 'closed']);
  const [opened, , closed] = changes;
  // lower bound only; -1: the breaker and the event stamp Date.now() separately, at millisecond resolution
  expect(closed!.atMs - opened!.atMs).toBeGreaterThanOrEqual(HALF_OPEN_AFTER_MS - 1);
}

/** A frame with our transaction id but a register count that does not match the request. */
const malformed = (req: FaultRequest) => mbap(req.transactionId, Buffer.from([req.unitId, req.functionCode, 2, 0, 1]));

describe('ModbusPool against a faulty Modbus TCP server', () => {
  it.each([
    {
      fault: 'drops the connection mid-transaction',
      action: { kind: 'drop' } as FaultAction,
      error: ModbusConnectionError,
    },
    {
      fault: 'answers exception 4',
      action: { kind: 'exception', code: 4 } as FaultAction,
      error: ModbusExceptionError,
    },
    {
      fault: 'answers exception 6',
      action: { kind: 'exception', code: 6 } as FaultAction,
      error: ModbusExceptionError,
    },
    {
      fault: 'answers after the timeout',
      action: { kind: 'late', afterMs: TIMEOUT_MS * 3, words: [0xdead, 0xbeef] } as FaultAction,
      error: ModbusTimeoutError,
    },
    {
      fault: 'answers with garbage bytes',
      action: { kind: 'raw', bytes: Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n') } as FaultAction,
      error: ModbusTimeoutError,
    },
    {
      fault: 'answers with a malformed frame',
      action: { kind: 'raw', bytes: malformed } as FaultAction,
      error: ModbusProtocolError,
    },
  ])('when the server $fault: typed error, breaker opens, a later probe closes it', async ({ action, error }) => {
    server = await startFaultServer(() => action);
    const unit = newPool().client(tcp(server.port), 1);
    const read = () => unit.read(HOLDING_0_2);

    const err = await read().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(error);
    expect(unit.breakerState()).toBe('open');
    expect(changes).toEqual([
      expect.objectContaining({ state: 'open', unitId: 1, endpoint: `127.0.0.1:${server.port}` }),
    ]);
    await expectBreakerRecovers(server, read);
  });

  it('fails at once, not after the timeout, when the server resets the connection mid-transaction', async () => {
    server = await startFaultServer(() => ({ kind: 'reset' }));
    // modbus-serial alone would not notice: its TcpPort swallows the close that follows ECONNRESET
    const unit = newPool().client(tcp(server.port), 1, { attempts: 1, timeoutMs: 4_000 });
    const err = await unit.read(HOLDING_0_2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModbusConnectionError);
    expect(err).toMatchObject({ reason: 'connection-lost' });
  });

  it.each([4, 6])('retries exception %i: the server sees every attempt', async (code) => {
    server = await startFaultServer(() => ({ kind: 'exception', code }));
    const err = await newPool()
      .client(tcp(server.port), 1)
      .read(HOLDING_0_2)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ModbusExceptionError', code, retryable: true });
    expect(server.requests).toHaveLength(3);
  });

  it('does not retry exception 2 and does not open the breaker for it', async () => {
    server = await startFaultServer(() => ({ kind: 'exception', code: 2 }));
    const unit = newPool().client(tcp(server.port), 1);
    for (let i = 0; i < FAILURES_TO_OPEN + 2; i++) {
      const err = await unit.read(HOLDING_0_2).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ModbusExceptionError);
      expect(err).toMatchObject({ code: 2, exceptionName: 'illegal-data-address', retryable: false });
    }
    expect(server.requests).toHaveLength(FAILURES_TO_OPEN + 2);
    expect(unit.breakerState()).toBe('closed');
  });

  it('refuses the connection (closed port): connection error, breaker opens, recovers when the server appears', async () => {
    const port = await closedPort();
    const unit = newPool().client(tcp(port), 1);
    const read = () => unit.read(HOLDING_0_2);

    const err = await read().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModbusConnectionError);
    expect(['connect-failed', 'reconnect-backoff']).toContain((err as ModbusConnectionError).reason);
    expect(unit.breakerState()).toBe('open');
    expect(unit.health().lastError).toBeInstanceOf(ModbusConnectionError);

    server = await startFaultServer(() => ({ kind: 'silent' }), port);
    await expectBreakerRecovers(server, read);
  });

  it('does not take a late answer for the response to the next request', async () => {
    server = await startFaultServer((req) =>
      req.connection === 1 ? { kind: 'late', afterMs: TIMEOUT_MS + 50, words: [0xdead, 0xbeef] } : answer,
    );
    const p = newPool();
    const unit = p.client(tcp(server.port), 1, { attempts: 1 });
    await expect(unit.read(HOLDING_0_2)).rejects.toBeInstanceOf(ModbusTimeoutError);
    // The same unit with a timeout a stalled event loop cannot reach (the answer is in the socket before the timer).
    const patient = p.client(tcp(server.port), 1, { attempts: 1, timeoutMs: SUCCESS_TIMEOUT_MS });
    await expect(patient.read(HOLDING_0_2)).resolves.toEqual([0, 1]);
    expect(server.connectionCount).toBe(2);
  });

  it('serves two unit ids behind one connection in the order they were asked', async () => {
    server = await startFaultServer((req) => ({ kind: 'answer', words: [req.unitId * 100, req.address] }));
    const p = newPool({ timeoutMs: SUCCESS_TIMEOUT_MS });
    const endpoint = tcp(server.port);
    const unit1 = p.client(endpoint, 1);
    const unit2 = p.client(endpoint, 2);
    const results = await Promise.all([
      unit1.read({ table: 'holding', address: 1, count: 2 }),
      unit2.read({ table: 'input', address: 2, count: 2 }),
      unit1.read({ table: 'holding', address: 3, count: 2 }),
      unit2.read({ table: 'input', address: 4, count: 2 }),
    ]);
    expect(results).toEqual([
      [100, 1],
      [200, 2],
      [100, 3],
      [200, 4],
    ]);
    expect(server.requests.map((r) => [r.unitId, r.functionCode, r.address])).toEqual([
      [1, 3, 1],
      [2, 4, 2],
      [1, 3, 3],
      [2, 4, 4],
    ]);
    expect(server.connectionCount).toBe(1);
  });

  it('keeps the inter-frame gap between requests as the server sees them', async () => {
    const gapMs = 40;
    server = await startFaultServer();
    const endpoint = tcp(server.port, { interFrameGapMs: gapMs });
    const p = newPool({ timeoutMs: SUCCESS_TIMEOUT_MS });
    await Promise.all([1, 2, 3, 1].map((unitId) => p.client(endpoint, unitId).read(HOLDING_0_2)));
    const arrivals = server.requests.map((r) => r.atMs);
    for (let i = 1; i < arrivals.length; i++) expect(arrivals[i]! - arrivals[i - 1]!).toBeGreaterThanOrEqual(gapMs);
  });

  it('keeps the settle time after a write', async () => {
    const settleMs = 60;
    server = await startFaultServer();
    const unit = newPool({ timeoutMs: SUCCESS_TIMEOUT_MS }).client(
      tcp(server.port, { settleAfterWriteMs: settleMs }),
      1,
    );
    await Promise.all([unit.write({ address: 0, words: [1] }), unit.read(HOLDING_0_2)]);
    const [write, read] = server.requests;
    expect(write!.functionCode).toBe(6);
    expect(read!.atMs - write!.atMs).toBeGreaterThanOrEqual(settleMs);
  });
});

describe('reconnect', () => {
  it('reconnects on the next request after the server closed the socket', async () => {
    server = await startFaultServer();
    const p = newPool({ timeoutMs: SUCCESS_TIMEOUT_MS });
    const unit = p.client(tcp(server.port), 1, { attempts: 1 });
    await expect(unit.read(HOLDING_0_2)).resolves.toEqual([0, 1]);

    server.closeClients();
    await waitFor(() => p.health().endpoints[0]?.connected === false, { what: 'the client to notice the close' });
    await expect(unit.read(HOLDING_0_2)).resolves.toEqual([0, 1]);
    expect(server.connectionCount).toBe(2);
    expect(p.health().endpoints[0]).toMatchObject({ connected: true, connectFailures: 0 });
  });

  it('recovers when a request races the server closing the socket', async () => {
    server = await startFaultServer();
    const unit = newPool().client(tcp(server.port), 1);
    await unit.read(HOLDING_0_2);
    server.closeClients();
    await expect(unit.read(HOLDING_0_2)).resolves.toEqual([0, 1]);
  });

  it('never keeps a dead client: every request after a server restart goes to a fresh connection', async () => {
    server = await startFaultServer();
    const port = server.port;
    const unit = newPool().client(tcp(port), 1);
    await unit.read(HOLDING_0_2);
    await server.close();
    server = await startFaultServer(undefined, port);
    await expect(unit.read(HOLDING_0_2)).resolves.toEqual([0, 1]);
    expect(server.connectionCount).toBe(1);
  });
});
