import type * as Testcontainers from 'testcontainers';
import type { StartedTestContainer } from 'testcontainers';
import type { ServerKind } from './server-source';

/**
 * testcontainers is loaded only when neither an env URL nor a local binary is there: requiring it
 * costs ~0.8 s, and without a Docker engine it answers "no runtime" in a few ms.
 */
async function loadTestcontainers(): Promise<typeof Testcontainers> {
  return import('testcontainers');
}

/** Whether testcontainers finds a working container runtime (a Docker engine). */
export async function containerRuntimeAnswers(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await loadTestcontainers();
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

/** A server in a container, reachable from this host. */
export interface ContainerServer {
  readonly url: string;
  stop(): Promise<void>;
}

/** Options of {@link startContainerServer}. */
export interface ContainerServerOptions {
  readonly kind: ServerKind;
  readonly image: string;
  /** NATS only: a config file copied into the container and passed with `-c`. */
  readonly natsConfig?: string;
  /** NATS only: `-js` when no config is given; default true. */
  readonly jetstream?: boolean;
}

const MOSQUITTO_CONFIG = 'listener 1883\nallow_anonymous true\npersistence false\nlog_dest stdout\n';

/** Starts the server's image with testcontainers and waits until its port listens. */
export async function startContainerServer(opts: ContainerServerOptions): Promise<ContainerServer> {
  const { GenericContainer } = await loadTestcontainers();
  let container: StartedTestContainer;
  let scheme: string;
  let port: number;
  switch (opts.kind) {
    case 'nats': {
      scheme = 'nats';
      port = 4222;
      const base = new GenericContainer(opts.image).withExposedPorts(port);
      container = await (
        opts.natsConfig !== undefined
          ? base
              .withCopyFilesToContainer([{ source: opts.natsConfig, target: '/etc/nats/test.conf' }])
              .withCommand(['-c', '/etc/nats/test.conf'])
          : base.withCommand(opts.jetstream === false ? [] : ['-js'])
      ).start();
      break;
    }
    case 'redis':
      scheme = 'redis';
      port = 6379;
      container = await new GenericContainer(opts.image)
        .withExposedPorts(port)
        .withCommand(['redis-server', '--save', '', '--appendonly', 'no'])
        .start();
      break;
    case 'mqtt':
      scheme = 'mqtt';
      port = 1883;
      container = await new GenericContainer(opts.image)
        .withExposedPorts(port)
        .withCopyContentToContainer([{ content: MOSQUITTO_CONFIG, target: '/mosquitto/config/mosquitto.conf' }])
        .start();
      break;
  }
  return {
    url: `${scheme}://${container.getHost()}:${container.getMappedPort(port)}`,
    stop: async () => {
      await container.stop();
    },
  };
}
