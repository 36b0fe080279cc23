// Against the independent pymodbus peer (shared/tools/modbus-peer, Debian python3-pymodbus), on 127.0.0.1.
// Expected words are typed in by hand from IEEE 754 / two's complement, never produced by our own code.
import { pino } from 'pino';
import { hasSocat, startPeer, startPtyPair, type Peer, type PtyPair } from '../testing/peer';
import { waitFor } from '../testing/wait';
import type { ModbusEndpoint } from './endpoint';
import { ModbusExceptionError, ModbusTimeoutError } from './errors';
import { ModbusPool } from './pool';

const log = pino({ level: 'silent' });

const REGISTER_MAP = {
  vendor: 'libs/modbus tests',
  units: {
    '1': {
      holding_registers: {
        '0': { type: 'float32', value: 230.1 },
        '2': { type: 'float32', value: 230.1, word_order: 'little' },
        '4': { type: 'int32', value: -1500 },
        '6': { type: 'uint32', value: 123456789 },
        '8': 1234,
        '20': [0, 0, 0, 0],
        '30': 0,
        '31': 0,
      },
      input_registers: {
        '0': { type: 'float32', value: 4200.0 },
        '2': -42,
        '3': { type: 'uint16', value: 49.98, scale: 100 },
      },
      coils: { '0': [1, 0, 1, 1] },
      discrete_inputs: { '0': [0, 1] },
    },
    '2': { holding_registers: { '0': 2222 }, input_registers: { '0': 22 } },
  },
};

/** 230.1 as IEEE 754 single = 0x4366199A. */
const V230_1 = [0x4366, 0x199a];

function newPool(): ModbusPool {
  return new ModbusPool({
    log,
    timeoutMs: 1_000,
    retry: { attempts: 3, initialDelayMs: 10, maxDelayMs: 20 },
    breaker: { consecutiveFailures: 10, halfOpenAfterMs: 200 },
    reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
  });
}

/** Exception responses the peer logged (pymodbus logs each at ERROR). */
const exceptionsLogged = (peer: Peer) => peer.output().split('Exception Response(').length - 1;

