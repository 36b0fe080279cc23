import { hostname } from 'node:os';
import { connectBus, createBus, type Bus, type BusConnection, type ConnectBusOptions } from '@voltimax/bus';
import type { DestinationStream, Logger } from 'pino';
import type { z } from 'zod';
import { assertServiceName, ConfigError, EX_CONFIG, EX_RESTART, parseEnv, type KitEnv } from './env';
import { healthControl, HealthState, startHeartbeat, type HealthControl, type HeartbeatLoop } from './heartbeat';
import { readiness, startHealthServer, type HealthServer } from './health-server';
import { renderMetrics } from './metrics';
import { startTracing, type Tracing } from './tracing';
import { createServiceLogger } from './logger';

/** What a service's `start` gets: everything wired, nothing global. */
export interface ServiceContext<Env> {
  readonly name: string;
  readonly version: string;
  readonly instanceId: string;
  /** The service's own variables, parsed by its schema. */
  readonly env: Env;
  /** The kit's variables (NATS_URL, LOG_LEVEL, HEARTBEAT_MS, HEALTH_PORT, …). */
  readonly settings: KitEnv;
  /** The root logger; use `log.child({ component })`. */
  readonly log: Logger;
  readonly bus: Bus;
  /** The NATS connection (for JetStream/KV helpers). Drained by the kit on shutdown. */
  readonly connection: BusConnection;
  readonly health: HealthControl;
  /** Epoch ms. */
  readonly now: () => number;
  /**
   * Stop as on SIGTERM (the service's `stop()`, a last heartbeat, NATS drain) and exit `EX_RESTART` (75), so the
   * supervisor starts the service again: for configuration it reads only at start. Once; later calls do nothing.
   */
  readonly restart: (reason: string) => void;
  /**
   * Parses the environment again as at start, with every check of the service's schema (a site file it loads is
   * read again): what the service would start with now, or every problem that would stop it (exit 78).
   */
  readonly reloadEnv: () => { readonly ok: true; readonly env: Env } | { readonly ok: false; readonly problems: string[] };
}

/** A started service: the kit calls `stop()` first on shutdown, before draining NATS. */
export interface RunningService {
  /** Stop loops and timers; in-flight work may finish. Must resolve within the shutdown timeout. */
  stop(): void | Promise<void>;
}

/** A service: its name (one subject token), version, env schema (`z.object`, not strict) and start function. */
export interface ServiceDefinition<E extends z.ZodType> {
  readonly name: string;
  readonly version: string;
  readonly env: E;
  start(ctx: ServiceContext<z.output<E>>): RunningService | Promise<RunningService>;
}

/** Define a service; throws at once if the name is not one subject token. */
export function defineService<E extends z.ZodType>(def: ServiceDefinition<E>): ServiceDefinition<E> {
  assertServiceName(def.name);
  return def;
}

/** The process around a service, injectable so tests can drive it. Defaults: the real process. */
export interface RunDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stderr: { write(text: string): unknown };
  readonly exit: (code: number) => void;
  /** Register a signal handler; returns an unregister function. */
  readonly onSignal: (signal: 'SIGTERM' | 'SIGINT', handler: () => void) => () => void;
  /** Register a handler for uncaught exceptions and unhandled rejections; returns an unregister function. */
  readonly onFatal: (handler: (err: unknown, origin: string) => void) => () => void;
  readonly connect: (opts: ConnectBusOptions) => Promise<BusConnection>;
  readonly createBus: (connection: BusConnection, log: Logger) => Bus;
  /** Where log lines go (default stdout). */
  readonly logDestination: DestinationStream | undefined;
  readonly now: () => number;
  readonly hostname: () => string;
  readonly pid: number;
  /** After this, shutdown gives up and exits 1 (default 5000 ms). */
  readonly shutdownTimeoutMs: number;
}

/** A running service, for tests and for callers that embed the kit. */
export interface ServiceRuntime {
  readonly log: Logger;
  readonly instanceId: string;
  /** Bound port of the health endpoint; undefined when HEALTH_PORT=off. */
  readonly healthPort: number | undefined;
  readonly health: HealthControl;
  /** Run the shutdown sequence (as on SIGTERM); resolves with the exit code passed to `exit`. */
  shutdown(reason: string): Promise<number>;
  /** Resolves with the exit code once `exit` was called. */
  readonly exited: Promise<number>;
}

