import type { AssetConfig, AssetKind, SiteConfig } from '@voltimax/contracts';
import { resolveDriverModule, type ModuleResolution, type ResolveOptions } from './resolve-module';

/** An enabled asset with a `plugin` connection: this service answers for it. */
export interface PluginAsset {
  readonly id: string;
  readonly kind: AssetKind;
  readonly pollIntervalMs: number;
  /** Its index in the site's `assets` (messages name `assets[i]`). */
  readonly index: number;
  readonly driver: string;
  readonly config: AssetConfig;
}

/** An enabled driver of the site's `drivers` list with at least one enabled asset. */
export interface DriverPlan {
  readonly name: string;
  /** Its index in the site's `drivers`. */
  readonly index: number;
  readonly module: string;
  readonly resolution: ModuleResolution;
  readonly hostOptions: Readonly<Record<string, unknown>>;
  readonly assets: readonly PluginAsset[];
}

/** What this instance runs. */
export interface HostPlan {
  readonly drivers: readonly DriverPlan[];
  /** Every asset it answers for (readings, writes, heartbeat), including those that cannot be driven. */
  readonly assets: readonly PluginAsset[];
  /** Assets that cannot be driven whatever happens (their driver is disabled), with the reason. */
  readonly unusable: ReadonlyMap<string, string>;
  /** Enabled drivers no enabled asset uses (not loaded). */
  readonly idle: readonly string[];
}

/**
 * The drivers to load and the assets to serve: every enabled asset whose connection is `plugin`, grouped by driver.
 * Module paths are resolved here (relative to the site file's folder), so a missing module is known before any
 * thread starts. The site schema already guarantees that every named driver is in the `drivers` list.
 */
export function planHost(site: SiteConfig, resolve: ResolveOptions): HostPlan {
  const assets: PluginAsset[] = [];
  site.assets.forEach((config, index) => {
    if (!config.enabled || config.connection.protocol !== 'plugin') return;
    assets.push({
      id: config.id,
      kind: config.kind,
      pollIntervalMs: config.pollIntervalMs,
      index,
      driver: config.connection.driver,
      config,
    });
  });
  const unusable = new Map<string, string>();
  const drivers: DriverPlan[] = [];
  const idle: string[] = [];
  site.drivers.forEach((driver, index) => {
    const own = assets.filter((a) => a.driver === driver.name);
    if (!driver.enabled) {
      for (const asset of own) unusable.set(asset.id, `driver '${driver.name}' is disabled in the site's drivers list`);
      return;
    }
    if (own.length === 0) {
      idle.push(driver.name);
      return;
    }
    drivers.push({
      name: driver.name,
      index,
      module: driver.module,
      resolution: resolveDriverModule(driver.module, resolve),
      hostOptions: driver.options,
      assets: own,
    });
  });
  for (const asset of assets) {
    if (!unusable.has(asset.id) && !drivers.some((d) => d.name === asset.driver)) {
      unusable.set(asset.id, `driver '${asset.driver}' is not in the site's drivers list`);
    }
  }
  return { drivers, assets, unusable, idle };
}
