import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { connectBus, createBus, type Bus, type BusConnection } from '@voltimax/bus';
import { captureLogger, type CapturedLine } from '@voltimax/bus/testing';
import { SiteConfigSchema, subjects, type Heartbeat } from '@voltimax/contracts';
import { exampleSiteConfig } from '@voltimax/contracts/testing';
import { startNats, waitFor, type NatsTestServer } from '@voltimax/testing';
import { z } from 'zod';
import { EX_RESTART } from './env';
import { defineService, runService, type RunDeps, type ServiceContext, type ServiceRuntime } from './service';
import { restartOnSiteChange } from './site-watch';

const ROOT = join(__dirname, '..', '..', '..', '..');
const FIXTURE = join(__dirname, '..', '__fixtures__', 'fixture-service.ts');

type Signal = 'SIGTERM' | 'SIGINT';

describe('runService against a real nats-server', () => {
  let server: NatsTestServer;
  let observerConn: BusConnection;
  let observer: Bus;
  const heartbeats: Heartbeat[] = [];
  const runtimes: ServiceRuntime[] = [];

  beforeAll(async () => {
    server = await startNats();
    observerConn = await connectBus({ servers: server.url, name: 'kit-observer', log: captureLogger('warn').log });
    observer = createBus(observerConn.nc, captureLogger('warn').log);
    observer.subscribe(subjects.health, (beat) => {
      heartbeats.push(beat);
    });
    await observerConn.nc.flush();
  });

  afterAll(async () => {
    for (const runtime of runtimes) await runtime.shutdown('test cleanup');
    await observerConn?.nc.drain();
    await server?.stop();
  });

  /** Runs a service in-process with fake process hooks; returns the runtime, the exit mock and the signal handlers. */
  async function run(
    name: string,
    start: (
      ctx: ServiceContext<Record<string, never>>,
    ) => { stop(): void | Promise<void> } | Promise<{ stop(): void | Promise<void> }>,
    extra: Partial<RunDeps> = {},
  ) {
    const captured = captureLogger();
    const signals = new Map<Signal, () => void>();
    const exit = jest.fn();
    const service = defineService({ name, version: '0.0.1', env: z.object({}), start });
    const runtime = runService(service, {
      env: {
        NATS_URL: server.url,
        HEARTBEAT_MS: '100',
        HEALTH_PORT: '0',
        LOG_LEVEL: 'debug',
        INSTANCE_ID: `${name}-1`,
      },
      exit,
      onSignal: (signal, handler) => {
        signals.set(signal, handler);
        return () => signals.delete(signal);
      },
      onFatal: () => () => undefined,
      logDestination: { write: (s: string) => captured.lines.push(JSON.parse(s) as CapturedLine) },
      ...extra,
    });
    return { runtime, exit, signals, lines: captured.lines };
  }

  async function started(promise: Promise<ServiceRuntime | undefined>): Promise<ServiceRuntime> {
    const runtime = await promise;
    if (!runtime) throw new Error('service did not start');
    runtimes.push(runtime);
    return runtime;
  }

  it('publishes valid heartbeats on health.<service> with the counters the service sets', async () => {
    const { runtime } = await run('kit-beat', (ctx) => {
      ctx.health.setCounter('pollErrors', 2);
      ctx.health.setAssets(['bat-1']);
      return { stop: () => undefined };
    });
    await started(runtime);

    const mine = () => heartbeats.filter((b) => b.service === 'kit-beat' && b.status === 'ok');
    await waitFor(() => mine().length >= 2, { timeoutMs: 3000, message: 'two ok heartbeats' });
    expect(mine()[0]).toMatchObject({
      v: 1,
      instanceId: 'kit-beat-1',
      version: '0.0.1',
      intervalMs: 100,
      assets: ['bat-1'],
      counters: { pollErrors: 2, busDropped: 0 },
    });
  });

  it('answers /healthz at once and /readyz only once started and while the service says ready', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let ctxSeen: ServiceContext<Record<string, never>> | undefined;
    const { runtime: pending, lines } = await run('kit-ready', async (ctx) => {
      ctxSeen = ctx;
      await gate;
      return { stop: () => undefined };
    });

    const port = await waitFor(() => lines.find((l) => l.msg === 'starting')?.['healthPort'] as number | undefined, {
      timeoutMs: 3000,
      message: 'the health port in the startup line',
    });
    const url = (path: string): string => `http://127.0.0.1:${port}${path}`;
    await waitFor(() => ctxSeen, { timeoutMs: 3000, message: 'start to be called' });

    expect((await fetch(url('/healthz'))).status).toBe(200);
    const starting = await fetch(url('/readyz'));
    expect(starting.status).toBe(503);
    expect(await starting.json()).toMatchObject({ checks: { nats: true, started: false } });

    release();
    const runtime = await started(pending);
    expect(runtime.healthPort).toBe(port);
    expect((await fetch(url('/readyz'))).status).toBe(200);

    runtime.health.setReady(false);
    expect((await fetch(url('/readyz'))).status).toBe(503);

    // /metrics: the service's own counters and its bus's per-subject counters (heartbeats published so far).
    runtime.health.incrementCounter('reads', 3);
    const metrics = await (await fetch(url('/metrics'))).text();
    expect(metrics).toContain('voltimax_service_counter{service="kit-ready",counter="reads"} 3');
    expect(metrics).toMatch(
      /voltimax_bus_messages_total\{service="kit-ready",subject="health\.\{service\}",event="published"\} [1-9]/,
    );
    expect(metrics).toMatch(/process_resident_memory_bytes\{service="kit-ready"\} \d+/);
  });

  it('on SIGTERM stops the service first, sends a last heartbeat, drains NATS and exits 0', async () => {
    const order: string[] = [];
    const {
      runtime: pending,
      exit,
      signals,
      lines,
    } = await run('kit-stop', () => ({
      stop: () => {
        order.push('service stopped');
      },
    }));
    const runtime = await pending;
    if (!runtime) throw new Error('service did not start');

    signals.get('SIGTERM')?.();
    const code = await runtime.exited;

    expect(code).toBe(0);
    expect(exit).toHaveBeenCalledWith(0);
    expect(order).toEqual(['service stopped']);
    const messages = lines.map((l) => l.msg);
    expect(messages.indexOf('stopping')).toBeLessThan(messages.indexOf('stopped'));
    await waitFor(() => heartbeats.some((b) => b.service === 'kit-stop' && b.status === 'stopping'), {
      timeoutMs: 2000,
      message: 'the stopping heartbeat',
    });
  });

  it('ctx.restart stops the service as SIGTERM does and exits 75 (EX_RESTART), once', async () => {
    const order: string[] = [];
    let restart: ((reason: string) => void) | undefined;
    const {
      runtime: pending,
      exit,
      lines,
    } = await run('kit-restart', (ctx) => {
      restart = ctx.restart;
      return { stop: () => void order.push('service stopped') };
    });
    const runtime = await pending;
    if (!runtime || !restart) throw new Error('service did not start');

    restart('configuration changed');
    restart('again');
    const code = await runtime.exited;

    expect(code).toBe(EX_RESTART);
    expect(exit).toHaveBeenCalledTimes(1);
    expect(exit).toHaveBeenCalledWith(75);
    expect(order).toEqual(['service stopped']);
    expect(lines.filter((l) => l.msg === 'restarting')).toHaveLength(1);
    expect(lines.find((l) => l.msg === 'stopped')).toMatchObject({ reason: 'configuration changed', code: 75 });
  });

  it('restartOnSiteChange looks once after subscribing: a change made while the service started restarts it', async () => {
    const site = SiteConfigSchema.parse(exampleSiteConfig);
    const changed = { ...site, grid: { ...site.grid, maxImportW: site.grid.maxImportW - 1_000 } };
    const { runtime: pending, lines } = await run('kit-site-watch', (ctx) => {
      // No config.updated is ever published: the file changed before the subscription existed.
      restartOnSiteChange(
        { ...ctx, env: { site }, reloadEnv: () => ({ ok: true, env: { site: changed } }) },
        (env) => ({ grid: env.site.grid }),
      );
      return { stop: () => undefined };
    });
    const runtime = await pending;
    if (!runtime) throw new Error('service did not start');
    await expect(runtime.exited).resolves.toBe(EX_RESTART);
    expect(lines.find((l) => l.msg === 'site configuration changed: restarting to load it')).toMatchObject({
      trigger: 'start',
      sections: ['grid'],
    });
  });

  it('forces exit 1 with a log line when the service does not stop within the timeout', async () => {
    const {
      runtime: pending,
      exit,
      lines,
    } = await run('kit-hang', () => ({ stop: () => new Promise<void>(() => undefined) }), { shutdownTimeoutMs: 200 });
    const runtime = await pending;
    if (!runtime) throw new Error('service did not start');

    const code = await runtime.shutdown('test');

    expect(code).toBe(1);
    expect(exit).toHaveBeenCalledWith(1);
    expect(lines.find((l) => l.msg === 'shutdown timed out; forcing exit')?.level).toBe(60);
  });

  it('exits 1 at once on a second signal during shutdown', async () => {
    let finish: () => void = () => undefined;
    const {
      runtime: pending,
      exit,
      signals,
    } = await run('kit-twice', () => ({
      stop: () =>
        new Promise<void>((resolve) => {
          finish = resolve;
        }),
    }));
    const runtime = await pending;
    if (!runtime) throw new Error('service did not start');

    signals.get('SIGINT')?.();
    signals.get('SIGINT')?.();

    expect(await runtime.exited).toBe(1);
    expect(exit).toHaveBeenCalledTimes(1);
    finish();
  });

  it('exits 1 when start fails, after cleaning up', async () => {
    const { runtime, exit, lines } = await run('kit-fail', () => {
      throw new Error('cannot open site file');
    });
    expect(await runtime).toBeUndefined();
    expect(exit).toHaveBeenCalledWith(1);
    expect(lines.find((l) => l.msg === 'start failed')?.['err']).toMatchObject({ message: 'cannot open site file' });
  });

  it('a real process exits 0 on SIGTERM (fixture service via tools/run-ts.js)', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'tools', 'run-ts.js'), FIXTURE], {
      cwd: ROOT,
      env: {
        PATH: process.env['PATH'] ?? '',
        NATS_URL: server.url,
        HEALTH_PORT: '0',
        HEARTBEAT_MS: '200',
        FIXTURE_GREETING: 'hello',
        FIXTURE_STOP_DELAY_MS: '100',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: CapturedLine[] = [];
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const part of parts) if (part.trim()) lines.push(JSON.parse(part) as CapturedLine);
    });
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;

    await waitFor(() => lines.some((l) => l.msg === 'started'), { timeoutMs: 10_000, message: 'the fixture to start' });
    const port = lines.find((l) => l.msg === 'starting')?.['healthPort'];
    expect((await fetch(`http://127.0.0.1:${String(port)}/readyz`)).status).toBe(200);

    child.kill('SIGTERM');
    const [code, signal] = await exited;

    expect({ code, signal }).toEqual({ code: 0, signal: null });
    const messages = lines.map((l) => l.msg);
    expect(messages).toEqual(expect.arrayContaining(['stopping', 'fixture loop stopped', 'stopped']));
  }, 20_000);
});
