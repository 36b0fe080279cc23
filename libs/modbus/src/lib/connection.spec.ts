import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { pino } from 'pino';
import { ModbusConnection, type ReconnectOptions } from './connection';
import { resolveEndpoint, type ModbusEndpoint } from './endpoint';
import { ModbusConnectionError, ModbusExceptionError, ModbusProtocolError, ModbusTimeoutError } from './errors';
import type { LinkOpener, ModbusLink } from './link';
import { readOperation, writeOperation, type ModbusOperation } from './requests';

const log = pino({ level: 'silent' });

type Behaviour = (op: ModbusOperation, link: FakeLink) => Promise<readonly number[]>;

interface Call {
  readonly op: ModbusOperation;
  readonly startMs: number;
  endMs?: number;
}

/** An in-memory link: runs `behaviour` per transaction and records what it saw. */
class FakeLink implements ModbusLink {
  isOpen = true;
  private readonly listeners: Array<(cause: unknown) => void> = [];
  private pendingReject: ((err: Error) => void) | undefined;

  constructor(
    private readonly behaviour: Behaviour,
    readonly calls: Call[],
    private readonly concurrency: { now: number; max: number },
  ) {}

  execute(op: ModbusOperation): Promise<readonly number[]> {
    const call: Call = { op, startMs: performance.now() };
    this.calls.push(call);
    this.concurrency.now += 1;
    this.concurrency.max = Math.max(this.concurrency.max, this.concurrency.now);
    return new Promise<readonly number[]>((resolve, reject) => {
      this.pendingReject = reject;
      this.behaviour(op, this).then(resolve, reject);
    }).finally(() => {
      call.endMs = performance.now();
      this.concurrency.now -= 1;
      this.pendingReject = undefined;
    });
  }

  onClose(listener: (cause: unknown) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.die(undefined);
  }

  /** The transport dies: the transaction in flight fails, listeners hear about it. */
  die(cause: unknown): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.pendingReject?.(new ModbusConnectionError('fake', 'connection-lost', 'closed during the transaction'));
    for (const listener of this.listeners.splice(0)) listener(cause);
  }
}

function setup(
  options: {
    endpoint?: Partial<ModbusEndpoint>;
    behaviour?: Behaviour;
    resetOnTimeout?: boolean;
    reconnect?: ReconnectOptions;
    failConnects?: number;
  } = {},
) {
  const calls: Call[] = [];
  const concurrency = { now: 0, max: 0 };
  const links: FakeLink[] = [];
  let failConnects = options.failConnects ?? 0;
  let behaviour: Behaviour = options.behaviour ?? (async (op) => (op.kind === 'read' ? Array(op.count).fill(7) : []));
  const openLink: LinkOpener = async () => {
    if (failConnects > 0) {
      failConnects -= 1;
      throw new ModbusConnectionError('fake', 'connect-failed', 'connect ECONNREFUSED');
    }
    const link = new FakeLink((op, l) => behaviour(op, l), calls, concurrency);
    links.push(link);
    return link;
  };
  let opens = 0;
  const countingOpen: LinkOpener = (endpoint) => {
    opens += 1;
    return openLink(endpoint);
  };
  const connection = new ModbusConnection({
    endpoint: resolveEndpoint({ transport: 'tcp', host: 'fake', ...options.endpoint } as ModbusEndpoint),
    log,
    openLink: countingOpen,
    reconnect: options.reconnect ?? { initialDelayMs: 10_000, maxDelayMs: 10_000 },
    resetOnTimeout: options.resetOnTimeout ?? true,
  });
  return {
    connection,
    calls,
    concurrency,
    links,
    opens: () => opens,
    setBehaviour: (next: Behaviour) => {
      behaviour = next;
    },
  };
}

const read = (unitId: number, address = 0) => readOperation(unitId, { table: 'holding', address, count: 1 });
const slow: Behaviour = async (op) => {
  await delay(5);
  return op.kind === 'read' ? Array(op.count).fill(op.unitId) : [];
};

describe('ModbusConnection queue', () => {
  it('keeps one transaction in flight at a time and serves them in arrival order across unit ids', async () => {
    const t = setup({ behaviour: slow });
    const results = await Promise.all([1, 2, 1, 3, 2].map((unitId) => t.connection.run(read(unitId), 1000)));
    expect(results).toEqual([[1], [2], [1], [3], [2]]);
    expect(t.concurrency.max).toBe(1);
    expect(t.calls.map((c) => c.op.unitId)).toEqual([1, 2, 1, 3, 2]);
    expect(t.opens()).toBe(1);
  });

  it('leaves at least the inter-frame gap between the end of one transaction and the start of the next', async () => {
    const t = setup({ behaviour: slow, endpoint: { interFrameGapMs: 30 } });
    await Promise.all([1, 2, 3].map((unitId) => t.connection.run(read(unitId), 1000)));
    for (let i = 1; i < t.calls.length; i++) {
      const previous = t.calls[i - 1]!;
      expect(t.calls[i]!.startMs - previous.endMs!).toBeGreaterThanOrEqual(30);
    }
  });

  it('waits the settle time after a write before the next transaction', async () => {
    const t = setup({ behaviour: slow, endpoint: { settleAfterWriteMs: 60 } });
    await Promise.all([
      t.connection.run(writeOperation(1, { address: 0, words: [5] }, false), 1000),
      t.connection.run(read(1), 1000),
    ]);
    const [write, next] = t.calls;
    expect(next!.startMs - write!.endMs!).toBeGreaterThanOrEqual(60);
  });
});