function defaultDeps(): RunDeps {
  return {
    env: process.env,
    stderr: process.stderr,
    exit: (code) => process.exit(code),
    onSignal: (signal, handler) => {
      process.on(signal, handler);
      return () => process.off(signal, handler);
    },
    onFatal: (handler) => {
      const onException = (err: unknown): void => handler(err, 'uncaughtException');
      const onRejection = (err: unknown): void => handler(err, 'unhandledRejection');
      process.on('uncaughtException', onException);
      process.on('unhandledRejection', onRejection);
      return () => {
        process.off('uncaughtException', onException);
        process.off('unhandledRejection', onRejection);
      };
    },
    connect: connectBus,
    createBus: (connection, log) => createBus(connection.nc, log),
    logDestination: undefined,
    now: Date.now,
    hostname,
    pid: process.pid,
    shutdownTimeoutMs: 5000,
  };
}

/**
 * Run a service: parse env (exit 78 with every bad variable named on stderr), create the logger, start the health
 * endpoint, connect NATS, publish heartbeats, call `start`, and shut down in order on SIGTERM/SIGINT: the service's
 * `stop()`, a last heartbeat, NATS drain, HTTP close, exit 0 — or exit 1 after the shutdown timeout. A second
 * signal exits 1 at once. Resolves with the runtime once started, or undefined when the env was invalid.
 */
