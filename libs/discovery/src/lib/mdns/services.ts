// What energy devices announce over mDNS/DNS-SD and what we make of it. Pure: a browsed service record in, a
// candidate (or a hint about a hub, or the reason it was ignored) out.
import { isIPv4 } from 'node:net';
import type { AssetKind } from '@voltimax/contracts';
import { getProfile } from '@voltimax/devices';
import { z } from 'zod';
import { normalizeMac, type CandidateDraft } from '../candidate';

/**
 * Profile id of the HomeWizard P1 meter's HTTP profile (local API v1, `GET /api/v1/data`). The profile itself is
 * added to libs/devices with the http-devices service; until it is in the catalogue, candidates carry this id and
 * `voltimax config validate` reports it as unknown.
 */
export const HOMEWIZARD_P1_PROFILE_ID = 'homewizard.p1';

/** A resolved DNS-SD service instance, as the browser saw it. */
export interface MdnsServiceRecord {
  /** Instance name (`ShellyPro3EM-C8F09E123456`). */
  readonly name: string;
  /** Service type without underscore and protocol (`hwenergy`, `shelly`, `http`). */
  readonly type: string;
  readonly protocol: 'tcp' | 'udp';
  /** Target host name of the SRV record (`p1meter-ABCDEF.local`). */
  readonly host: string;
  readonly port: number;
  /** Addresses of the A/AAAA records. */
  readonly addresses: readonly string[];
  readonly txt: Readonly<Record<string, string>>;
  /** Source address of the answer. */
  readonly refererAddress?: string;
}

/** A hub or gateway that is no asset itself but points to where assets are (MQTT broker, Modbus gateway). */
export interface MdnsHint {
  readonly kind: 'home-assistant' | 'homey' | 'modbus-gateway';
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly detail: string;
}

/** What one service record became. */
export type MdnsOutcome =
  | { readonly kind: 'candidate'; readonly draft: CandidateDraft }
  | { readonly kind: 'hint'; readonly hint: MdnsHint }
  | { readonly kind: 'ignored'; readonly reason: string };

/**
 * The service types browsed by default (DNS-SD names without `_` and `._tcp`):
 * - `hwenergy`: HomeWizard Energy, local API v1 (HTTP, port 80); TXT `product_type`, `serial`, `api_enabled`.
 * - `homewizard`: HomeWizard Energy, local API v2 (HTTPS with a token); same TXT keys.
 * - `shelly`: Shelly Gen2+ (TXT `gen`, `app`, `ver`); `http` also carries Gen1 and Gen2+ Shellies (name `shelly…`
 *   or TXT `gen`) and is otherwise ignored (any web server announces it).
 * - `home-assistant`, `homey`: hubs (a hint: their MQTT broker may carry Home Assistant discovery).
 * - `modbus`, `mbap`: Modbus TCP gateways where they announce themselves (a hint: scan that host).
 * EV chargers: none of the chargers we support (Peblar, Autel) documents an mDNS service type; the table is data, add
 * one when a device's announcement is verified.
 */
export const MDNS_SERVICE_TYPES: readonly string[] = [
  'hwenergy',
  'homewizard',
  'shelly',
  'http',
  'home-assistant',
  'homey',
  'modbus',
  'mbap',
];

/** TXT values as text (bonjour-service decodes them; anything else is dropped). */
export const TxtSchema = z
  .record(z.string(), z.unknown())
  .transform((record) =>
    Object.fromEntries(
      Object.entries(record).flatMap(([k, v]) =>
        typeof v === 'string'
          ? [[k.toLowerCase(), v]]
          : Buffer.isBuffer(v)
            ? [[k.toLowerCase(), v.toString('utf8')]]
            : [],
      ),
    ),
  );

/** The address to use: an IPv4 of the A records that also sent the answer, else the first IPv4, else the sender. */
export function pickAddress(record: MdnsServiceRecord): string {
  const v4 = record.addresses.filter((a) => isIPv4(a));
  if (record.refererAddress !== undefined && v4.includes(record.refererAddress)) return record.refererAddress;
  return v4[0] ?? record.refererAddress ?? record.addresses[0] ?? record.host;
}

interface HomeWizardProduct {
  readonly kind: AssetKind;
  readonly label: string;
  readonly profileId?: string;
}

