// The BACnet/IP driver: a protocol plugin for the driver host (libs/driver-sdk).
import type { Setpoint } from '@voltimax/contracts';
import { setpointValue } from '@voltimax/safety';
import type { DriverAsset, DriverDefinition, DriverHealth, DriverInstance, WriteOutcome } from '@voltimax/driver-sdk';
import { startCov, type Cov, type CovAsset } from './cov';
import { openBacnetLink } from './link';
import { formatObjectRef } from './object-ref';
import {
  BacnetAssetOptionsSchema,
  BacnetHostOptionsSchema,
  macBytes,
  pointEntries,
  type BacnetAssetOptions,
  type BacnetHostOptions,
  type SetpointOptions,
} from './options';
import { readPoints, type Point } from './points';
import { createSession, type DeviceConfig, type DeviceState } from './session';
import { SETPOINT_KINDS, setpointRaw, writeAndVerify, type WritableKind } from './setpoints';

/** Version of the driver (reported to the host). */
export const BACNET_DRIVER_VERSION = '0.1.0';

interface AssetRuntime {
  readonly options: BacnetAssetOptions;
  readonly device: DeviceState;
  readonly points: readonly Point[];
}

interface DriverCounters {
  reads: number;
  readErrors: number;
  writes: number;
  writesApplied: number;
  writesMismatch: number;
  writesRejected: number;
  writesFailed: number;
}

function deviceConfig(options: BacnetAssetOptions): DeviceConfig {
  return {
    ...(options.address === undefined ? {} : { address: options.address }),
    ...(options.deviceInstance === undefined ? {} : { deviceInstance: options.deviceInstance }),
    ...(options.network === undefined
      ? {}
      : { network: { number: options.network.number, mac: macBytes(options.network.mac) } }),
  };
}

function pointsOf(options: BacnetAssetOptions): Point[] {
  return pointEntries(options).map(([key, p]) => ({
    key,
    object: p.object,
    mapping: { scale: p.scale, offset: p.offset, sign: p.sign },
  }));
}

/**
 * The `bacnet` driver: reads mapped points with ReadPropertyMultiple (ReadProperty when refused), pushes COV
 * notifications, writes set-points at a priority and reads them back. Typed against the contract rather than built
 * with `defineDriver`: the plugin needs nothing of the SDK at run time (its index also carries the host's write path,
 * NATS and OpenTelemetry), so a bundle of the plugin stays free of host code.
 */
