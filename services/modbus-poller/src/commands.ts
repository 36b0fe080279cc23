import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { createBusOnTransport, droppedTotal, type BusTransport, type Unsubscribe } from '@voltimax/bus';
import { subjects, type DeviceWrite, type Setpoint, type WriteResult } from '@voltimax/contracts';
import {
  decodePoint,
  decodeProfile,
  encodeSetpoint,
  planReadBlocks,
  registerCount,
  wordsAt,
  type BlockWords,
  type ModbusProfile,
  type RegisterWrite,
} from '@voltimax/devices';
import { ModbusExceptionError, ModbusTimeoutError, readBlocks } from '@voltimax/modbus';
import { serviceTracer } from '@voltimax/service-kit';
import type { Logger } from 'pino';
import type { OwnedAsset } from './assets';
import { assetCounter, type Health } from './counters';
import { describeFailure, type RegisterClient } from './device-reader';

/** Dependencies of the write path. */
export interface CommandsOptions {
  /** The raw NATS transport: writes for assets this instance does not own are skipped before anything else. */
  readonly transport: BusTransport;
  readonly log: Logger;
  readonly health: Health;
  readonly assets: readonly OwnedAsset[];
  /** The register client for writes (one attempt: the arbiter is waiting for the reply). */
  readonly clientFor: (asset: OwnedAsset) => RegisterClient;
  /** Scale factors from the poller's last good reading, if any; otherwise they are read before encoding. */
  readonly scaleFactors?: (assetId: string) => Readonly<Record<string, number>> | undefined;
  /** Epoch ms. */
  readonly now: () => number;
}

/** The running write path. */
export interface Commands {
  /** Unsubscribe, cancel watchdogs and keep-alives, and wait for writes in flight. */
  stop(): Promise<void>;
}

type Status = WriteResult['status'];

/** What applying one set-point did. */
interface Applied {
  readonly status: Status;
  readonly readBack?: number;
  readonly error?: string;
  /** The writes actually issued (the others already held their value). */
  readonly written: readonly RegisterWrite[];
  /** The writes a keep-alive repeats, and how often; absent when the profile needs none. */
  readonly keepAlive?: { readonly writes: readonly RegisterWrite[]; readonly everyMs: number };
}

interface KeepAlive {
  readonly writes: readonly RegisterWrite[];
  readonly everyMs: number;
  timer: NodeJS.Timeout | undefined;
}

interface Deadline {
  readonly commandId: string;
  readonly expiresAtMs: number;
  timer: NodeJS.Timeout | undefined;
}

interface AssetState {
  readonly asset: OwnedAsset;
  /** Created on first use: an asset that cannot be driven never gets one. */
  readonly client: RegisterClient;
  readonly log: Logger;
  /** Writes, keep-alives and watchdog actions of one asset run one after the other. */
  queue: Promise<unknown>;
  deadline: Deadline | undefined;
  keepAlive: KeepAlive | undefined;
  /** When the kept-alive registers were last written, epoch ms (undefined: unknown, e.g. after a restart). */
  lastKeepAliveWriteAtMs: number | undefined;
}

const MAX_TIMER_MS = 2 ** 31 - 1;
const clampDelay = (ms: number): number => Math.min(MAX_TIMER_MS, Math.max(0, ms));
const short = (text: string): string => (text.length > 500 ? `${text.slice(0, 497)}...` : text);
const sameWords = (a: readonly number[] | undefined, b: readonly number[]): boolean =>
  a !== undefined && a.length === b.length && a.every((word, i) => word === b[i]);
const hex = (words: readonly number[] | undefined): string =>
  words === undefined ? 'nothing' : `[${words.map((w) => `0x${w.toString(16).padStart(4, '0')}`).join(' ')}]`;

/**
 * A transport whose subscriptions only see `device.<id>.write` of owned assets; the rest is not even parsed, so the
 * typed bus on top never answers it. `onOwnedDone` runs after each owned message was handled (or refused).
 */
