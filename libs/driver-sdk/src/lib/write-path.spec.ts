import { BusRequestFailedError } from '@voltimax/bus';
import { captureLogger, createMemoryNetwork, type MemoryBus } from '@voltimax/bus/testing';
import { subjects, type DeviceWrite, type Setpoint, type WriteResult } from '@voltimax/contracts';
import fc from 'fast-check';
import { RecordingHealth } from '../testing';
import type { WriteOutcome } from './driver';
import {
  startWritePath,
  writePathCounters,
  type ApplyContext,
  type WritePath,
  type WritePathOptions,
} from './write-path';

const T0 = 1_700_000_000_000;

interface Asset {
  readonly id: string;
  readonly pollIntervalMs: number;
}

/** One call of `apply`, as the device saw it. */
interface Call {
  readonly assetId: string;
  readonly setpoint: Setpoint;
  readonly context: ApplyContext;
  readonly startedAtMs: number;
  endedAtMs?: number;
}

const tenAmps: Setpoint = { kind: 'ev-current', currentA: 10 };
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let commandSequence = 0;
function deviceWrite(assetId: string, setpoint: Setpoint, validForMs = 30_000): DeviceWrite {
  commandSequence += 1;
  return {
    v: 1,
    commandId: `cmd-${commandSequence}`,
    assetId,
    setpoint,
    issuedAtMs: Date.now(),
    expiresAtMs: Date.now() + validForMs,
  };
}

