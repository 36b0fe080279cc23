import type { BusTransport } from '@voltimax/bus';
import type { Setpoint, ValueBounds, WriteResult } from '@voltimax/contracts';
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
import { assetCounter, startWritePath, type WritePath } from '@voltimax/driver-sdk/plumbing';
import { ModbusExceptionError, ModbusTimeoutError, readBlocks } from '@voltimax/modbus';
import type { Logger } from 'pino';
import type { OwnedAsset } from './assets';
import type { Health } from './counters';
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

interface AssetState {
  readonly asset: OwnedAsset;
  /** Created on first use: an asset that cannot be driven never gets one. */
  readonly client: RegisterClient;
  readonly log: Logger;
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

/** Modbus write counters besides the write path's own (all start at 0). */
const MODBUS_WRITE_COUNTERS = ['writes', 'skippedWrites', 'keepAlives', 'keepAliveFailures'] as const;

/**
 * Rated power for percent scalings: the device's battery rating (`battery.ratedPowerW`) or its PV rating. Never the
 * site's power limit: 100 % of a 5 kW inverter is 5 kW whatever the site allows, so a % of a lower limit would
 * overshoot it. Without the rating the encoder refuses the write (`missing-rated-power`).
 */
function ratedPowerW(asset: OwnedAsset, setpoint: Setpoint): number | undefined {
  const { config } = asset;
  if (setpoint.kind === 'battery-power' && (config.kind === 'battery' || config.kind === 'hybrid-inverter')) {
    return config.battery?.ratedPowerW;
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
 * Answers `device.<assetId>.write` for the owned assets (request/reply → WriteResult) through the driver SDK's write
 * path: validate, encode with the profile, read the target registers and skip the ones already holding the value,
 * write the rest, read back and compare. `applied` only when every register reads back as written; `unchanged` when
 * nothing had to be written; `mismatch` when the device did not take it. Keeps set-points alive for profiles with
 * `keepAliveMs`, and writes the profile's safe set-point when a write's `expiresAtMs` passes without a newer write.
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
        keepAlive: undefined,
        lastKeepAliveWriteAtMs: undefined,
      };
      return [asset.id, state];
    }),
  );
  let stopped = false;
  for (const name of MODBUS_WRITE_COUNTERS) health.setCounter(name, 0);

  const stateOf = (asset: OwnedAsset): AssetState => {
    const state = states.get(asset.id);
    if (state === undefined) throw new Error(`asset '${asset.id}' is not owned`); // the write path asks only for ours
    return state;
  };
  const profileOf = (asset: OwnedAsset): ModbusProfile => {
    if (asset.driver.kind !== 'modbus') throw new Error(`asset '${asset.id}' has no Modbus driver`); // refused before
    return asset.driver.profile;
  };

  const path: WritePath = startWritePath<OwnedAsset, Applied>({
    transport: opts.transport,
    log: opts.log,
    health,
    assets: opts.assets,
    now,
    // Timeouts have always been counted as failures here (dashboards).
    statusCounters: { timeout: 'writeFailures' },
    refuse: (asset) => {
      if (asset.driver.kind === 'modbus') return undefined;
      return asset.driver.kind === 'unusable'
        ? asset.driver.reason
        : `profile '${asset.driver.profile.id}' has no write controls`;
    },
    watchdog: (asset) => asset.driver.kind === 'modbus' && asset.driver.profile.controls.length > 0,
    apply: (asset, setpoint, _signal, context) => {
      // The set-point expired: never repeat it again, whether or not the safe one takes (the device's own
      // communication-loss fallback must be free to act while the safe write keeps failing).
      if (context.origin === 'watchdog') cancelKeepAlive(stateOf(asset));
      return apply(
        stateOf(asset),
        profileOf(asset),
        setpoint,
        context.origin === 'write' ? context.write.bounds : undefined,
      );
    },
    afterApply: (asset, applied) => updateKeepAlive(stateOf(asset), profileOf(asset), applied),
  });

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

  /** `bounds`: the arbiter's interval for the value (DeviceWrite.bounds): a register step is taken inside it. */
  async function apply(
    state: AssetState,
    profile: ModbusProfile,
    setpoint: Setpoint,
    bounds: ValueBounds | undefined,
  ): Promise<Applied> {
    try {
      const scaleFactors = await scaleFactorsFor(state, profile);
      const outcome = encodeSetpoint(profile, setpoint, {
        ratedPowerW: ratedPowerW(state.asset, setpoint),
        scaleFactors,
        ...(bounds === undefined ? {} : { bounds }),
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
      void path.serialize(state.asset.id, async () => {
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

  return {
    async stop() {
      stopped = true;
      for (const state of states.values()) cancelKeepAlive(state);
      await path.stop();
    },
  };
}