/** HomeWizard `product_type` values (api-documentation.homewizard.com) that measure electricity. */
const HOMEWIZARD_PRODUCTS: Readonly<Record<string, HomeWizardProduct>> = {
  'HWE-P1': { kind: 'grid-meter', label: 'HomeWizard P1 meter', profileId: HOMEWIZARD_P1_PROFILE_ID },
  'HWE-SKT': { kind: 'meter', label: 'HomeWizard Energy Socket' },
  'HWE-KWH1': { kind: 'meter', label: 'HomeWizard kWh meter (1 phase)' },
  'SDM230-WIFI': { kind: 'meter', label: 'HomeWizard kWh meter (1 phase)' },
  'HWE-KWH3': { kind: 'meter', label: 'HomeWizard kWh meter (3 phase)' },
  'SDM630-WIFI': { kind: 'meter', label: 'HomeWizard kWh meter (3 phase)' },
  'HWE-BAT': { kind: 'battery', label: 'HomeWizard Plug-In Battery' },
};

function homeWizard(record: MdnsServiceRecord, address: string, apiVersion: 1 | 2): MdnsOutcome {
  const productType = (record.txt['product_type'] ?? '').toUpperCase();
  const product = HOMEWIZARD_PRODUCTS[productType];
  if (!product) {
    return {
      kind: 'ignored',
      reason: productType ? `HomeWizard ${productType} measures no electricity` : 'HomeWizard without product_type',
    };
  }
  const serial = record.txt['serial'];
  const apiEnabled = record.txt['api_enabled'];
  const evidence = [
    `mDNS _${record.type}._tcp '${record.name}' at ${address}:${record.port}`,
    `TXT product_type=${productType}${record.txt['product_name'] ? ` (${record.txt['product_name']})` : ''}`,
  ];
  if (serial) evidence.push(`TXT serial=${serial}`);
  let confidence = product.profileId ? 0.9 : 0.7;
  if (apiVersion === 1 && apiEnabled === '0') {
    confidence -= 0.3;
    evidence.push('local API disabled (TXT api_enabled=0): enable it in the HomeWizard Energy app');
  } else if (apiVersion === 1 && apiEnabled === '1') {
    evidence.push('local API v1 enabled (TXT api_enabled=1)');
  } else if (apiVersion === 2) {
    evidence.push('local API v2 (HTTPS, needs a token from the device)');
  }
  if (!product.profileId) evidence.push('no HTTP profile for this product yet');
  const mac = normalizeMac(serial);
  const draft: CandidateDraft = {
    source: 'mdns',
    kind: product.kind,
    ...(product.profileId ? { profileId: product.profileId } : {}),
    connection: { protocol: 'http', baseUrl: `${apiVersion === 1 ? 'http' : 'https'}://${hostForUrl(address)}` },
    identity: {
      manufacturer: 'HomeWizard',
      model: productType,
      ...(serial ? { serial } : {}),
      ...(mac ? { mac } : {}),
      host: address,
    },
    confidence,
    evidence,
    label: product.label,
  };
  return { kind: 'candidate', draft };
}