describe('startWritePath', () => {
  const running: WritePath[] = [];

  beforeEach(() => {
    jest.useFakeTimers({ now: T0 });
  });

  afterEach(async () => {
    // Work still queued may wait on fake timers: let them run while stopping.
    const stopping = Promise.all(running.splice(0).map((path) => path.stop()));
    await jest.advanceTimersByTimeAsync(120_000);
    await stopping;
    jest.useRealTimers();
  });

  type Overrides = Partial<Omit<WritePathOptions<Asset>, 'transport' | 'log' | 'health'>>;

  /** A write path on an in-memory network; `apply` records calls and takes `durationMs` (default 0). */
  function run(overrides: Overrides = {}, durationMs: (call: Call) => number = () => 0) {
    const network = createMemoryNetwork();
    const arbiter = network.connect();
    const health = new RecordingHealth();
    const captured = captureLogger('debug');
    const calls: Call[] = [];
    const apply = async (asset: Asset, setpoint: Setpoint, _signal: AbortSignal, context: ApplyContext) => {
      const call: Call = { assetId: asset.id, setpoint, context, startedAtMs: Date.now() };
      calls.push(call);
      const ms = durationMs(call);
      if (ms > 0) await delay(ms);
      call.endedAtMs = Date.now();
      return { status: 'applied' as const };
    };
    const path = startWritePath<Asset>({
      transport: network.connect().raw,
      log: captured.log,
      health,
      assets: [
        { id: 'ev-1', pollIntervalMs: 1_000 },
        { id: 'ev-2', pollIntervalMs: 5_000 },
      ],
      now: () => Date.now(),
      apply,
      ...overrides,
    });
    running.push(path);
    return { arbiter, health, calls, path, lines: captured.lines };
  }

  function request(arbiter: MemoryBus, write: DeviceWrite, timeoutMs = 3_600_000): Promise<WriteResult> {
    const reply = arbiter.request(subjects.deviceWrite, { assetId: write.assetId }, write, { timeoutMs });
    reply.catch(() => undefined);
    return reply;
  }

  /** The arbiter's request; fake timers need a nudge for the promise chain to settle. */
  async function send(arbiter: MemoryBus, write: DeviceWrite, timeoutMs = 1_000): Promise<WriteResult> {
    const reply = request(arbiter, write, timeoutMs);
    await jest.advanceTimersByTimeAsync(1);
    return reply;
  }

  it('applies an owned write and answers with the outcome', async () => {
    const { arbiter, calls, health, lines } = run();
    const write = deviceWrite('ev-1', tenAmps);
    await expect(send(arbiter, write)).resolves.toEqual({
      v: 1,
      commandId: write.commandId,
      assetId: 'ev-1',
      status: 'applied',
      atMs: T0,
    });
    expect(calls).toMatchObject([{ assetId: 'ev-1', setpoint: tenAmps, context: { origin: 'write', write } }]);
    expect(health.counter('writeCommands')).toBe(1);
    expect(health.counter('writesApplied')).toBe(1);
    expect(lines.find((l) => l.msg === 'write executed')).toMatchObject({
      assetId: 'ev-1',
      commandId: write.commandId,
    });
  });

  it('sets every counter to 0 at start', () => {
    const { health } = run();
    for (const name of writePathCounters()) expect(health.counters.get(name)).toBe(0);
    expect(health.counters.has('duplicateWrites')).toBe(false);
  });

  it('leaves the watchdog counters out when no asset has a watchdog', () => {
    const { health } = run({ watchdog: () => false, rememberCommandsMs: 1_000 });
    expect([...health.counters.keys()].sort()).toEqual(
      [...writePathCounters({ watchdog: false, rememberCommandsMs: 1_000 })].sort(),
    );
    expect(health.counters.has('watchdogSafe')).toBe(false);
    expect(health.counters.get('duplicateWrites')).toBe(0);
  });

  it('neither parses nor answers a write for an asset it does not own, and counts it', async () => {
    const { arbiter, calls, health } = run();
    const reply = arbiter.raw.request('device.bat-9.write', new TextEncoder().encode('not even JSON'), {}, 100);
    reply.catch(() => undefined);
    await jest.advanceTimersByTimeAsync(100);
    await expect(reply).rejects.toBeInstanceOf(BusRequestFailedError);
    await expect(reply).rejects.toMatchObject({ reason: 'timeout' });
    expect(calls).toEqual([]);
    expect(health.counter('foreignWrites')).toBe(1);
    expect(health.counter('writeBusDropped')).toBe(0);
    expect(health.counter('writeCommands')).toBe(0);
  });

  it('counts a request for an owned asset that the bus refuses', async () => {
    const { arbiter, health } = run();
    const reply = arbiter.raw.request('device.ev-1.write', new TextEncoder().encode('{"v":1}'), {}, 100);
    await jest.advanceTimersByTimeAsync(1);
    expect((await reply).headers['Voltimax-Error']).toMatch(/^invalid-request: invalid-schema/);
    expect(health.counter('writeBusDropped')).toBe(1);
  });

  it('rejects a payload for another asset than the subject names', async () => {
    const { arbiter, calls, health } = run();
    const write = deviceWrite('ev-2', tenAmps);
    const reply = arbiter.request(subjects.deviceWrite, { assetId: 'ev-1' }, write, { timeoutMs: 1_000 });
    await jest.advanceTimersByTimeAsync(1);
    await expect(reply).resolves.toMatchObject({
      assetId: 'ev-1',
      status: 'rejected',
      error: "payload assetId 'ev-2' differs from the subject",
    });
    expect(calls).toEqual([]);
    expect(health.counter('writesRejected')).toBe(1);
  });

  it('rejects a write that expired before it could be applied', async () => {
    const { arbiter, calls } = run();
    const write = { ...deviceWrite('ev-1', tenAmps), expiresAtMs: T0 };
    await expect(send(arbiter, write)).resolves.toMatchObject({
      status: 'rejected',
      error: `expired at ${T0} before it could be applied`,
    });
    expect(calls).toEqual([]);
  });

  it('rejects with the reason `refuse` gives, without touching the device or arming the watchdog', async () => {
    const { arbiter, calls, health } = run({ refuse: (asset) => (asset.id === 'ev-2' ? 'no controls' : undefined) });
    await expect(send(arbiter, deviceWrite('ev-2', tenAmps, 500))).resolves.toMatchObject({
      status: 'rejected',
      error: 'no controls',
    });
    await jest.advanceTimersByTimeAsync(20_000);
    expect(calls).toEqual([]);
    expect(health.counter('watchdogSafe')).toBe(0);
  });

  it('answers failed with the message when apply throws, and a later write still runs', async () => {
    let fail = true;
    const { arbiter, health } = run({
      apply: () => (fail ? Promise.reject(new Error('socket closed')) : Promise.resolve({ status: 'applied' })),
    });
    await expect(send(arbiter, deviceWrite('ev-1', tenAmps))).resolves.toMatchObject({
      status: 'failed',
      error: 'socket closed',
    });
    fail = false;
    await expect(send(arbiter, deviceWrite('ev-1', tenAmps))).resolves.toMatchObject({ status: 'applied' });
    expect(health.counter('writeFailures')).toBe(1);
  });

  it.each<{ name: string; outcome: WriteOutcome; expected: Partial<WriteResult> }>([
    {
      name: 'a non-finite read-back is left out',
      outcome: { status: 'applied', readBack: Number.NaN },
      expected: { status: 'applied' },
    },
    {
      name: 'an unknown status becomes failed',
      outcome: { status: 'done' as WriteOutcome['status'] },
      expected: { status: 'failed', error: "the driver answered an unknown status 'done'" },
    },
    {
      name: 'a long error is cut to 500 characters',
      outcome: { status: 'mismatch', readBack: 6, error: 'x'.repeat(900) },
      expected: { status: 'mismatch', readBack: 6, error: `${'x'.repeat(497)}...` },
    },
  ])('answers within the contract: $name', async ({ outcome, expected }) => {
    const { arbiter } = run({ apply: () => Promise.resolve(outcome) });
    const result = await send(arbiter, deviceWrite('ev-1', tenAmps));
    expect(result).toMatchObject(expected);
    if (expected.readBack === undefined) expect(result).not.toHaveProperty('readBack');
  });

  it('keeps the status counter names a service gives', async () => {
    const { arbiter, health } = run({
      statusCounters: { failed: 'writesFailed' },
      apply: () => Promise.resolve({ status: 'failed', error: 'no' }),
    });
    await send(arbiter, deviceWrite('ev-1', tenAmps));
    expect(health.counter('writesFailed')).toBe(1);
    expect(health.counters.has('writeFailures')).toBe(false);
  });

  it('calls afterApply with the outcome, in the queue, for writes and for a safe set-point that took', async () => {
    const seen: string[] = [];
    const { arbiter } = run({
      apply: (_asset, setpoint) => Promise.resolve({ status: 'applied', error: setpoint.kind }),
      afterApply: (asset, outcome, context) => seen.push(`${asset.id} ${context.origin} ${outcome.error ?? ''}`),
    });
    await send(arbiter, deviceWrite('ev-1', tenAmps, 2_000));
    await jest.advanceTimersByTimeAsync(2_000);
    expect(seen).toEqual(['ev-1 write ev-current', 'ev-1 watchdog safe']);
  });

  describe('expiry watchdog', () => {
    it('applies the safe set-point when a write expires without a newer one', async () => {
      const { arbiter, calls, health, lines } = run();
      const write = deviceWrite('ev-1', tenAmps, 5_000);
      await send(arbiter, write);
      await jest.advanceTimersByTimeAsync(4_990);
      expect(calls).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(20);
      expect(calls[1]).toMatchObject({
        setpoint: { kind: 'safe' },
        context: { origin: 'watchdog', expired: { commandId: write.commandId, expiresAtMs: write.expiresAtMs } },
        startedAtMs: write.expiresAtMs,
      });
      expect(health.counter('watchdogSafe')).toBe(1);
      expect(lines.find((l) => l.msg === 'write expired without a newer one; safe set-point applied')).toMatchObject({
        assetId: 'ev-1',
        commandId: write.commandId,
      });
      await jest.advanceTimersByTimeAsync(60_000);
      expect(calls).toHaveLength(2); // once it took, nothing more
    });

    it('never before the write expired: a timer that fires early by the wall clock waits for the rest', async () => {
      let offsetMs = 0;
      const { arbiter, calls } = run({ now: () => Date.now() + offsetMs });
      const write = deviceWrite('ev-1', tenAmps, 5_000);
      await send(arbiter, write);
      // The wall clock the driver reads steps back 3 ms after the timer was armed (as a timer may also fire a
      // millisecond before Date.now() says its time has come, which CI saw).
      offsetMs = -3;
      await jest.advanceTimersByTimeAsync(5_000);
      expect(calls).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(3);
      expect(calls[1]?.setpoint).toEqual({ kind: 'safe' });
      expect((calls[1]?.startedAtMs ?? 0) + offsetMs).toBeGreaterThanOrEqual(write.expiresAtMs);
    });

    it('a newer write cancels the older deadline', async () => {
      const { arbiter, calls } = run();
      await send(arbiter, deviceWrite('ev-1', tenAmps, 5_000));
      await jest.advanceTimersByTimeAsync(3_000);
      await send(arbiter, deviceWrite('ev-1', { kind: 'ev-current', currentA: 8 }, 5_000));
      await jest.advanceTimersByTimeAsync(4_000);
      expect(calls.map((c) => c.setpoint.kind)).toEqual(['ev-current', 'ev-current']);
      await jest.advanceTimersByTimeAsync(1_000);
      expect(calls.map((c) => c.setpoint.kind)).toEqual(['ev-current', 'ev-current', 'safe']);
    });

    it('retries every max(1 s, poll interval) until the safe set-point takes', async () => {
      let refusals = 2;
      const starts: number[] = [];
      const { arbiter, health, lines } = run({
        apply: (_asset, setpoint) => {
          if (setpoint.kind !== 'safe') return Promise.resolve({ status: 'applied' });
          starts.push(Date.now());
          refusals -= 1;
          return Promise.resolve(refusals >= 0 ? { status: 'timeout', error: 'no answer' } : { status: 'unchanged' });
        },
      });
      const write = deviceWrite('ev-2', tenAmps, 1_000);
      await send(arbiter, write);
      await jest.advanceTimersByTimeAsync(30_000);
      expect(starts).toEqual([write.expiresAtMs, write.expiresAtMs + 5_000, write.expiresAtMs + 10_000]);
      expect(health.counter('watchdogFailures')).toBe(2);
      expect(health.counter('watchdogSafe')).toBe(1);
      expect(lines.filter((l) => l.msg === 'safe set-point after expiry failed; retrying')).toHaveLength(2);
    });

    it('is off for assets the `watchdog` hook excludes', async () => {
      const { arbiter, calls } = run({ watchdog: (asset) => asset.id !== 'ev-1' });
      await send(arbiter, deviceWrite('ev-1', tenAmps, 1_000));
      await jest.advanceTimersByTimeAsync(60_000);
      expect(calls.map((c) => c.setpoint.kind)).toEqual(['ev-current']);
    });
  });

  it('remembers command ids: a retry gets the first answer, also while in flight, and applies nothing again', async () => {
    const { arbiter, calls, health } = run({ rememberCommandsMs: 60_000 }, () => 1_000);
    const write = deviceWrite('ev-1', tenAmps);
    const first = request(arbiter, write);
    const second = request(arbiter, write);
    await jest.advanceTimersByTimeAsync(1_000);
    const answers = await Promise.all([first, second]);
    expect(answers[1]).toEqual(answers[0]);
    expect(calls).toHaveLength(1);
    expect(health.counter('duplicateWrites')).toBe(1);
    expect(health.counter('writeCommands')).toBe(1);
    await jest.advanceTimersByTimeAsync(61_000);
    const again = request(arbiter, { ...write, expiresAtMs: Date.now() + 10_000 });
    await jest.advanceTimersByTimeAsync(1_000);
    await expect(again).resolves.toMatchObject({ status: 'applied' });
    expect(calls.filter((c) => c.context.origin === 'write')).toHaveLength(2);
  });

  it('answers timeout after applyTimeoutMs and aborts the signal, but the next write waits for the device', async () => {
    const signals: AbortSignal[] = [];
    const { arbiter, calls } = run({
      applyTimeoutMs: 2_000,
      apply: async (asset, setpoint, signal, context) => {
        signals.push(signal);
        calls.push({ assetId: asset.id, setpoint, context, startedAtMs: Date.now() });
        await delay(setpoint.kind === 'ev-current' && setpoint.currentA === 10 ? 5_000 : 0);
        return { status: 'applied' };
      },
    });
    const slow = request(arbiter, deviceWrite('ev-1', tenAmps));
    const next = request(arbiter, deviceWrite('ev-1', { kind: 'ev-current', currentA: 6 }));
    await jest.advanceTimersByTimeAsync(2_000);
    await expect(slow).resolves.toMatchObject({ status: 'timeout', error: 'the device did not answer within 2000 ms' });
    expect(signals[0]?.aborted).toBe(true);
    expect(calls).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(3_001);
    await expect(next).resolves.toMatchObject({ status: 'applied' });
    expect(calls[1]?.startedAtMs).toBe(T0 + 5_000);
  });

  it('serialize runs other work in the asset queue, after the write in flight', async () => {
    const { arbiter, path, calls } = run({}, () => 1_000);
    const reply = request(arbiter, deviceWrite('ev-1', tenAmps));
    await jest.advanceTimersByTimeAsync(1);
    const work = path.serialize('ev-1', () =>
      Promise.resolve({ atMs: Date.now(), writeEndedAtMs: calls[0]?.endedAtMs }),
    );
    await jest.advanceTimersByTimeAsync(1_000);
    await reply;
    await expect(work).resolves.toEqual({ atMs: T0 + 1_000, writeEndedAtMs: T0 + 1_000 });
    await expect(path.serialize('bat-9', () => Promise.resolve(1))).rejects.toThrow("asset 'bat-9' is not served");
  });

  it('stop waits for the write in flight, aborts its signal, and answers later writes failed', async () => {
    let signal: AbortSignal | undefined;
    const { arbiter, path } = run({
      apply: async (_asset, _setpoint, s) => {
        signal = s;
        await delay(1_000);
        return { status: 'applied' };
      },
    });
    const reply = request(arbiter, deviceWrite('ev-1', tenAmps));
    await jest.advanceTimersByTimeAsync(1);
    let stopped = false;
    const stopping = path.stop().then(() => (stopped = true));
    await jest.advanceTimersByTimeAsync(500);
    expect(stopped).toBe(false);
    expect(signal?.aborted).toBe(true);
    await jest.advanceTimersByTimeAsync(500);
    await stopping;
    await expect(reply).resolves.toMatchObject({ status: 'applied' });
  });

  describe('properties', () => {
    const writeArb = fc.record({
      asset: fc.constantFrom('ev-1', 'ev-2'),
      validForMs: fc.integer({ min: -500, max: 6_000 }),
      durationMs: fc.integer({ min: 0, max: 2_500 }),
      gapMs: fc.integer({ min: 0, max: 1_500 }),
      currentA: fc.integer({ min: 6, max: 32 }),
    });
    type TestWrite = typeof writeArb extends fc.Arbitrary<infer T> ? T : never;

    /** Sends the writes with their gaps, lets every watchdog run out, and returns what happened. */
    async function scenario(
      writes: readonly TestWrite[],
      safeRefusals = 0,
    ): Promise<{ sent: DeviceWrite[]; results: WriteResult[]; calls: Call[] }> {
      const durations = new Map<string, number>();
      let refusals = safeRefusals;
      const calls: Call[] = [];
      const inFlight = new Map<string, number>();
      const { arbiter, path } = run({
        apply: async (asset, setpoint, _signal, context) => {
          const call: Call = { assetId: asset.id, setpoint, context, startedAtMs: Date.now() };
          calls.push(call);
          inFlight.set(asset.id, (inFlight.get(asset.id) ?? 0) + 1);
          if ((inFlight.get(asset.id) ?? 0) > 1) throw new Error(`overlapping applies on ${asset.id}`);
          await delay(context.origin === 'write' ? (durations.get(context.write.commandId) ?? 0) : 100);
          inFlight.set(asset.id, (inFlight.get(asset.id) ?? 0) - 1);
          call.endedAtMs = Date.now();
          if (setpoint.kind === 'safe' && refusals > 0) {
            refusals -= 1;
            return { status: 'failed', error: 'device busy' };
          }
          return { status: 'applied' };
        },
      });
      const sent: DeviceWrite[] = [];
      const replies: Promise<WriteResult>[] = [];
      for (const w of writes) {
        const write = deviceWrite(w.asset, { kind: 'ev-current', currentA: w.currentA }, w.validForMs);
        durations.set(write.commandId, w.durationMs);
        sent.push(write);
        replies.push(request(arbiter, write));
        await jest.advanceTimersByTimeAsync(w.gapMs);
      }
      await jest.advanceTimersByTimeAsync(writes.length * 2_600 + 10_000 + safeRefusals * 6_000);
      const results = await Promise.all(replies);
      await path.stop();
      return { sent, results, calls };
    }

    it('a write whose expiry passed is never applied', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(writeArb, { minLength: 1, maxLength: 12 }), async (writes) => {
          const { sent, results, calls } = await scenario(writes);
          for (const call of calls) {
            if (call.context.origin === 'write')
              expect(call.context.write.expiresAtMs).toBeGreaterThan(call.startedAtMs);
          }
          sent.forEach((write, i) => {
            const result = results[i];
            const applied = calls.some(
              (c) => c.context.origin === 'write' && c.context.write.commandId === write.commandId,
            );
            if (result?.status === 'rejected') {
              expect(applied).toBe(false);
              expect(result.error).toBe(`expired at ${write.expiresAtMs} before it could be applied`);
              expect(result.atMs).toBeGreaterThanOrEqual(write.expiresAtMs);
            } else {
              expect(result?.status).toBe('applied');
              expect(applied).toBe(true);
            }
          });
        }),
        { numRuns: 40 },
      );
    });

    it('applies the writes of each asset in the order they came, one at a time', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(writeArb, { minLength: 1, maxLength: 12 }), async (writes) => {
          const { sent, results, calls } = await scenario(writes.map((w) => ({ ...w, validForMs: 3_600_000 })));
          expect(results.every((r) => r.status === 'applied')).toBe(true);
          for (const assetId of ['ev-1', 'ev-2']) {
            const mine = calls.filter((c) => c.assetId === assetId);
            const applied = mine.flatMap((c) => (c.context.origin === 'write' ? [c.context.write.commandId] : []));
            expect(applied).toEqual(sent.filter((w) => w.assetId === assetId).map((w) => w.commandId));
            // One at a time: each call starts after the previous one of the asset ended.
            mine
              .slice(1)
              .forEach((call, i) => expect(call.startedAtMs).toBeGreaterThanOrEqual(mine[i]?.endedAtMs ?? Infinity));
          }
        }),
        { numRuns: 40 },
      );
    });

    it('the safe set-point follows an expiry: never before the newest applied write expired, and it is the last word', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(writeArb, { minLength: 1, maxLength: 10 }),
          fc.integer({ min: 0, max: 2 }),
          async (writes, safeRefusals) => {
            const { calls } = await scenario(writes, safeRefusals);
            for (const assetId of ['ev-1', 'ev-2']) {
              const mine = calls.filter((c) => c.assetId === assetId);
              let newest: DeviceWrite | undefined;
              for (const call of mine) {
                if (call.context.origin === 'write') {
                  newest = call.context.write;
                  continue;
                }
                expect(call.setpoint).toEqual({ kind: 'safe' });
                expect(newest).toBeDefined();
                expect(call.context.expired.commandId).toBe(newest?.commandId);
                expect(call.startedAtMs).toBeGreaterThanOrEqual(newest?.expiresAtMs ?? Infinity);
              }
              const last = mine.at(-1);
              if (last !== undefined) expect(last.setpoint).toEqual({ kind: 'safe' });
            }
          },
        ),
        { numRuns: 40 },
      );
    });
  });
});