/** The checks every transport must pass against the peer. */
function describeTransport(
  name: string,
  start: () => Promise<{ peer: Peer; endpoint: ModbusEndpoint; stop?: () => Promise<void> }>,
  options: { readonly unknownUnit: boolean },
) {
  describe(name, () => {
    let peer: Peer;
    let endpoint: ModbusEndpoint;
    let stopExtra: (() => Promise<void>) | undefined;
    let pool: ModbusPool;

    beforeAll(async () => {
      ({ peer, endpoint, stop: stopExtra } = await start());
      pool = newPool();
    });

    afterAll(async () => {
      await pool?.close();
      await peer?.stop();
      await stopExtra?.();
    });

    it('reads float32 230.1 in both word orders from holding registers', async () => {
      const unit = pool.client(endpoint, 1);
      await expect(unit.read({ table: 'holding', address: 0, count: 4 })).resolves.toEqual([...V230_1, 0x199a, 0x4366]);
    });

    it('reads int32 -1500 (0xFFFFFA24), uint32 123456789 (0x075BCD15) and a u16', async () => {
      await expect(pool.read(endpoint, { unitId: 1, table: 'holding', address: 4, count: 5 })).resolves.toEqual([
        0xffff, 0xfa24, 0x075b, 0xcd15, 1234,
      ]);
    });

    it('reads input registers: float32 4200.0 (0x45834000), int16 -42, 49.98 scaled by 100', async () => {
      await expect(pool.read(endpoint, { unitId: 1, table: 'input', address: 0, count: 4 })).resolves.toEqual([
        0x4583, 0x4000, 0xffd6, 4998,
      ]);
    });

    it('reads coils and discrete inputs as 0/1', async () => {
      await expect(pool.read(endpoint, { unitId: 1, table: 'coil', address: 0, count: 4 })).resolves.toEqual([
        1, 0, 1, 1,
      ]);
      await expect(pool.read(endpoint, { unitId: 1, table: 'discrete', address: 0, count: 2 })).resolves.toEqual([
        0, 1,
      ]);
    });

    it('reads two unit ids over the same connection', async () => {
      const [one, two] = await Promise.all([
        pool.read(endpoint, { unitId: 1, table: 'holding', address: 8, count: 1 }),
        pool.read(endpoint, { unitId: 2, table: 'holding', address: 0, count: 1 }),
      ]);
      expect(one).toEqual([1234]);
      expect(two).toEqual([2222]);
    });

    it('writes one word with FC06 and it lands', async () => {
      const unit = pool.client(endpoint, 1);
      await expect(unit.write({ address: 30, words: [0x1234] })).resolves.toEqual({
        functionCode: 6,
        address: 30,
        count: 1,
      });
      await waitFor(() => peer.output().includes('addr=30 values=[4660]'), { what: 'the peer to log the write' });
      await expect(unit.read({ table: 'holding', address: 30, count: 1 })).resolves.toEqual([0x1234]);
    });

    it('writes several words with FC16 and they land', async () => {
      const unit = pool.client(endpoint, 1);
      await expect(unit.write({ address: 20, words: [1, 2, 0xfffe, 4] })).resolves.toEqual({
        functionCode: 16,
        address: 20,
        count: 4,
      });
      await waitFor(() => peer.output().includes('addr=20 values=[1, 2, 65534, 4]'), {
        what: 'the peer to log the write',
      });
      await expect(unit.read({ table: 'holding', address: 20, count: 4 })).resolves.toEqual([1, 2, 0xfffe, 4]);
    });

    it('writes a single word with FC16 for a unit that only accepts FC16', async () => {
      const unit = pool.client(endpoint, 1, { forceFc16: true });
      await expect(unit.write({ address: 31, words: [77] })).resolves.toEqual({
        functionCode: 16,
        address: 31,
        count: 1,
      });
      await expect(unit.read({ table: 'holding', address: 31, count: 1 })).resolves.toEqual([77]);
    });

    it('maps exception 02 on an unmapped address to ModbusExceptionError(2) without retrying', async () => {
      const before = exceptionsLogged(peer);
      const err = await pool
        .read(endpoint, { unitId: 1, table: 'holding', address: 500, count: 2 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ModbusExceptionError);
      expect(err).toMatchObject({ code: 2, exceptionName: 'illegal-data-address', functionCode: 3, retryable: false });
      // a later request on the same serial queue: any retry would have been sent and logged before it
      await pool.read(endpoint, { unitId: 1, table: 'holding', address: 8, count: 1 });
      await waitFor(() => exceptionsLogged(peer) > before, { what: 'the peer to log the exception' });
      expect(exceptionsLogged(peer)).toBe(before + 1);
    });

    if (options.unknownUnit) {
      it('times out for an unknown unit id, and the connection keeps serving the known ones', async () => {
        const ghost = pool.client(endpoint, 77, { timeoutMs: 300, attempts: 1 });
        const err = await ghost.read({ table: 'holding', address: 0, count: 1 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ModbusTimeoutError);
        expect(err).toMatchObject({ unitId: 77, timeoutMs: 300 });
        await expect(pool.read(endpoint, { unitId: 1, table: 'holding', address: 0, count: 2 })).resolves.toEqual(
          V230_1,
        );
      });
    }
  });
}

describeTransport(
  'Modbus TCP against the pymodbus peer',
  async () => {
    const peer = await startPeer({ map: REGISTER_MAP, transport: 'tcp' });
    return { peer, endpoint: { transport: 'tcp', host: '127.0.0.1', port: peer.port } };
  },
  { unknownUnit: true },
);

describeTransport(
  'RTU over TCP against the pymodbus peer (--transport rtu-tcp)',
  async () => {
    const peer = await startPeer({ map: REGISTER_MAP, transport: 'rtu-tcp' });
    return { peer, endpoint: { transport: 'rtu-over-tcp', host: '127.0.0.1', port: peer.port, interFrameGapMs: 5 } };
  },
  { unknownUnit: true },
);

const serialTitle = 'RTU over a serial line (socat pty pair) against the pymodbus peer';
// Needs socat (.ci/run installs it); without it this fails with a clear message instead of skipping.
{
  describeTransport(
    serialTitle,
    async () => {
      let pty: PtyPair | undefined;
      try {
        if (!hasSocat()) throw new Error('socat is not installed: apt-get install socat (.ci/run does)');
        pty = await startPtyPair();
        const peer = await startPeer({ map: REGISTER_MAP, transport: 'serial', device: pty.b, baudRate: 19_200 });
        return {
          peer,
          endpoint: { transport: 'rtu', path: pty.a, baudRate: 19_200, parity: 'none', dataBits: 8, stopBits: 1 },
          stop: pty.stop,
        };
      } catch (err) {
        await pty?.stop();
        throw err;
      }
    },
    { unknownUnit: false },
  );
}