export function ownedWritesOnly(
  transport: BusTransport,
  owns: (assetId: string) => boolean,
  onForeign: () => void,
  onOwnedDone: () => void = () => undefined,
): BusTransport {
  return {
    publish: (subject, data, headers) => transport.publish(subject, data, headers),
    request: (subject, data, headers, timeoutMs) => transport.request(subject, data, headers, timeoutMs),
    subscribe(subject, opts, onMessage, onError) {
      return transport.subscribe(
        subject,
        opts,
        (msg) => {
          const params = subjects.deviceWrite.parse(msg.subject);
          // Another instance or another driver owns it: stay silent, its owner answers.
          if (params === undefined || !owns(params.assetId)) {
            onForeign();
            return;
          }
          return Promise.resolve(onMessage(msg)).finally(onOwnedDone);
        },
        onError,
      );
    },
  };
}

/** Rated power for percent scalings: the site's battery power limit for the direction, or the PV rating. */
function ratedPowerW(asset: OwnedAsset, setpoint: Setpoint): number | undefined {
  const { config } = asset;
  if (setpoint.kind === 'battery-power' && (config.kind === 'battery' || config.kind === 'hybrid-inverter')) {
    const battery = config.battery;
    if (battery === undefined) return undefined;
    return setpoint.powerW < 0 ? battery.maxChargePowerW : battery.maxDischargePowerW;
  }
  if (setpoint.kind === 'pv-limit' && (config.kind === 'pv-inverter' || config.kind === 'hybrid-inverter')) {
    return config.pv?.ratedPowerW;
  }
  return undefined;
}

/** The point the set-point itself is written to, when the control writes the value as is (not a mode or a %). */
function setpointPoint(profile: ModbusProfile, setpoint: Setpoint) {
  if (setpoint.kind === 'safe') return undefined;
  const control = profile.controls.find((c) => c.setpoint === setpoint.kind);
  const key = control?.steps?.find((s) => s.value === 'setpoint')?.key;
  if (control === undefined || key === undefined) return undefined;
  return { control, point: profile.points.find((p) => p.key === key) };
}

function failureStatus(err: unknown): Status {
  // The device refused the request itself (illegal function, address or value): the write is rejected.
  if (err instanceof ModbusExceptionError && err.code >= 1 && err.code <= 3) return 'rejected';
  if (err instanceof ModbusTimeoutError) return 'timeout';
  return 'failed';
}

/**
 * Answers `device.<assetId>.write` for the owned assets (request/reply → WriteResult): validate, encode with the
 * profile, read the target registers and skip the ones already holding the value, write the rest, read back and
 * compare. `applied` only when every register reads back as written; `unchanged` when nothing had to be written;
 * `mismatch` when the device did not take it. Keeps set-points alive for profiles with `keepAliveMs`, and writes the
 * profile's safe set-point when a write's `expiresAtMs` passes without a newer write.
 */