export async function runService<E extends z.ZodType>(
  def: ServiceDefinition<E>,
  overrides: Partial<RunDeps> = {},
): Promise<ServiceRuntime | undefined> {
  const deps: RunDeps = { ...defaultDeps(), ...overrides };

  let env: { kit: KitEnv; service: z.output<E> };
  try {
    env = parseEnv(def.name, def.env, deps.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    deps.stderr.write(`${err.message}\n`);
    deps.exit(EX_CONFIG);
    return undefined;
  }
  const { kit } = env;

  const log = createServiceLogger({ name: def.name, level: kit.LOG_LEVEL, destination: deps.logDestination });
  const instanceId = kit.INSTANCE_ID ?? `${deps.hostname()}-${deps.pid}`;
  const startedAtMs = deps.now();
  const state = new HealthState();
  let connection: BusConnection | undefined;
  let heartbeat: HeartbeatLoop | undefined;
  let running: RunningService | undefined;
  let starting: Promise<RunningService> | undefined;
  let http: HealthServer | undefined;
  /** The service's bus, once connected: its per-subject counters go to `/metrics`. */
  let metricsBus: Bus | undefined;
  let shuttingDown: Promise<number> | undefined;
  const unregister: (() => void)[] = [];

  let resolveExited: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => {
    resolveExited = resolve;
  });
  let hasExited = false;
  const exit = (code: number): void => {
    if (hasExited) return;
    hasExited = true;
    for (const off of unregister) off();
    resolveExited(code);
    deps.exit(code);
  };

  const health = healthControl(state, () => heartbeat?.beat());
  // Propagation of the W3C trace context always; span export when OTEL_EXPORTER_OTLP_ENDPOINT is set.
  const tracing: Tracing = await startTracing({ service: def.name, version: def.version, instanceId, env: deps.env });

  async function shutdown(reason: string, requestedCode: number): Promise<number> {
    log.info({ reason }, 'stopping');
    state.stopping = true;
    const force = setTimeout(() => {
      log.fatal({ reason, timeoutMs: deps.shutdownTimeoutMs }, 'shutdown timed out; forcing exit');
      heartbeat?.stop();
      connection?.nc.close().catch(() => undefined);
      void http?.close();
      exit(1);
    }, deps.shutdownTimeoutMs);
    let code = requestedCode;
    try {
      // A signal during start: let start finish (bounded by the force timer) so its loops get stopped.
      if (starting) running = await starting.catch(() => undefined);
      if (running) await running.stop();
    } catch (err) {
      log.error({ err }, 'service stop failed');
      code = 1;
    }
    state.status = 'stopping';
    heartbeat?.beat();
    heartbeat?.stop();
    if (connection) {
      try {
        if (connection.isConnected()) await connection.nc.drain();
        else await connection.nc.close();
      } catch (err) {
        log.warn({ err }, 'nats drain failed');
      }
    }
    await http?.close();
    await tracing.shutdown();
    clearTimeout(force);
    if (!hasExited) log.info({ reason, code }, 'stopped');
    exit(code);
    return code;
  }

  /** Starts the shutdown sequence once; resolves with the exit code (also when the force timer exits). */
  const requestShutdown = (reason: string, code: number): Promise<number> => {
    shuttingDown ??= shutdown(reason, code);
    return exited;
  };

  const onSignal = (signal: 'SIGTERM' | 'SIGINT') => () => {
    if (shuttingDown) {
      log.warn({ signal }, 'second signal during shutdown; forcing exit');
      exit(1);
      return;
    }
    void requestShutdown(signal, 0);
  };
  unregister.push(deps.onSignal('SIGTERM', onSignal('SIGTERM')));
  unregister.push(deps.onSignal('SIGINT', onSignal('SIGINT')));
  unregister.push(
    deps.onFatal((err, origin) => {
      log.fatal({ err, origin }, 'uncaught error');
      void requestShutdown(origin, 1);
    }),
  );

  try {
    if (kit.HEALTH_PORT !== 'off') {
      http = await startHealthServer({
        port: kit.HEALTH_PORT,
        host: kit.HEALTH_HOST,
        service: def.name,
        readiness: () =>
          readiness({
            natsConnected: connection?.isConnected() ?? false,
            started: state.started,
            serviceReady: state.serviceReady,
            stopping: state.stopping,
          }),
        metrics: () => {
          const memory = process.memoryUsage();
          const cpu = process.cpuUsage();
          return renderMetrics({
            service: def.name,
            instanceId,
            version: def.version,
            state,
            bus: metricsBus?.stats(),
            process: {
              rssBytes: memory.rss,
              heapUsedBytes: memory.heapUsed,
              cpuUserMicros: cpu.user,
              cpuSystemMicros: cpu.system,
              uptimeSeconds: process.uptime(),
            },
          });
        },
      });
    }
    log.info(
      {
        version: def.version,
        instanceId,
        natsUrl: kit.NATS_URL,
        natsUser: kit.NATS_USER,
        logLevel: kit.LOG_LEVEL,
        heartbeatMs: kit.HEARTBEAT_MS,
        healthPort: http?.port ?? 'off',
        healthHost: kit.HEALTH_HOST,
        traces: tracing.exporting ? (tracing.endpoint ?? 'exporter') : 'off',
      },
      'starting',
    );

    connection = await deps.connect({
      servers: kit.NATS_URL,
      name: def.name,
      user: kit.NATS_USER,
      pass: kit.NATS_PASS,
      log: log.child({ component: 'nats' }),
    });
    if (shuttingDown) {
      await connection.nc.close();
      return undefined;
    }
    const bus = deps.createBus(connection, log.child({ component: 'bus' }));
    metricsBus = bus;
    heartbeat = startHeartbeat({
      bus,
      log: log.child({ component: 'heartbeat' }),
      state,
      service: def.name,
      instanceId,
      version: def.version,
      intervalMs: kit.HEARTBEAT_MS,
      startedAtMs,
      now: deps.now,
    });

    starting = Promise.resolve(
      def.start({
        name: def.name,
        version: def.version,
        instanceId,
        env: env.service,
        settings: kit,
        log,
        bus,
        connection,
        health,
        now: deps.now,
        restart: (reason) => {
          if (shuttingDown) return;
          log.warn({ reason, code: EX_RESTART }, 'restarting');
          void requestShutdown(reason, EX_RESTART);
        },
        reloadEnv: () => {
          try {
            return { ok: true, env: parseEnv(def.name, def.env, deps.env).service };
          } catch (err) {
            if (!(err instanceof ConfigError)) throw err;
            return { ok: false, problems: err.problems.map((p) => `${p.variable}: ${p.message}`) };
          }
        },
      }),
    );
    running = await starting;
    starting = undefined;
    if (!shuttingDown) {
      state.started = true;
      if (state.status === 'starting') state.status = 'ok';
      heartbeat.beat();
      log.info({ startupMs: deps.now() - startedAtMs }, 'started');
    }
  } catch (err) {
    log.fatal({ err }, 'start failed');
    await requestShutdown('start failed', 1);
    return undefined;
  }

  return {
    log,
    instanceId,
    healthPort: http?.port,
    health,
    shutdown: (reason) => requestShutdown(reason, 0),
    exited,
  };
}
