import type { AssetConfig, AssetKind, AssetReading, Measurements, SiteConfig } from '@voltimax/contracts';
import { getProfile, profileSetpoints, type ControlSetpoint } from '@voltimax/devices';
import type { BatteryFlow, ChargerFlow, FlowSource, PowerFlow } from './view';

/** What the flow computation needs to know about an asset: from the site configuration, else from its readings. */
export interface FlowAsset {
  readonly id: string;
  readonly name: string;
  readonly kind: AssetKind;
  /** For `meter` assets: what the meter measures. */
  readonly measures?: 'load' | 'pv' | 'ev' | 'other';
  /** A hybrid inverter counts as a battery only when it has one. */
  readonly hasBattery: boolean;
  readonly capacityWh?: number;
  readonly pollIntervalMs?: number;
  readonly isEnabled: boolean;
  /**
   * What its driver can execute, from its device profile; undefined when not known here (a plugin's asset or
   * profile, an asset known only from its readings): then the kind decides what is offered.
   */
  readonly setpoints?: readonly ControlSetpoint[];
}

function setpointsOf(asset: AssetConfig): { readonly setpoints?: readonly ControlSetpoint[] } {
  if (asset.connection.protocol === 'plugin') return {};
  const profile = getProfile(asset.profile);
  return profile === undefined ? {} : { setpoints: profileSetpoints(profile) };
}

/** The assets of the site configuration (enabled or not), in file order. */
export function assetsOfSite(site: SiteConfig): FlowAsset[] {
  return site.assets.map((asset: AssetConfig): FlowAsset => {
    const battery = asset.kind === 'battery' || asset.kind === 'hybrid-inverter' ? asset.battery : undefined;
    return {
      id: asset.id,
      name: asset.name,
      kind: asset.kind,
      ...(asset.kind === 'meter' ? { measures: asset.measures } : {}),
      hasBattery: battery !== undefined,
      ...(battery === undefined ? {} : { capacityWh: battery.capacityWh }),
      pollIntervalMs: asset.pollIntervalMs,
      isEnabled: asset.enabled,
      ...setpointsOf(asset),
    };
  });
}

/** Without a site configuration: every asset that sent telemetry, as its readings describe it. */
export function assetsOfReadings(readings: ReadonlyMap<string, AssetReading>): FlowAsset[] {
  return [...readings.values()]
    .sort((a, b) => a.assetId.localeCompare(b.assetId))
    .map((reading) => ({
      id: reading.assetId,
      name: reading.assetId,
      kind: reading.kind,
      hasBattery:
        reading.kind === 'battery' || (reading.kind === 'hybrid-inverter' && reading.values.socPct !== undefined),
      isEnabled: true,
    }));
}

/** Options of {@link powerFlow}. */
export interface FlowOptions {
  /** Epoch ms of the evaluation. */
  readonly nowMs: number;
  /** A reading older than this (or than 3 poll intervals of its asset, whichever is longer) is stale, ms. */
  readonly minStaleMs: number;
}

/** How long a reading of `asset` stays fresh, ms. */
export function staleAfterMs(asset: Pick<FlowAsset, 'pollIntervalMs'>, minStaleMs: number): number {
  return Math.max(minStaleMs, 3 * (asset.pollIntervalMs ?? 0));
}

/** Good quality and not older (nor further in the future) than the asset's staleness limit. */
export function isUsable(
  reading: AssetReading | undefined,
  asset: FlowAsset,
  opts: FlowOptions,
): reading is AssetReading {
  if (reading === undefined || reading.quality !== 'good') return false;
  return Math.abs(opts.nowMs - reading.atMs) <= staleAfterMs(asset, opts.minStaleMs);
}

interface Term {
  readonly value: number;
  readonly source: FlowSource;
}

function total(terms: readonly Term[]): number | null {
  return terms.length === 0 ? null : terms.reduce((sum, t) => sum + t.value, 0);
}

/**
 * The site's power flows from the latest readings (pure). Only good, fresh readings count; the others leave their
 * term out (a flow with no usable term is `null`, never an old value).
 *
 * - grid: the grid meters' `powerW`; a site without a grid meter uses the hybrid inverters' `gridPowerW`;
 * - PV: PV inverters' `powerW`, hybrids' `pvPowerW`, meters measuring `pv`;
 * - battery: batteries' `powerW` and hybrids with a battery (their `powerW` is the battery port);
 * - EV: chargers' `powerW` and meters measuring `ev`;
 * - load: `load` assets and meters measuring `load`, else hybrids' `loadPowerW` (both `measured`), else
 *   `derived` from the balance grid = load + ev − pv − battery (never below 0).
 */
