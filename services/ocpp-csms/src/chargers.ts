import type { AssetConfig, SiteConfig } from '@voltimax/contracts';
import { getProfile, type OcppProfile } from '@voltimax/devices';

/** An EV charger asset reached over OCPP: one connector of one charge point. */
export interface ChargerAsset {
  readonly assetId: string;
  readonly chargePointId: string;
  readonly connectorId: number;
  readonly pollIntervalMs: number;
  /** Phases the charger is wired to (assets.json `evCharger.phases`). */
  readonly phases: 1 | 3;
  readonly minCurrentA: number;
  readonly maxCurrentA: number;
  /** The OCPP profile, or why the asset cannot be driven (it still gets `error` readings and refuses writes). */
  readonly profile: { readonly ok: true; readonly profile: OcppProfile } | { readonly ok: false; readonly reason: string };
}

/** A charge point: its identity, its connectors (each an asset) and the name of its password variable. */
export interface ChargePointPlan {
  readonly identity: string;
  readonly connectors: ReadonlyMap<number, ChargerAsset>;
  readonly passwordEnv: string | undefined;
  /** MeterValuesSampledData to ask for: the union of the connectors' profile measurands. */
  readonly measurands: readonly string[];
}

/** The site split into what this service drives. */
export interface ChargerPlan {
  readonly chargePoints: ReadonlyMap<string, ChargePointPlan>;
  readonly assets: readonly ChargerAsset[];
  /** Assets for other drivers, or disabled. */
  readonly notOcpp: readonly string[];
  /** Contradictions in assets.json that make the service refuse to start (exit 78). */
  readonly problems: readonly string[];
}

type OcppAsset = Extract<AssetConfig, { kind: 'ev-charger' }> & {
  readonly connection: Extract<AssetConfig['connection'], { protocol: 'ocpp' }>;
};

function isOcppCharger(asset: AssetConfig): asset is OcppAsset {
  return asset.enabled && asset.kind === 'ev-charger' && asset.connection.protocol === 'ocpp';
}

function profileOf(profileId: string): ChargerAsset['profile'] {
  const profile = getProfile(profileId);
  if (profile === undefined) return { ok: false, reason: `unknown profile '${profileId}'` };
  if (profile.protocol !== 'ocpp') {
    return { ok: false, reason: `profile '${profileId}' speaks ${profile.protocol}, not OCPP` };
  }
  return { ok: true, profile };
}

/**
 * Pure: the charge points and chargers of the site. Enabled `ev-charger` assets with an `ocpp` connection are
 * owned (also those with an unusable profile, so their fault is visible). Two assets on one connector, or one charge
 * point with two different password variables, are problems.
 */
export function planChargers(site: SiteConfig): ChargerPlan {
  const chargePoints = new Map<string, { identity: string; connectors: Map<number, ChargerAsset>; passwordEnvs: Set<string | undefined> }>();
  const assets: ChargerAsset[] = [];
  const notOcpp: string[] = [];
  const problems: string[] = [];
  for (const asset of site.assets) {
    if (!isOcppCharger(asset)) {
      notOcpp.push(asset.id);
      continue;
    }
    const { chargePointId, connectorId, passwordEnv } = asset.connection;
    const charger: ChargerAsset = {
      assetId: asset.id,
      chargePointId,
      connectorId,
      pollIntervalMs: asset.pollIntervalMs,
      phases: asset.evCharger.phases,
      minCurrentA: asset.evCharger.minCurrentA,
      maxCurrentA: asset.evCharger.maxCurrentA,
      profile: profileOf(asset.profile),
    };
    let cp = chargePoints.get(chargePointId);
    if (cp === undefined) {
      cp = { identity: chargePointId, connectors: new Map(), passwordEnvs: new Set() };
      chargePoints.set(chargePointId, cp);
    }
    const other = cp.connectors.get(connectorId);
    if (other !== undefined) {
      problems.push(`assets '${other.assetId}' and '${asset.id}' are both connector ${connectorId} of charge point '${chargePointId}'`);
      continue;
    }
    cp.connectors.set(connectorId, charger);
    cp.passwordEnvs.add(passwordEnv);
    assets.push(charger);
  }
  const plans = new Map<string, ChargePointPlan>();
  for (const cp of chargePoints.values()) {
    if (cp.passwordEnvs.size > 1) {
      problems.push(
        `charge point '${cp.identity}': its connectors name different password variables (${[...cp.passwordEnvs].map((e) => e ?? 'none').join(', ')})`,
      );
    }
    const measurands = new Set<string>();
    for (const charger of cp.connectors.values()) {
      if (charger.profile.ok) for (const m of charger.profile.profile.ocpp.measurands) measurands.add(m);
    }
    plans.set(cp.identity, {
      identity: cp.identity,
      connectors: cp.connectors,
      passwordEnv: [...cp.passwordEnvs][0],
      measurands: [...measurands].sort(),
    });
  }
  return { chargePoints: plans, assets, notOcpp, problems };
}
