import { setTimeout as delay } from 'node:timers/promises';
import { pino } from 'pino';
import { resolveEndpoint, type ModbusEndpoint } from './endpoint';
import { CircuitOpenError, ModbusConfigError, ModbusExceptionError, ModbusTimeoutError } from './errors';
import type { LinkOpener, ModbusLink } from './link';
import { ModbusPool, type BreakerStateChange, type ModbusPoolOptions } from './pool';
import type { ModbusOperation } from './requests';

const log = pino({ level: 'silent' });
const endpoint: ModbusEndpoint = { transport: 'tcp', host: 'fake', port: 502 };
const KEY = resolveEndpoint(endpoint).key;

type Answer = (op: ModbusOperation) => readonly number[];

/** A pool over an in-memory link whose answers come from `answer` (throw to fail). */
function fakePool(answer: Answer, options: Partial<ModbusPoolOptions> = {}) {
  const ops: ModbusOperation[] = [];
  const openLink: LinkOpener = async () => {
    const link: ModbusLink = {
      isOpen: true,
      execute: async (op) => {
        ops.push(op);
        return answer(op);
      },
      onClose: () => undefined,
      close: async () => undefined,
    };
    return link;
  };
  const pool = new ModbusPool(
    { log, retry: { initialDelayMs: 1, maxDelayMs: 2 }, reconnect: { initialDelayMs: 1, maxDelayMs: 2 }, ...options },
    openLink,
  );
  return { pool, ops };
}

const exception = (code: number) => (op: ModbusOperation) => {
  throw new ModbusExceptionError(KEY, op.unitId, op.functionCode, op.address, code);
};

