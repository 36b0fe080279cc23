// Site configuration builders for the poller's tests.
import { SiteConfigSchema, type AssetConfigSchema, type SiteConfig } from '@voltimax/contracts';
import type { z } from 'zod';
import { planAssets, type OwnedAsset } from '../assets';

export type AssetInput = z.input<typeof AssetConfigSchema>;

/** A valid site around the given assets. */
export function siteWith(assets: readonly AssetInput[]): SiteConfig {
  return SiteConfigSchema.parse({
    v: 1,
    gatewayId: 'gw-test',
    siteName: 'poller tests',
    timezone: 'Europe/Paris',
    grid: { maxImportW: 17_000, maxExportW: 17_000 },
    assets,
    strategy: { active: ['null'] },
    tariff: { kind: 'fixed', fixedEurPerMwh: 250 },
  });
}

/** A Modbus TCP asset on 127.0.0.1. */
export function tcpAsset(
  id: string,
  kind: 'grid-meter' | 'pv-inverter' | 'battery' | 'ev-charger' | 'meter',
  profile: string,
  port: number,
  extra: { readonly unitId?: number; readonly pollIntervalMs?: number } = {},
): AssetInput {
  const base = {
    id,
    name: id,
    profile,
    connection: { protocol: 'modbus-tcp', host: '127.0.0.1', port, unitId: extra.unitId ?? 1 },
    pollIntervalMs: extra.pollIntervalMs ?? 1_000,
  } as const;
  switch (kind) {
    case 'battery':
      return { ...base, kind, battery: { capacityWh: 10_000, maxChargePowerW: 5_000, maxDischargePowerW: 5_000 } };
    case 'pv-inverter':
      return { ...base, kind, pv: { ratedPowerW: 10_000 } };
    case 'ev-charger':
      return { ...base, kind, evCharger: { maxCurrentA: 16 } };
    case 'meter':
      return { ...base, kind };
    case 'grid-meter':
      return { ...base, kind };
  }
}

/** The owned assets of a one-shard site (all of its Modbus assets). */
export function ownedAssets(assets: readonly AssetInput[]): readonly OwnedAsset[] {
  return planAssets(siteWith(assets), { index: 0, count: 1 }).owned;
}