export function powerFlow(
  readings: ReadonlyMap<string, AssetReading>,
  assets: readonly FlowAsset[],
  opts: FlowOptions,
): PowerFlow {
  const enabled = assets.filter((a) => a.isEnabled);
  const usable = (asset: FlowAsset): AssetReading | undefined => {
    const reading = readings.get(asset.id);
    return isUsable(reading, asset, opts) ? reading : undefined;
  };
  const terms = (of: readonly FlowAsset[], key: keyof Measurements): Term[] =>
    of.flatMap((asset) => {
      const reading = usable(asset);
      const value = reading?.values[key];
      return reading === undefined || typeof value !== 'number'
        ? []
        : [{ value, source: { assetId: asset.id, atMs: reading.atMs } }];
    });
  const ofKind = (kind: AssetKind) => enabled.filter((a) => a.kind === kind);
  const meters = (measures: FlowAsset['measures']) =>
    enabled.filter((a) => a.kind === 'meter' && a.measures === measures);
  const hybrids = ofKind('hybrid-inverter');
  const batteryAssets = enabled.filter((a) => a.kind === 'battery' || (a.kind === 'hybrid-inverter' && a.hasBattery));

  const gridMeters = ofKind('grid-meter');
  const grid = gridMeters.length > 0 ? terms(gridMeters, 'powerW') : terms(hybrids, 'gridPowerW');
  const pv = [
    ...terms(ofKind('pv-inverter'), 'powerW'),
    ...terms(hybrids, 'pvPowerW'),
    ...terms(meters('pv'), 'powerW'),
  ];
  const battery = terms(batteryAssets, 'powerW');
  const ev = [...terms(ofKind('ev-charger'), 'powerW'), ...terms(meters('ev'), 'powerW')];
  const loadAssets = [...ofKind('load'), ...meters('load')];
  const measuredLoad = loadAssets.length > 0 ? terms(loadAssets, 'powerW') : terms(hybrids, 'loadPowerW');
  const soc = terms(batteryAssets, 'socPct');

  const gridW = total(grid);
  const pvW = total(pv);
  const batteryW = total(battery);
  const evW = total(ev);
  let loadW = total(measuredLoad);
  let loadSource: PowerFlow['loadSource'] = loadW === null ? null : 'measured';
  let load = measuredLoad;
  if (loadW === null && gridW !== null) {
    loadW = Math.max(0, gridW + (pvW ?? 0) + (batteryW ?? 0) - (evW ?? 0));
    loadSource = 'derived';
    load = [...grid, ...pv, ...battery, ...ev];
  }

  const capacity = (assetId: string) => batteryAssets.find((a) => a.id === assetId)?.capacityWh;
  const weights = soc.map((t) => capacity(t.source.assetId));
  const socPct =
    soc.length === 0
      ? null
      : weights.every((w): w is number => w !== undefined && w > 0)
        ? soc.reduce((sum, t, i) => sum + t.value * (weights[i] ?? 0), 0) / weights.reduce((a, b) => a + b, 0)
        : soc.reduce((sum, t) => sum + t.value, 0) / soc.length;

  const batteries = batteryAssets.map((asset): BatteryFlow => {
    const reading = readings.get(asset.id);
    const fresh = usable(asset);
    return {
      assetId: asset.id,
      name: asset.name,
      powerW: fresh?.values.powerW ?? null,
      socPct: fresh?.values.socPct ?? null,
      atMs: reading?.atMs ?? null,
      isStale: fresh === undefined,
    };
  });
  const chargers = ofKind('ev-charger').map((asset): ChargerFlow => {
    const reading = readings.get(asset.id);
    const fresh = usable(asset);
    return {
      assetId: asset.id,
      name: asset.name,
      powerW: fresh?.values.powerW ?? null,
      currentLimitA: fresh?.values.currentLimitA ?? null,
      state: fresh?.chargerState ?? null,
      atMs: reading?.atMs ?? null,
      isStale: fresh === undefined,
    };
  });

  const sources = (list: readonly Term[]) => list.map((t) => t.source);
  return {
    gridW,
    pvW,
    batteryW,
    loadW,
    evW,
    socPct,
    loadSource,
    sources: {
      grid: sources(grid),
      pv: sources(pv),
      battery: sources(battery),
      load: sources(load),
      ev: sources(ev),
      soc: sources(soc),
    },
    batteries,
    chargers,
  };
}