function hostForUrl(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/** The 12 hex digits at the end of a Shelly id (`shellypro3em-c8f09e123456`, `shellyem-A4CF12F45678`). */
function shellyMac(...texts: readonly string[]): string | undefined {
  for (const text of texts) {
    const match = /([0-9a-fA-F]{12})(?:\.local\.?)?$/.exec(text.trim());
    const mac = normalizeMac(match?.[1]);
    if (mac) return mac;
  }
  return undefined;
}

/** Shelly Gen2 `app` values (lower case) with an MQTT profile in the catalogue. */
const SHELLY_MQTT_PROFILES: Readonly<Record<string, string>> = { pro3em: 'shelly.pro-3em' };

/** Which Shelly models meter electricity: `…EM…` energy meters, `…PM…` and plugs (metered relays). */
function shellyKind(model: string): { readonly kind: AssetKind; readonly what: string } | undefined {
  if (/em/i.test(model)) return { kind: 'meter', what: 'energy meter' };
  if (/pm|plug/i.test(model)) return { kind: 'meter', what: 'metered relay or plug (a load)' };
  return undefined;
}

function shelly(record: MdnsServiceRecord, address: string): MdnsOutcome {
  const gen = record.txt['gen'];
  const app = record.txt['app'];
  const isGen2 = gen !== undefined && app !== undefined;
  const nameModel =
    /^(shelly[a-z0-9-]*?)-[0-9a-f]{6,12}$/i.exec(record.name)?.[1] ??
    /^(shelly[a-z0-9-]*?)-[0-9a-f]{6,12}/i.exec(record.host)?.[1];
  if (!isGen2 && nameModel === undefined) {
    return {
      kind: 'ignored',
      reason: `_${record.type}._tcp '${record.name}' is not a Shelly (no gen/app TXT, no shelly name)`,
    };
  }
  const model = isGen2 ? app : (nameModel ?? record.name);
  const meters = shellyKind(model);
  if (!meters) return { kind: 'ignored', reason: `Shelly ${model} meters no power` };
  const mac = shellyMac(record.name, record.host);
  const profileId = SHELLY_MQTT_PROFILES[model.toLowerCase()];
  const deviceId = /^shelly[a-z0-9]+-[0-9a-f]{12}$/i.test(record.name) ? record.name.toLowerCase() : undefined;
  const viaMqtt = profileId !== undefined && getProfile(profileId) !== undefined && deviceId !== undefined;
  const evidence = [
    `mDNS _${record.type}._tcp '${record.name}' at ${address}:${record.port}`,
    isGen2
      ? `TXT gen=${gen} app=${app}${record.txt['ver'] ? ` ver=${record.txt['ver']}` : ''}`
      : `Gen1 name '${record.name}'`,
    `Shelly ${model}: ${meters.what}`,
    viaMqtt
      ? `${profileId} over MQTT: enable MQTT on the device (status notifications) with the site's broker; topic prefix = device id '${deviceId}' unless changed`
      : 'no Shelly profile for this model: read it through Home Assistant MQTT discovery (--mqtt) or add a profile',
  ];
  const draft: CandidateDraft = {
    source: 'mdns',
    kind: meters.kind,
    ...(viaMqtt ? { profileId } : {}),
    connection: viaMqtt
      ? { protocol: 'mqtt', topicPrefix: deviceId }
      : { protocol: 'http', baseUrl: `http://${hostForUrl(address)}` },
    identity: { manufacturer: 'Shelly', model, ...(mac ? { mac } : {}), host: address },
    confidence: 0.6,
    evidence,
    label: `Shelly ${model}`,
  };
  return { kind: 'candidate', draft };
}

/** Maps one browsed service record (see {@link MDNS_SERVICE_TYPES}). */
export function mapMdnsService(record: MdnsServiceRecord): MdnsOutcome {
  const address = pickAddress(record);
  switch (record.type) {
    case 'hwenergy':
      return homeWizard(record, address, 1);
    case 'homewizard':
      return homeWizard(record, address, 2);
    case 'shelly':
    case 'http':
      return shelly(record, address);
    case 'home-assistant': {
      const url =
        record.txt['internal_url'] ?? record.txt['base_url'] ?? `http://${hostForUrl(address)}:${record.port}`;
      return {
        kind: 'hint',
        hint: {
          kind: 'home-assistant',
          name: record.txt['location_name'] ?? record.name,
          host: address,
          port: record.port,
          detail: `Home Assistant at ${url}: if it runs an MQTT broker, try --mqtt mqtt://${hostForUrl(address)}:1883`,
        },
      };
    }
    case 'homey':
      return {
        kind: 'hint',
        hint: {
          kind: 'homey',
          name: record.name,
          host: address,
          port: record.port,
          detail: `Homey at ${address}:${record.port}: devices paired with it are not reachable directly; an MQTT bridge app on it can publish Home Assistant discovery`,
        },
      };
    case 'modbus':
    case 'mbap':
      return {
        kind: 'hint',
        hint: {
          kind: 'modbus-gateway',
          name: record.name,
          host: address,
          port: record.port,
          detail: `Modbus TCP gateway announced at ${address}:${record.port}: scan it with --modbus ${address}/32 --ports ${record.port}`,
        },
      };
    default:
      return { kind: 'ignored', reason: `service type _${record.type}._tcp is not one we map` };
  }
}