export function startCommands(opts: CommandsOptions): Commands {
  const { health, now } = opts;
  const states = new Map<string, AssetState>(
    opts.assets.map((asset) => {
      let client: RegisterClient | undefined;
      const state: AssetState = {
        asset,
        get client(): RegisterClient {
          client ??= opts.clientFor(asset);
          return client;
        },
        log: opts.log.child({ assetId: asset.id }),
        queue: Promise.resolve(),
        deadline: undefined,
        keepAlive: undefined,
        lastKeepAliveWriteAtMs: undefined,
      };
      return [asset.id, state];
    }),
  );
  let stopped = false;
  for (const name of [
    'writes',
    'skippedWrites',
    'writeCommands',
    'writeFailures',
    'writeMismatches',
    'writesRejected',
    'foreignWrites',
    'keepAlives',
    'keepAliveFailures',
    'watchdogSafe',
    'watchdogFailures',
    'writeBusDropped',
  ]) {
    health.setCounter(name, 0);
  }

  const bus = createBusOnTransport(
    ownedWritesOnly(
      opts.transport,
      (id) => states.has(id),
      () => health.incrementCounter('foreignWrites'),
      () => health.setCounter('writeBusDropped', droppedTotal(bus.stats().totals)),
    ),
    opts.log.child({ component: 'write-bus' }),
  );

  function serialize<T>(state: AssetState, work: () => Promise<T>): Promise<T> {
    const run = state.queue.then(work, work);
    state.queue = run.catch(() => undefined);
    return run;
  }

  async function scaleFactorsFor(state: AssetState, profile: ModbusProfile): Promise<Readonly<Record<string, number>>> {
    // Only the scale factors of writable points: the others are the poller's business.
    const names = new Set(
      profile.points.flatMap((p) => (p.access === 'rw' && p.scaleFrom !== undefined ? [p.scaleFrom] : [])),
    );
    const needed = profile.scaleFactors.filter((sf) => names.has(sf.name));
    if (needed.length === 0) return {};
    const cached = opts.scaleFactors?.(state.asset.id);
    if (cached !== undefined && needed.every((sf) => sf.name in cached)) return cached;
    const blocks = planReadBlocks(
      needed.map((sf) => ({ name: sf.name, table: sf.table, address: sf.address, count: 1 })),
      {
        maxRegistersPerRead: profile.modbus.maxRegistersPerRead,
        maxGapRegisters: profile.modbus.maxGapRegisters,
        refusedRanges: profile.modbus.refusedRanges,
      },
    );
    return decodeProfile(profile, await readBlocks(state.client, blocks)).scaleFactors;
  }

  function targetBlocks(profile: ModbusProfile, writes: readonly RegisterWrite[]) {
    return planReadBlocks(
      writes.map((w) => ({ name: `${w.key}@${w.address}`, table: w.table, address: w.address, count: w.words.length })),
      {
        maxRegistersPerRead: profile.modbus.maxRegistersPerRead,
        maxGapRegisters: profile.modbus.maxGapRegisters,
        refusedRanges: profile.modbus.refusedRanges,
      },
    );
  }

  /** Writes `writes` in order (skipping registers that already hold their words when `skipUnchanged`), then reads them back. */
  async function writeAndVerify(
    state: AssetState,
    profile: ModbusProfile,
    writes: readonly RegisterWrite[],
    skipUnchanged: boolean,
  ): Promise<{
    readonly written: readonly RegisterWrite[];
    readonly after: readonly BlockWords[];
    readonly mismatches: readonly string[];
  }> {
    const { asset, client } = state;
    const blocks = targetBlocks(profile, writes);
    const before = skipUnchanged ? await readBlocks(client, blocks) : undefined;
    const written: RegisterWrite[] = [];
    for (const write of writes) {
      if (
        before !== undefined &&
        sameWords(wordsAt(before, write.table, write.address, write.words.length), write.words)
      ) {
        // Flash wear: many devices keep holding registers in EEPROM; a value already there is not written again.
        health.incrementCounter('skippedWrites');
        health.incrementCounter(assetCounter('skipped', asset.id, write.key));
        continue;
      }
      await client.write({ address: write.address, words: write.words });
      written.push(write);
      health.incrementCounter('writes');
      health.incrementCounter(assetCounter('writes', asset.id, write.key));
    }
    const after = written.length === 0 && before !== undefined ? before : await readBlocks(client, blocks);
    const mismatches = writes.flatMap((write) => {
      const read = wordsAt(after, write.table, write.address, write.words.length);
      return sameWords(read, write.words)
        ? []
        : [`${write.key}@${write.address}: wrote ${hex(write.words)}, read back ${hex(read)}`];
    });
    return { written, after, mismatches };
  }

  async function apply(state: AssetState, profile: ModbusProfile, setpoint: Setpoint): Promise<Applied> {
    try {
      const scaleFactors = await scaleFactorsFor(state, profile);
      const outcome = encodeSetpoint(profile, setpoint, {
        ratedPowerW: ratedPowerW(state.asset, setpoint),
        scaleFactors,
      });
      if (outcome.kind === 'rejected')
        return { status: 'rejected', error: `${outcome.reason}: ${outcome.detail}`, written: [] };
      const coil = outcome.writes.find((w) => w.table !== 'holding');
      if (coil !== undefined) {
        return { status: 'rejected', error: `'${coil.key}' is a coil; coil writes are not supported`, written: [] };
      }
      const { written, after, mismatches } = await writeAndVerify(state, profile, outcome.writes, true);
      const target = setpointPoint(profile, setpoint);
      let readBack: number | undefined;
      if (target?.point !== undefined && target.control.scaling === 'value' && outcome.exact) {
        const { point } = target;
        const words = wordsAt(after, point.table, point.address, registerCount(point));
        const exponent = point.scaleFrom === undefined ? 0 : (scaleFactors[point.scaleFrom] ?? 0);
        const value = words === undefined ? undefined : decodePoint(point, words, exponent);
        if (typeof value === 'number' && Number.isFinite(value)) readBack = value;
      }
      const keepAliveKey = target?.point?.key;
      const keepAlive =
        outcome.keepAliveMs === undefined
          ? undefined
          : {
              writes:
                keepAliveKey === undefined ? outcome.writes : outcome.writes.filter((w) => w.key === keepAliveKey),
              everyMs: outcome.keepAliveMs,
            };
      const clamped =
        outcome.clamped === undefined ? '' : `clamped ${outcome.clamped.requested} → ${outcome.clamped.applied}`;
      if (mismatches.length > 0) {
        return { status: 'mismatch', readBack, error: short(mismatches.join('; ')), written };
      }
      return {
        status: written.length === 0 ? 'unchanged' : 'applied',
        readBack,
        written,
        keepAlive,
        ...(clamped === '' ? {} : { error: clamped }),
      };
    } catch (err) {
      return { status: failureStatus(err), error: describeFailure(err), written: [] };
    }
  }

  function cancelKeepAlive(state: AssetState): void {
    if (state.keepAlive?.timer !== undefined) clearTimeout(state.keepAlive.timer);
    state.keepAlive = undefined;
  }

  function scheduleKeepAlive(state: AssetState, keepAlive: KeepAlive, profile: ModbusProfile): void {
    if (stopped) return;
    const last = state.lastKeepAliveWriteAtMs;
    const delay = last === undefined ? 0 : last + keepAlive.everyMs - now();
    keepAlive.timer = setTimeout(() => {
      void serialize(state, async () => {
        if (state.keepAlive !== keepAlive || stopped) return;
        try {
          const { mismatches } = await writeAndVerify(state, profile, keepAlive.writes, false);
          health.incrementCounter('keepAlives');
          if (mismatches.length > 0) state.log.warn({ mismatches }, 'keep-alive read-back differs');
          else state.log.debug({ registers: keepAlive.writes.length }, 'keep-alive written');
        } catch (err) {
          health.incrementCounter('keepAliveFailures');
          state.log.warn({ err }, 'keep-alive write failed');
        }
        // Retry (or continue) one period later, measured from this attempt.
        state.lastKeepAliveWriteAtMs = now();
        if (state.keepAlive === keepAlive) scheduleKeepAlive(state, keepAlive, profile);
      });
    }, clampDelay(delay));
  }

  /** After a set-point: keep it alive if the profile needs it and it took; otherwise stop repeating the older one. */
  function updateKeepAlive(state: AssetState, profile: ModbusProfile, applied: Applied): void {
    const took = applied.status === 'applied' || applied.status === 'unchanged';
    cancelKeepAlive(state);
    if (!took || applied.keepAlive === undefined || applied.keepAlive.writes.length === 0) return;
    if (applied.written.some((w) => applied.keepAlive?.writes.includes(w))) state.lastKeepAliveWriteAtMs = now();
    const keepAlive: KeepAlive = { ...applied.keepAlive, timer: undefined };
    state.keepAlive = keepAlive;
    scheduleKeepAlive(state, keepAlive, profile);
  }

  function armWatchdog(state: AssetState, profile: ModbusProfile, write: DeviceWrite): void {
    if (state.deadline?.timer !== undefined) clearTimeout(state.deadline.timer);
    const deadline: Deadline = { commandId: write.commandId, expiresAtMs: write.expiresAtMs, timer: undefined };
    state.deadline = deadline;
    const fire = (): void => {
      void serialize(state, async () => {
        if (state.deadline !== deadline || stopped) return;
        const applied = await apply(state, profile, { kind: 'safe' });
        const fields = { commandId: deadline.commandId, expiredAtMs: deadline.expiresAtMs, status: applied.status };
        if (applied.status === 'applied' || applied.status === 'unchanged') {
          health.incrementCounter('watchdogSafe');
          state.log.warn(fields, 'write expired without a newer one; safe set-point applied');
          state.deadline = undefined;
          updateKeepAlive(state, profile, applied);
          return;
        }
        // The old set-point may still be running on the device: keep trying until the safe one takes.
        health.incrementCounter('watchdogFailures');
        state.log.error({ ...fields, error: applied.error }, 'safe set-point after expiry failed; retrying');
        if (!stopped) deadline.timer = setTimeout(fire, Math.max(1_000, state.asset.pollIntervalMs));
      });
    };
    deadline.timer = setTimeout(fire, clampDelay(write.expiresAtMs - now()));
  }

  async function execute(
    state: AssetState,
    write: DeviceWrite,
  ): Promise<Omit<WriteResult, 'v' | 'commandId' | 'assetId' | 'atMs'>> {
    const { asset } = state;
    if (write.assetId !== asset.id)
      return { status: 'rejected', error: `payload assetId '${write.assetId}' differs from the subject` };
    if (write.expiresAtMs <= now())
      return { status: 'rejected', error: `expired at ${write.expiresAtMs} before it could be applied` };
    if (asset.driver.kind !== 'modbus') {
      const why =
        asset.driver.kind === 'unusable'
          ? asset.driver.reason
          : `profile '${asset.driver.profile.id}' has no write controls`;
      return { status: 'rejected', error: why };
    }
    const { profile } = asset.driver;
    if (profile.controls.length > 0) armWatchdog(state, profile, write);
    const applied = await apply(state, profile, write.setpoint);
    updateKeepAlive(state, profile, applied);
    return {
      status: applied.status,
      ...(applied.readBack === undefined ? {} : { readBack: applied.readBack }),
      ...(applied.error === undefined ? {} : { error: short(applied.error) }),
    };
  }

  const unsubscribe: Unsubscribe = bus.reply(subjects.deviceWrite, async (write, ctx): Promise<WriteResult> => {
    const state = states.get(ctx.params.assetId);
    health.incrementCounter('writeCommands');
    // The handler runs in the arbiter's trace context (the write's traceparent): the device write is its child.
    const span = serviceTracer().startSpan(`device.write ${ctx.params.assetId}`, {
      kind: SpanKind.CONSUMER,
      attributes: { 'voltimax.asset': ctx.params.assetId, 'voltimax.command': write.commandId },
    });
    const result =
      state === undefined || stopped
        ? { status: 'failed' as const, error: 'driver stopping' }
        : await serialize(state, () => execute(state, write));
    span.setAttribute('voltimax.write.status', result.status);
    if (result.status !== 'applied' && result.status !== 'unchanged') span.setStatus({ code: SpanStatusCode.ERROR, message: result.status });
    span.end();
    if (result.status === 'mismatch') health.incrementCounter('writeMismatches');
    else if (result.status === 'rejected') health.incrementCounter('writesRejected');
    else if (result.status !== 'applied' && result.status !== 'unchanged') health.incrementCounter('writeFailures');
    const log = state?.log ?? opts.log;
    const fields = { commandId: write.commandId, setpoint: write.setpoint, ...result };
    if (result.status === 'applied' || result.status === 'unchanged') log.debug(fields, 'write executed');
    else log.warn(fields, 'write not applied');
    return { v: 1, commandId: write.commandId, assetId: ctx.params.assetId, atMs: now(), ...result };
  });

  return {
    async stop() {
      stopped = true;
      unsubscribe();
      for (const state of states.values()) {
        if (state.deadline?.timer !== undefined) clearTimeout(state.deadline.timer);
        cancelKeepAlive(state);
      }
      await Promise.all([...states.values()].map((s) => s.queue));
    },
  };
}