describe('ModbusPool', () => {
  it('reads words through a unit-scoped client', async () => {
    const { pool, ops } = fakePool((op) => (op.kind === 'read' ? [0x4366, 0x199a] : []));
    const unit = pool.client(endpoint, 3);
    await expect(unit.read({ table: 'holding', address: 10, count: 2 })).resolves.toEqual([0x4366, 0x199a]);
    expect(ops).toEqual([{ kind: 'read', unitId: 3, functionCode: 3, address: 10, count: 2 }]);
    expect(unit).toMatchObject({ endpoint: KEY, unitId: 3 });
    await pool.close();
  });

  it('writes one word with FC06, several with FC16, and FC16 always for a forceFc16 unit', async () => {
    const { pool, ops } = fakePool(() => []);
    await expect(pool.write(endpoint, { unitId: 1, address: 5, words: [9] })).resolves.toEqual({
      functionCode: 6,
      address: 5,
      count: 1,
    });
    await pool.write(endpoint, { unitId: 1, address: 5, words: [9, 8] });
    await pool.client(endpoint, 2, { forceFc16: true }).write({ address: 5, words: [9] });
    expect(ops.map((op) => op.functionCode)).toEqual([6, 16, 16]);
    await pool.close();
  });

  it.each([4, 6, 10, 11])('retries exception %i up to the attempt limit', async (code) => {
    const { pool, ops } = fakePool(exception(code));
    const err = await pool.read(endpoint, { unitId: 1, table: 'input', address: 0, count: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModbusExceptionError);
    expect(err).toMatchObject({ code, retryable: true });
    expect(ops).toHaveLength(3);
    await pool.close();
  });

  it.each([1, 2, 3])('does not retry exception %i', async (code) => {
    const { pool, ops } = fakePool(exception(code));
    await expect(pool.read(endpoint, { unitId: 1, table: 'holding', address: 0, count: 1 })).rejects.toMatchObject({
      code,
      retryable: false,
    });
    expect(ops).toHaveLength(1);
    await pool.close();
  });

  it('succeeds when a retry succeeds', async () => {
    let calls = 0;
    const { pool } = fakePool((op) => {
      calls += 1;
      if (calls < 3) return exception(6)(op);
      return [42];
    });
    await expect(pool.read(endpoint, { unitId: 1, table: 'holding', address: 0, count: 1 })).resolves.toEqual([42]);
    await pool.close();
  });

  it('opens the unit breaker after N failed attempts, emits it, and a later successful probe closes it', async () => {
    let healthy = false;
    const { pool, ops } = fakePool((op) => (healthy ? [1] : exception(4)(op)), {
      breaker: { consecutiveFailures: 4, halfOpenAfterMs: 50 },
    });
    const changes: BreakerStateChange[] = [];
    pool.onBreakerStateChange((change) => changes.push(change));
    const unit = pool.client(endpoint, 1);
    const range = { table: 'holding', address: 0, count: 1 } as const;

    await expect(unit.read(range)).rejects.toBeInstanceOf(ModbusExceptionError); // attempts 1–3
    const second = await unit.read(range).catch((e: unknown) => e); // attempt 4 opens it, the retry is refused
    expect(second).toBeInstanceOf(CircuitOpenError);
    expect((second as CircuitOpenError).cause).toBeInstanceOf(ModbusExceptionError);
    expect(ops).toHaveLength(4);
    expect(unit.breakerState()).toBe('open');
    expect(changes).toEqual([
      expect.objectContaining({
        endpoint: KEY,
        unitId: 1,
        state: 'open',
        previous: 'closed',
        lastError: expect.any(ModbusExceptionError),
      }),
    ]);
    await expect(unit.read(range)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(ops).toHaveLength(4);

    healthy = true;
    await delay(60);
    await expect(unit.read(range)).resolves.toEqual([1]);
    expect(unit.breakerState()).toBe('closed');
    expect(changes.map((c) => c.state)).toEqual(['open', 'half-open', 'closed']);
    expect(unit.health()).toMatchObject({
      breaker: 'closed',
      consecutiveFailures: 0,
      lastSuccessAtMs: expect.any(Number),
    });
    await pool.close();
  });

  it('keeps breakers per unit: a dead unit does not open the breaker of its neighbour', async () => {
    const { pool } = fakePool(
      (op) => {
        if (op.unitId === 9) throw new ModbusTimeoutError(KEY, 9, 5);
        return [1];
      },
      { breaker: { consecutiveFailures: 2, halfOpenAfterMs: 10_000 } },
    );
    await expect(pool.read(endpoint, { unitId: 9, table: 'holding', address: 0, count: 1 })).rejects.toBeInstanceOf(
      CircuitOpenError,
    );
    await expect(pool.read(endpoint, { unitId: 1, table: 'holding', address: 0, count: 1 })).resolves.toEqual([1]);
    expect(pool.breakerState(endpoint, 9)).toBe('open');
    expect(pool.breakerState(endpoint, 1)).toBe('closed');
    expect(pool.health().units).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ unitId: 9, breaker: 'open', lastError: expect.any(ModbusTimeoutError) }),
        expect.objectContaining({ unitId: 1, breaker: 'closed' }),
      ]),
    );
    await pool.close();
  });

  it('does not count non-retryable exceptions against the breaker', async () => {
    const { pool } = fakePool(exception(2), { breaker: { consecutiveFailures: 1, halfOpenAfterMs: 10_000 } });
    for (let i = 0; i < 3; i++) {
      await expect(pool.read(endpoint, { unitId: 1, table: 'holding', address: 0, count: 1 })).rejects.toBeInstanceOf(
        ModbusExceptionError,
      );
    }
    expect(pool.breakerState(endpoint, 1)).toBe('closed');
    await pool.close();
  });

  it('shares one connection per endpoint and refuses the same endpoint with other settings', async () => {
    const { pool } = fakePool(() => [1]);
    pool.client(endpoint, 1);
    pool.client({ transport: 'tcp', host: 'fake' }, 2);
    expect(pool.health().endpoints).toHaveLength(1);
    expect(() => pool.client({ transport: 'rtu-over-tcp', host: 'fake', port: 502 }, 1)).toThrow(ModbusConfigError);
    await pool.close();
  });

  it('rejects invalid requests as caller bugs without sending anything', async () => {
    const { pool, ops } = fakePool(() => [1]);
    expect(() => pool.client(endpoint, 300)).toThrow(RangeError);
    await expect(pool.client(endpoint, 1).read({ table: 'holding', address: 0, count: 200 })).rejects.toThrow(
      RangeError,
    );
    expect(ops).toHaveLength(0);
    await pool.close();
  });

  it('fails requests after close as not retryable', async () => {
    const { pool } = fakePool(() => [1]);
    const unit = pool.client(endpoint, 1);
    await pool.close();
    await expect(unit.read({ table: 'holding', address: 0, count: 1 })).rejects.toMatchObject({
      name: 'ModbusConnectionError',
      reason: 'closed',
      retryable: false,
    });
  });
});
