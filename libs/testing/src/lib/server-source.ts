import { SERVER_BINARY_DIRS } from './find-binary';

/** The servers tests can ask for. */
export type ServerKind = 'nats' | 'redis' | 'mqtt';

/** Where a test server came from: an env URL, a local binary started for the test, or a container. */
export type ServerSource = 'env' | 'binary' | 'container';

/** How to find or start one kind of server. */
export interface ServerSpec {
  readonly kind: ServerKind;
  /** For messages, e.g. 'NATS server'. */
  readonly label: string;
  /** Env var with the URL of a server someone else runs. */
  readonly envVar: string;
  /** Executable name, searched on PATH and in {@link SERVER_BINARY_DIRS}. */
  readonly binary: string;
  /** Debian package with the binary. */
  readonly aptPackage: string;
  /** Image testcontainers starts when there is no binary. */
  readonly image: string;
  /** Shown in the "set the env var" hint. */
  readonly exampleUrl: string;
}

/** The three servers and how each is found. */
export const SERVER_SPECS: Readonly<Record<ServerKind, ServerSpec>> = {
  nats: {
    kind: 'nats',
    label: 'NATS server',
    envVar: 'NATS_URL',
    binary: 'nats-server',
    aptPackage: 'nats-server',
    image: 'nats:2.10-alpine',
    exampleUrl: 'nats://127.0.0.1:4222',
  },
  redis: {
    kind: 'redis',
    label: 'Redis server',
    envVar: 'REDIS_URL',
    binary: 'redis-server',
    aptPackage: 'redis-server',
    image: 'redis:7-alpine',
    exampleUrl: 'redis://127.0.0.1:6379',
  },
  mqtt: {
    kind: 'mqtt',
    label: 'MQTT broker',
    envVar: 'MQTT_URL',
    binary: 'mosquitto',
    aptPackage: 'mosquitto',
    image: 'eclipse-mosquitto:2',
    exampleUrl: 'mqtt://127.0.0.1:1883',
  },
};

/** Everything {@link chooseServerSource} decides on, gathered by the caller. */
export interface SourceInputs {
  readonly kind: ServerKind;
  /** Usually `process.env`. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * Why the test must start its own server (e.g. 'it runs with config docker/nats/nats.conf'), or
   * `undefined` when any server of the kind will do. When set, the env URL is ignored.
   */
  readonly ownServerReason: string | undefined;
  /** Absolute path of the server binary, `undefined` when none was found. */
  readonly binaryPath: string | undefined;
  /** Whether a container runtime (Docker engine) answered. */
  readonly containerRuntime: boolean;
}

/** The outcome of {@link chooseServerSource}. */
export type SourceDecision =
  | { readonly source: 'env'; readonly url: string }
  | { readonly source: 'binary'; readonly binaryPath: string }
  | { readonly source: 'container'; readonly image: string }
  | { readonly source: 'unavailable'; readonly message: string };

/**
 * Picks where a test server comes from, in this order: the env var's URL (unless the test needs its
 * own server), the local binary, a container, else `unavailable` with a message that says how to get
 * one. Pure: the caller looks up env, binary and container runtime.
 */
export function chooseServerSource(inputs: SourceInputs): SourceDecision {
  const spec = SERVER_SPECS[inputs.kind];
  const url = inputs.env[spec.envVar]?.trim();
  if (url && inputs.ownServerReason === undefined) return { source: 'env', url };
  if (inputs.binaryPath !== undefined) return { source: 'binary', binaryPath: inputs.binaryPath };
  if (inputs.containerRuntime) return { source: 'container', image: spec.image };
  return { source: 'unavailable', message: unavailableMessage(spec, inputs, url) };
}

function unavailableMessage(spec: ServerSpec, inputs: SourceInputs, url: string | undefined): string {
  const searched = `${spec.binary} is not on PATH nor in ${SERVER_BINARY_DIRS.join(', ')}`;
  const noRuntime = 'no container runtime (Docker engine) answered';
  if (inputs.ownServerReason !== undefined) {
    const envNote = url ? ` (${spec.envVar} is set but cannot be used: ` : ' (';
    return (
      `no ${spec.label} for this test: ${searched}, and ${noRuntime}${envNote}the test starts its own server ` +
      `because ${inputs.ownServerReason}). Install it with \`apt-get install ${spec.aptPackage}\`, or run a Docker engine.`
    );
  }
  return (
    `no ${spec.label} for this test: ${spec.envVar} is not set, ${searched}, and ${noRuntime}. ` +
    `Install it with \`apt-get install ${spec.aptPackage}\`, or set ${spec.envVar} (e.g. ${spec.exampleUrl}), ` +
    `or run a Docker engine.`
  );
}

/** No server of the kind could be found or started; the message says how to get one. */
export class TestServerUnavailableError extends Error {
  override readonly name = 'TestServerUnavailableError';
  readonly retryable = false;
  constructor(
    readonly kind: ServerKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
