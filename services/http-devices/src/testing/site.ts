// Site configuration builders for the http-devices tests.
import { SiteConfigSchema, type AssetConfigSchema, type SiteConfig } from '@voltimax/contracts';
import type { z } from 'zod';

export type AssetInput = z.input<typeof AssetConfigSchema>;

/** A valid site around the given assets. */
export function siteWith(assets: readonly AssetInput[]): SiteConfig {
  return SiteConfigSchema.parse({
    v: 1,
    gatewayId: 'gw-test',
    siteName: 'http-devices tests',
    timezone: 'Europe/Paris',
    grid: { maxImportW: 17_000, maxExportW: 17_000 },
    assets,
    strategy: { active: ['null'] },
    tariff: { kind: 'fixed', fixedEurPerMwh: 250 },
  });
}

/** A Peblar charger on its REST API. */
export function peblarAsset(
  id: string,
  baseUrl: string,
  extra: { readonly tokenEnv?: string; readonly pollIntervalMs?: number } = {},
): AssetInput {
  return {
    id,
    name: id,
    kind: 'ev-charger',
    profile: 'peblar.rest',
    connection: { protocol: 'http', baseUrl, ...(extra.tokenEnv === undefined ? {} : { tokenEnv: extra.tokenEnv }) },
    pollIntervalMs: extra.pollIntervalMs ?? 250,
    evCharger: { minCurrentA: 6, maxCurrentA: 16, phases: 3 },
  };
}

/** A HomeWizard P1 grid meter. */
export function p1Asset(id: string, baseUrl: string, pollIntervalMs = 250): AssetInput {
  return {
    id,
    name: id,
    kind: 'grid-meter',
    profile: 'homewizard.p1',
    connection: { protocol: 'http', baseUrl },
    pollIntervalMs,
  };
}

/** An MQTT asset (any MQTT profile). */
export function mqttAsset(
  id: string,
  kind: 'grid-meter' | 'meter' | 'ev-charger',
  profile: string,
  topicPrefix: string,
  extra: { readonly brokerUrl?: string; readonly mqttVersion?: '3.1.1' | '5.0'; readonly pollIntervalMs?: number } = {},
): AssetInput {
  const connection = {
    protocol: 'mqtt' as const,
    topicPrefix,
    ...(extra.brokerUrl === undefined ? {} : { brokerUrl: extra.brokerUrl }),
    ...(extra.mqttVersion === undefined ? {} : { mqttVersion: extra.mqttVersion }),
  };
  const base = { id, name: id, profile, connection, pollIntervalMs: extra.pollIntervalMs ?? 250 };
  if (kind === 'ev-charger') return { ...base, kind, evCharger: { minCurrentA: 6, maxCurrentA: 16, phases: 1 } };
  return kind === 'meter' ? { ...base, kind, measures: 'load' } : { ...base, kind };
}