export const bacnetDriver: DriverDefinition<BacnetAssetOptions, BacnetHostOptions> = {
  name: 'bacnet',
  version: BACNET_DRIVER_VERSION,
  setpoints: SETPOINT_KINDS,
  assetOptions: BacnetAssetOptionsSchema,
  hostOptions: BacnetHostOptionsSchema,
  async start(context, assets) {
    const host = context.options;
    const log = context.log;
    const link = await openBacnetLink({
      interface: host.interface,
      port: host.port,
      broadcastAddress: host.broadcastAddress,
      apduTimeoutMs: host.apduTimeoutMs,
      apduRetries: host.apduRetries,
      maxConcurrentRequests: host.maxConcurrentRequests,
    });
    const session = createSession({ link, apduTimeoutMs: host.apduTimeoutMs, apduRetries: host.apduRetries, log });
    const runtimes = new Map<string, AssetRuntime>();
    for (const asset of assets) {
      runtimes.set(asset.id, {
        options: asset.options,
        device: session.device(deviceConfig(asset.options)),
        points: pointsOf(asset.options),
      });
    }
    const counters: DriverCounters = {
      reads: 0,
      readErrors: 0,
      writes: 0,
      writesApplied: 0,
      writesMismatch: 0,
      writesRejected: 0,
      writesFailed: 0,
    };
    const covAssets: CovAsset[] = [];
    for (const asset of assets) {
      const runtime = runtimes.get(asset.id);
      const cov = asset.options.cov;
      if (runtime === undefined || cov === undefined || !cov.enabled) continue;
      const wanted = cov.points;
      covAssets.push({
        id: asset.id,
        device: runtime.device,
        points: runtime.points.filter((p) => wanted === undefined || wanted.includes(p.key)),
        lifetimeS: cov.lifetimeS,
        confirmed: cov.confirmed,
      });
    }
    const cov: Cov | undefined =
      covAssets.length > 0 ? startCov({ session, log, now: context.now, push: context.push }, covAssets) : undefined;
    log.info(
      {
        local: link.localAddress,
        assets: assets.map((a) => ({
          id: a.id,
          device: runtimes.get(a.id)?.device.key,
          points: Object.keys(a.options.points).length,
        })),
        cov: covAssets.length,
      },
      'bacnet driver started',
    );

    const runtimeOf = (asset: DriverAsset<BacnetAssetOptions>): AssetRuntime => {
      const known = runtimes.get(asset.id);
      if (known) return known;
      // an asset the host did not start us with: serve it all the same
      const created = {
        options: asset.options,
        device: session.device(deviceConfig(asset.options)),
        points: pointsOf(asset.options),
      };
      runtimes.set(asset.id, created);
      return created;
    };

    const count = (outcome: WriteOutcome): WriteOutcome => {
      if (outcome.status === 'applied' || outcome.status === 'unchanged') counters.writesApplied += 1;
      else if (outcome.status === 'mismatch') counters.writesMismatch += 1;
      else if (outcome.status === 'rejected') counters.writesRejected += 1;
      else counters.writesFailed += 1;
      return outcome;
    };

    const writeSafe = async (
      asset: DriverAsset<BacnetAssetOptions>,
      runtime: AssetRuntime,
      signal: AbortSignal,
    ): Promise<WriteOutcome> => {
      const mapped = SETPOINT_KINDS.map((kind) => [kind, runtime.options.setpoints[kind]] as const).filter(
        (e): e is readonly [WritableKind, SetpointOptions] => e[1] !== undefined,
      );
      if (mapped.length === 0) return { status: 'unchanged', error: 'no set-points mapped: nothing to make safe' };
      const outcomes: WriteOutcome[] = [];
      for (const [, mapping] of mapped) {
        const raw = mapping.safe === 'relinquish' ? null : setpointRaw(mapping, mapping.safe.value);
        outcomes.push(
          await writeAndVerify(session, runtime.device, mapping, raw, runtime.options.maxObjectsPerRequest, signal),
        );
      }
      const failed = outcomes.find((o) => o.status !== 'applied');
      const notes = outcomes.map((o) => o.error).filter((e): e is string => e !== undefined);
      const base = failed ?? { status: 'applied' as const };
      log.info({ assetId: asset.id, status: base.status, kinds: mapped.map(([k]) => k) }, 'safe set-point written');
      return {
        status: base.status,
        ...(outcomes.length === 1 && outcomes[0]?.readBack !== undefined ? { readBack: outcomes[0].readBack } : {}),
        ...(notes.length > 0 ? { error: notes.join('; ') } : {}),
      };
    };

    const instance: DriverInstance<BacnetAssetOptions> = {
      async read(asset, signal) {
        const runtime = runtimeOf(asset);
        counters.reads += 1;
        try {
          const values = await readPoints(
            session,
            runtime.device,
            runtime.points,
            runtime.options.maxObjectsPerRequest,
            signal,
          );
          return { values, atMs: context.now() };
        } catch (err) {
          counters.readErrors += 1;
          throw err;
        }
      },
      async write(asset, setpoint: Setpoint, signal, options) {
        const runtime = runtimeOf(asset);
        counters.writes += 1;
        if (setpoint.kind === 'safe') return count(await writeSafe(asset, runtime, signal));
        const mapping = runtime.options.setpoints[setpoint.kind];
        if (mapping === undefined)
          return count({
            status: 'rejected',
            error: `asset ${asset.id} has no BACnet object for ${setpoint.kind} (map it under setpoints)`,
          });
        const value = setpointValue(setpoint);
        const outcome = await writeAndVerify(
          session,
          runtime.device,
          mapping,
          setpointRaw(mapping, value, options?.bounds),
          runtime.options.maxObjectsPerRequest,
          signal,
        );
        log.info(
          {
            assetId: asset.id,
            kind: setpoint.kind,
            value,
            object: formatObjectRef(mapping.object),
            priority: mapping.priority,
            status: outcome.status,
          },
          'set-point written',
        );
        return count(outcome);
      },
      health(): DriverHealth {
        const devices = [...session.devices.values()];
        const failing = devices.filter((d) => d.answering === false);
        const c: Record<string, number> = {
          ...link.counters,
          ...counters,
          ...session.counters,
          ...(cov?.counters ?? {}),
          covActive: cov?.activeCount() ?? 0,
          covRefusedPoints: cov?.refusedCount() ?? 0,
          devices: devices.length,
          devicesNotAnswering: failing.length,
          rpmRefusingDevices: devices.filter((d) => !d.rpm).length,
        };
        if (link.socketError) return { state: 'down', detail: `socket: ${link.socketError.message}`, counters: c };
        if (failing.length > 0)
          return { state: 'degraded', detail: `not answering: ${failing.map((d) => d.key).join(', ')}`, counters: c };
        return { state: 'ok', counters: c };
      },
      async close() {
        await cov?.close();
        await link.close();
        log.info({}, 'bacnet driver stopped');
      },
    };
    context.signal.addEventListener('abort', () => void cov?.close(), { once: true });
    return instance;
  },
};
