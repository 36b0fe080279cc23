import type { AssetConfig, AssetKind, SiteConfig } from '@voltimax/contracts';
import {
  getProfile,
  type ModbusProfile,
  type ProfileKind,
  type SunSpecProfile,
  type SunSpecRole,
} from '@voltimax/devices';
import { fnv1a } from '@voltimax/driver-sdk/plumbing';
import {
  endpointKey,
  endpointOf,
  isModbusConnection,
  type ModbusConnection,
  type ModbusEndpoint,
} from '@voltimax/modbus';
import type { Shard } from './config';

/** A site asset reached over Modbus. */
export type ModbusAssetConfig = AssetConfig & { readonly connection: ModbusConnection };

/** How an owned asset is read: a register profile, a SunSpec model chain, or not at all (and why). */
export type AssetDriver =
  | { readonly kind: 'modbus'; readonly profile: ModbusProfile }
  | { readonly kind: 'sunspec'; readonly profile: SunSpecProfile; readonly role: SunSpecRole }
  | { readonly kind: 'unusable'; readonly reason: string };

/** An asset this instance owns: it polls it and executes its writes. */
export interface OwnedAsset {
  readonly config: ModbusAssetConfig;
  readonly id: string;
  readonly kind: AssetKind;
  readonly endpoint: ModbusEndpoint;
  readonly unitId: number;
  readonly pollIntervalMs: number;
  readonly driver: AssetDriver;
}

/** The assets of the site split by who drives them. */
export interface AssetPlan {
  /** Modbus assets of this shard, in site order. */
  readonly owned: readonly OwnedAsset[];
  /** Modbus assets another instance owns. */
  readonly otherShards: readonly string[];
  /** Assets for other drivers (HTTP, MQTT, OCPP, simulated) or disabled. */
  readonly notModbus: readonly string[];
}

/** True for assets reached over Modbus. */
export function isModbusAsset(asset: AssetConfig): asset is ModbusAssetConfig {
  return isModbusConnection(asset.connection);
}

/** 32-bit FNV-1a over the UTF-16 code units: stable across processes, versions and machines (the shard hash). */
export { fnv1a };

/**
 * What decides the shard of an asset. Usually its id; but every unit behind one RS-485 line (a serial port or
 * a serial-to-TCP gateway) goes to the same instance, because a line has exactly one master: two instances
 * opening one serial port or one single-client gateway would collide.
 */
export function shardKey(asset: Pick<ModbusAssetConfig, 'id' | 'connection'>): string {
  return asset.connection.protocol === 'modbus-tcp' ? asset.id : `line:${endpointKey(endpointOf(asset.connection))}`;
}

/** The shard (0 … count − 1) a key belongs to. */
export function shardOf(key: string, count: number): number {
  return fnv1a(key) % count;
}

const PROFILE_KIND_FOR: Readonly<Record<AssetKind, ProfileKind | undefined>> = {
  battery: 'battery',
  'hybrid-inverter': 'hybrid-inverter',
  'pv-inverter': 'pv-inverter',
  'grid-meter': 'meter',
  meter: 'meter',
  load: 'meter',
  'ev-charger': 'ev-charger',
};

/** Resolves the asset's profile and checks that it can serve the asset's kind. */
export function driverFor(asset: Pick<AssetConfig, 'kind' | 'profile'>): AssetDriver {
  const profile = getProfile(asset.profile);
  const wanted = PROFILE_KIND_FOR[asset.kind];
  if (profile === undefined) return { kind: 'unusable', reason: `unknown profile '${asset.profile}'` };
  if (wanted === undefined) return { kind: 'unusable', reason: `no profile kind serves a ${asset.kind}` };
  switch (profile.protocol) {
    case 'modbus':
      return profile.kind === wanted
        ? { kind: 'modbus', profile }
        : { kind: 'unusable', reason: `profile '${profile.id}' is a ${profile.kind}, the asset a ${asset.kind}` };
    case 'sunspec':
      return wanted !== 'ev-charger' && profile.kinds.includes(wanted)
        ? { kind: 'sunspec', profile, role: wanted }
        : { kind: 'unusable', reason: `profile '${profile.id}' cannot serve a ${asset.kind}` };
    case 'ocpp':
      return { kind: 'unusable', reason: `profile '${profile.id}' is OCPP only (ocpp-csms drives it)` };
    case 'http':
    case 'mqtt':
      return {
        kind: 'unusable',
        reason: `profile '${profile.id}' is an ${profile.protocol} profile (http-devices drives it)`,
      };
  }
}

/**
 * Profiles' RS-485 gaps per endpoint: the largest any asset on it asks for, so all of them agree. Only where we
 * drive the line (serial, RTU over TCP); behind a Modbus TCP gateway the gateway keeps the RS-485 timing.
 */
function interFrameGaps(assets: readonly OwnedAsset[]): ReadonlyMap<string, number> {
  const gaps = new Map<string, number>();
  for (const asset of assets) {
    if (asset.endpoint.transport === 'tcp') continue;
    const gap = asset.driver.kind === 'modbus' ? asset.driver.profile.modbus.interFrameGapMs : undefined;
    if (gap === undefined) continue;
    const key = endpointKey(asset.endpoint);
    gaps.set(key, Math.max(gaps.get(key) ?? 0, gap));
  }
  return gaps;
}

/**
 * Pure: which assets of the site this instance drives. Enabled Modbus assets whose shard key hashes to
 * `shard.index` are owned, also those with an unusable profile (they get `error` telemetry and refuse writes,
 * so the fault is visible instead of silent).
 */
export function planAssets(site: SiteConfig, shard: Shard): AssetPlan {
  const owned: OwnedAsset[] = [];
  const otherShards: string[] = [];
  const notModbus: string[] = [];
  for (const asset of site.assets) {
    if (!asset.enabled || !isModbusAsset(asset)) {
      notModbus.push(asset.id);
      continue;
    }
    if (shardOf(shardKey(asset), shard.count) !== shard.index) {
      otherShards.push(asset.id);
      continue;
    }
    owned.push({
      config: asset,
      id: asset.id,
      kind: asset.kind,
      endpoint: endpointOf(asset.connection),
      unitId: asset.connection.unitId,
      pollIntervalMs: asset.pollIntervalMs,
      driver: driverFor(asset),
    });
  }
  const gaps = interFrameGaps(owned);
  const first = new Map<string, OwnedAsset>();
  const withTiming = owned.map((asset): OwnedAsset => {
    const key = endpointKey(asset.endpoint);
    // One physical endpoint is one connection: every asset on it must describe it the same way.
    const earlier = first.get(key);
    if (earlier === undefined) first.set(key, asset);
    else if (JSON.stringify(earlier.endpoint) !== JSON.stringify(asset.endpoint)) {
      return {
        ...asset,
        driver: { kind: 'unusable', reason: `connection settings of ${key} differ from asset '${earlier.id}'` },
      };
    }
    const gap = gaps.get(key);
    return gap === undefined ? asset : { ...asset, endpoint: { ...asset.endpoint, interFrameGapMs: gap } };
  });
  return { owned: withTiming, otherShards, notModbus };
}