describe('ModbusConnection failures', () => {
  it('turns a missing answer into ModbusTimeoutError and reopens the link for the next request', async () => {
    const t = setup({ behaviour: () => new Promise<never>(() => undefined) });
    const err = await t.connection.run(read(9), 50).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModbusTimeoutError);
    expect(err).toMatchObject({ unitId: 9, timeoutMs: 50, retryable: true });
    expect(t.links[0]!.isOpen).toBe(false);
    t.setBehaviour(slow);
    await expect(t.connection.run(read(1), 1000)).resolves.toEqual([1]);
    expect(t.opens()).toBe(2);
  });

  it('keeps the link after a timeout when resetOnTimeout is off', async () => {
    const t = setup({ behaviour: () => new Promise<never>(() => undefined), resetOnTimeout: false });
    await expect(t.connection.run(read(9), 30)).rejects.toBeInstanceOf(ModbusTimeoutError);
    t.setBehaviour(slow);
    await expect(t.connection.run(read(1), 1000)).resolves.toEqual([1]);
    expect(t.opens()).toBe(1);
  });

  it('resets the link after a protocol error (garbage) but not after an exception answer', async () => {
    const t = setup({
      behaviour: async (op) => {
        throw op.unitId === 1
          ? new ModbusExceptionError('fake', 1, 3, 0, 2)
          : new ModbusProtocolError('fake', op.unitId, 'CRC error');
      },
    });
    await expect(t.connection.run(read(1), 1000)).rejects.toBeInstanceOf(ModbusExceptionError);
    expect(t.links[0]!.isOpen).toBe(true);
    await expect(t.connection.run(read(2), 1000)).rejects.toBeInstanceOf(ModbusProtocolError);
    expect(t.links[0]!.isOpen).toBe(false);
  });

  it('fails the transaction in flight at once when the link dies', async () => {
    const t = setup({
      behaviour: (_op, link) => {
        setTimeout(() => link.die(new Error('ECONNRESET')), 10);
        return new Promise<never>(() => undefined);
      },
    });
    // a connection error, not the 5 s timeout
    const err = await t.connection.run(read(1), 5_000).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ModbusConnectionError', reason: 'connection-lost' });
    expect(t.connection.health().connected).toBe(false);
  });

  it('backs off after a failed connect: the next request fails fast without connecting', async () => {
    const t = setup({ failConnects: 1 });
    await expect(t.connection.run(read(1), 1000)).rejects.toMatchObject({ reason: 'connect-failed' });
    const err = await t.connection.run(read(1), 1000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModbusConnectionError);
    expect(err).toMatchObject({ reason: 'reconnect-backoff', retryable: true });
    expect((err as ModbusConnectionError).retryInMs).toBeGreaterThan(0);
    expect(t.opens()).toBe(1);
    expect(t.connection.health()).toMatchObject({ connected: false, connectFailures: 1 });
  });

  it('connects again once the backoff has elapsed and forgets the failures after an answer', async () => {
    const t = setup({ failConnects: 2, reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
    await expect(t.connection.run(read(1), 1000)).rejects.toMatchObject({ reason: 'connect-failed' });
    await delay(t.connection.health().reconnectInMs + 5);
    await expect(t.connection.run(read(1), 1000)).rejects.toMatchObject({ reason: 'connect-failed' });
    expect(t.connection.health().connectFailures).toBe(2);
    await delay(t.connection.health().reconnectInMs + 5);
    await expect(t.connection.run(read(1), 1000)).resolves.toEqual([7]);
    expect(t.connection.health()).toMatchObject({ connected: true, connectFailures: 0, reconnectInMs: 0 });
  });

  it('reconnects at once after a connection that had answered is closed by the peer', async () => {
    const t = setup();
    await t.connection.run(read(1), 1000);
    t.links[0]!.die(undefined);
    await expect(t.connection.run(read(1), 1000)).resolves.toEqual([7]);
    expect(t.opens()).toBe(2);
  });

  it('counts a connection dropped before its first answer as a failed connect (accept-and-close devices)', async () => {
    const t = setup({ behaviour: async (_op, link) => (link.die(undefined), []) });
    await expect(t.connection.run(read(1), 1000)).rejects.toMatchObject({ reason: 'connection-lost' });
    await expect(t.connection.run(read(1), 1000)).rejects.toMatchObject({ reason: 'reconnect-backoff' });
    expect(t.opens()).toBe(1);
  });

  it('fails queued requests when closed, and every later one, as not retryable', async () => {
    const t = setup({ behaviour: slow });
    const inFlight = t.connection.run(read(1), 1000);
    const queued = t.connection.run(read(2), 1000);
    await delay(1);
    await t.connection.close();
    await expect(queued).rejects.toMatchObject({ reason: 'closed', retryable: false });
    await expect(inFlight).rejects.toMatchObject({ name: 'ModbusConnectionError' });
    await expect(t.connection.run(read(3), 1000)).rejects.toMatchObject({ reason: 'closed' });
  });
});
