import type { AssetConfig, AssetKind, SiteConfig } from '@voltimax/contracts';
import {
  getProfile,
  siteProfileProblems,
  topicPrefixProblem,
  type HttpProfile,
  type MqttProfile,
} from '@voltimax/devices';
import { redactUrl } from './redact';

/** MQTT protocol levels mqtt.js speaks: 4 = MQTT 3.1.1, 5 = MQTT 5.0. */
export type MqttProtocolVersion = 4 | 5;

/** One broker connection, shared by every MQTT asset that names the same URL. */
export interface BrokerSpec {
  /** The broker URL (also the key: assets naming the same URL share one connection). */
  readonly url: string;
  readonly protocolVersion: MqttProtocolVersion;
  readonly username?: string;
  readonly password?: string;
}

/** The default broker (MQTT_URL) and its settings, for MQTT assets that name none. */
export interface DefaultBroker {
  readonly url: string | undefined;
  readonly mqttVersion: '3.1.1' | '5.0';
  readonly username?: string;
  readonly password?: string;
}

/** How an owned asset is driven. */
export type AssetDriver =
  | {
      readonly kind: 'http';
      readonly profile: HttpProfile;
      readonly baseUrl: string;
      /** The API token from the variable the connection names (never logged). */
      readonly token: string | undefined;
    }
  | { readonly kind: 'mqtt'; readonly profile: MqttProfile; readonly prefix: string; readonly brokerUrl: string }
  | { readonly kind: 'unusable'; readonly reason: string };

/** An HTTP or MQTT asset of the site: this service polls or listens to it and executes its writes. */
export interface OwnedAsset {
  readonly id: string;
  readonly kind: AssetKind;
  readonly config: AssetConfig;
  readonly protocol: 'http' | 'mqtt';
  readonly pollIntervalMs: number;
  readonly driver: AssetDriver;
}

/** The site split by who drives it, plus the broker connections needed and the configuration problems found. */
export interface AssetPlan {
  readonly owned: readonly OwnedAsset[];
  /** Assets for other drivers (Modbus, OCPP, simulated) or disabled. */
  readonly notOurs: readonly string[];
  readonly brokers: readonly BrokerSpec[];
  /**
   * Problems only the operator can fix in the environment (an unset token variable, no broker, two MQTT versions for
   * one broker): the service refuses to start (exit 78) and names them.
   */
  readonly problems: readonly { readonly variable: string; readonly message: string }[];
}

const VERSION: Readonly<Record<'3.1.1' | '5.0', MqttProtocolVersion>> = { '3.1.1': 4, '5.0': 5 };

/**
 * Pure: which assets this service drives (enabled `http` and `mqtt` connections), with their profiles, secrets and
 * brokers. An asset whose profile is unknown, serves another kind or speaks another protocol, or whose topic prefix
 * is unusable, is still owned with an `unusable` driver: it gets `error` readings and refused writes, so the fault
 * is visible instead of silent. `env` is the process environment (secrets are looked up by the names in the site).
 */
export function planAssets(
  site: SiteConfig,
  env: Readonly<Record<string, string | undefined>>,
  defaultBroker: DefaultBroker,
): AssetPlan {
  const owned: OwnedAsset[] = [];
  const notOurs: string[] = [];
  const problems: { variable: string; message: string }[] = [];
  const brokers = new Map<string, BrokerSpec & { readonly firstAssetId: string }>();
  const secret = (name: string, assetId: string, what: string): string | undefined => {
    const value = env[name];
    if (value === undefined || value === '') {
      problems.push({ variable: name, message: `${what} of asset '${assetId}' (named in the site file) is not set` });
      return undefined;
    }
    return value;
  };

  for (const asset of site.assets) {
    const { connection } = asset;
    if (!asset.enabled || (connection.protocol !== 'http' && connection.protocol !== 'mqtt')) {
      notOurs.push(asset.id);
      continue;
    }
    const base = { id: asset.id, kind: asset.kind, config: asset, pollIntervalMs: asset.pollIntervalMs };
    const profileProblem = siteProfileProblems({ assets: [asset] })[0];
    const profile = getProfile(asset.profile);
    if (profileProblem !== undefined || profile === undefined) {
      const reason = profileProblem?.message ?? `unknown profile '${asset.profile}'`;
      owned.push({ ...base, protocol: connection.protocol, driver: { kind: 'unusable', reason } });
      continue;
    }
    if (connection.protocol === 'http') {
      const token =
        connection.tokenEnv === undefined ? undefined : secret(connection.tokenEnv, asset.id, 'the API token');
      const driver: AssetDriver =
        profile.protocol === 'http'
          ? { kind: 'http', profile, baseUrl: connection.baseUrl, token }
          : { kind: 'unusable', reason: `profile '${profile.id}' is not an HTTP profile` };
      owned.push({ ...base, protocol: 'http', driver });
      continue;
    }
    const url = connection.brokerUrl ?? defaultBroker.url;
    if (url === undefined) {
      problems.push({
        variable: 'MQTT_URL',
        message: `asset '${asset.id}' names no brokerUrl and MQTT_URL (the default broker) is not set`,
      });
      continue;
    }
    const ownBroker = connection.brokerUrl !== undefined;
    const version = VERSION[connection.mqttVersion ?? (ownBroker ? '3.1.1' : defaultBroker.mqttVersion)];
    const username =
      connection.usernameEnv === undefined
        ? ownBroker
          ? undefined
          : defaultBroker.username
        : secret(connection.usernameEnv, asset.id, 'the broker user name');
    const password =
      connection.passwordEnv === undefined
        ? ownBroker
          ? undefined
          : defaultBroker.password
        : secret(connection.passwordEnv, asset.id, 'the broker password');
    const known = brokers.get(url);
    if (known === undefined) {
      brokers.set(url, {
        url,
        protocolVersion: version,
        ...(username === undefined ? {} : { username }),
        ...(password === undefined ? {} : { password }),
        firstAssetId: asset.id,
      });
    } else if (known.protocolVersion !== version || known.username !== username || known.password !== password) {
      problems.push({
        variable: 'SITE_FILE',
        message:
          `assets '${known.firstAssetId}' and '${asset.id}' use broker ${redactUrl(url)} with different ` +
          (known.protocolVersion !== version ? 'MQTT versions' : 'credentials') +
          ' (one connection per broker)',
      });
    }
    const prefixProblem = topicPrefixProblem(connection.topicPrefix);
    const driver: AssetDriver =
      profile.protocol !== 'mqtt'
        ? { kind: 'unusable', reason: `profile '${profile.id}' is not an MQTT profile` }
        : prefixProblem !== undefined
          ? { kind: 'unusable', reason: prefixProblem }
          : { kind: 'mqtt', profile, prefix: connection.topicPrefix, brokerUrl: url };
    owned.push({ ...base, protocol: 'mqtt', driver });
  }
  return {
    owned,
    notOurs,
    brokers: [...brokers.values()].map(({ firstAssetId: _first, ...spec }) => spec),
    problems,
  };
}
