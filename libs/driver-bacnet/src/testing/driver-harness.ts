// Runs the bacnet driver the way the driver host does (options parsed with the driver's schemas, a context with
// push, log and clock), without the host: for the driver's own tests and for tools.
import { AssetConfigSchema, type AssetConfig } from '@voltimax/contracts';
import type { DriverAsset, DriverInstance, DriverSample } from '@voltimax/driver-sdk';
import { bacnetDriver } from '../lib/driver';
import {
  BacnetAssetOptionsSchema,
  BacnetHostOptionsSchema,
  type BacnetAssetOptions,
  type BacnetAssetOptionsInput,
  type BacnetHostOptionsInput,
} from '../lib/options';

/** One log line the driver wrote. */
export interface LoggedLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly fields: object;
  readonly message: string;
}

/** A started driver with what it pushed and logged. */
export interface DriverHarness {
  readonly instance: DriverInstance<BacnetAssetOptions>;
  readonly assets: ReadonlyMap<string, DriverAsset<BacnetAssetOptions>>;
  readonly pushed: { readonly assetId: string; readonly sample: DriverSample }[];
  readonly logged: LoggedLine[];
  /** The asset by id (throws for an unknown id). */
  asset(id: string): DriverAsset<BacnetAssetOptions>;
  /** Stops the driver (close, then abort the context signal). */
  stop(): Promise<void>;
}

/** A battery asset entry of the site configuration around BACnet options. */
export function bacnetAssetConfig(
  id: string,
  options: BacnetAssetOptionsInput,
  kind: 'battery' | 'grid-meter' = 'battery',
): AssetConfig {
  const base = {
    id,
    name: id,
    profile: 'bacnet.mapped',
    connection: { protocol: 'plugin', driver: 'bacnet', options },
  };
  return AssetConfigSchema.parse(
    kind === 'battery'
      ? { ...base, kind, battery: { capacityWh: 10_000, maxChargePowerW: 5_000, maxDischargePowerW: 5_000 } }
      : { ...base, kind },
  );
}

/** Parses the options like the host, starts the driver and records its pushes and logs. */
export async function startBacnetDriver(
  hostOptions: BacnetHostOptionsInput,
  assets: readonly {
    readonly id: string;
    readonly options: BacnetAssetOptionsInput;
    readonly kind?: 'battery' | 'grid-meter';
  }[],
  now: () => number = () => Date.now(),
): Promise<DriverHarness> {
  const pushed: { assetId: string; sample: DriverSample }[] = [];
  const logged: LoggedLine[] = [];
  const controller = new AbortController();
  const line =
    (level: LoggedLine['level']) =>
    (fields: object, message: string): void => {
      logged.push({ level, fields, message });
    };
  const driverAssets = new Map<string, DriverAsset<BacnetAssetOptions>>(
    assets.map((a) => [
      a.id,
      {
        id: a.id,
        config: bacnetAssetConfig(a.id, a.options, a.kind),
        options: BacnetAssetOptionsSchema.parse(a.options),
      },
    ]),
  );
  const instance = await bacnetDriver.start(
    {
      options: BacnetHostOptionsSchema.parse(hostOptions),
      log: { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') },
      now,
      push: (assetId, sample) => pushed.push({ assetId, sample }),
      signal: controller.signal,
    },
    [...driverAssets.values()],
  );
  return {
    instance,
    assets: driverAssets,
    pushed,
    logged,
    asset(id) {
      const asset = driverAssets.get(id);
      if (asset === undefined) throw new Error(`no asset ${id}`);
      return asset;
    },
    async stop() {
      await instance.close();
      controller.abort();
    },
  };
}
