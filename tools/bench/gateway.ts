// The whole gateway as processes, each service as the esbuild bundle its image runs (docker/build.js, `node
// main.js`, with the image's Node settings: the NODE_*/MALLOC_*/UV_* variables and node flags of its docker/Dockerfile
// stage): RSS of each service at idle (the 3-asset simulated site) and at 20 assets polled at 1 Hz, the total RSS of
// the stack (services + nats-server + redis-server), and the CPU of each service at 20 assets × 1 Hz (utime+stime
// from /proc over a window, after a warm-up). A plain idle `node` process is measured as the floor. RSS counts the
// pages of the node binary each process touched (~40 MiB) in full although one copy serves them all, so the stack's
// memory is also given with those counted once: each service's private pages (USS) plus the largest shared part of any
// one service, plus nats-server and redis-server in full. (PSS would split shared pages among every process that maps
// them, also the other node processes on the machine: it changes with what else runs.)
//
// Targets of issue #12 (goals reported against, not asserted): total stack RSS < 400 MB; CPU < 15 % of one core at
// 20 assets × 1 Hz. (Under `npm start` the services run through tools/run-ts.js instead, which adds the swc
// transpiler: ~100 MiB more per process.)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Heartbeat } from '@voltimax/contracts';
import { subjects } from '@voltimax/contracts';
import { startNats, startRedis, NATS_CONFIG_PATH, type NatsTestServer, type TestServer } from '@voltimax/testing';
import {
  connectAs,
  fmt,
  machineContext,
  out,
  printTable,
  processCpuSeconds,
  processRssMib,
  record,
  ROOT,
  sleep,
  startNodeProcess,
  until,
  type ChildService,
} from './lib-bench';

const WARMUP_MS = 15_000;
const WINDOW_MS = 30_000;
/** Start order: the simulator first (it writes the site with its endpoints), drivers and the arbiter before the engine. */
const ORDER = ['simulator', 'modbus-poller', 'http-devices', 'ocpp-csms', 'safety-arbiter', 'strategy-engine', 'cloud-bridge', 'telemetry-publisher', 'dashboard'];

interface Measured {
  readonly name: string;
  readonly rssMib: number;
  /** Pages only this process maps. */
  readonly ussMib: number;
  /** Resident pages it shares with other processes (for a service: mostly the node binary's). */
  readonly sharedMib: number;
  readonly cpuPct: number;
}

/** The simulated site of npm start, plus sub-meters (SDM630 measuring load) until it has `total` assets. */
function siteWith(total: number): Record<string, unknown> {
  const site = JSON.parse(readFileSync(join(ROOT, 'docker', 'config', 'assets.sim.json'), 'utf8')) as Record<string, unknown>;
  const assets = [...(site['assets'] as Record<string, unknown>[])];
  for (let i = 1; assets.length < total; i += 1) {
    assets.push({
      id: `sub-${i}`,
      name: `Sub-meter ${i}`,
      kind: 'meter',
      profile: 'eastron.sdm630',
      connection: { protocol: 'simulated' },
      pollIntervalMs: 1_000,
      measures: 'load',
    });
  }
  // Every asset at 1 Hz, as the issue's "20 assets × 1 Hz".
  return { ...site, assets: assets.map((a) => ({ ...a, pollIntervalMs: 1_000 })) };
}

/** How an image runs its service: environment from ENV and the node flags before the script in CMD/ENTRYPOINT. */
interface ImageRuntime {
  readonly env: Readonly<Record<string, string>>;
  readonly nodeArgs: readonly string[];
}

/** `KEY=value KEY2="a b"` of one ENV instruction (the `ENV KEY value` form is not used in our Dockerfile). */
function parseEnvInstruction(rest: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of rest.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const raw = m[2] ?? '';
    env[m[1] as string] = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
  }
  return env;
}

/**
 * The Node settings of a docker/Dockerfile service target: its stage's ENV over the runtime stage's (only the
 * variables that tune the runtime: NODE_*, MALLOC_*, UV_*; addresses and ports are the bench's own), and the node flags
 * of the nearest CMD/ENTRYPOINT (`["node", <flags…>, "/app/<script>"]`).
 */
function imageRuntime(target: string, dockerfile = readFileSync(join(ROOT, 'docker', 'Dockerfile'), 'utf8')): ImageRuntime {
  const lines = dockerfile
    .replace(/\s*\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const stage = (name: string): string[] => {
    const start = lines.findIndex((l) => new RegExp(`^FROM \\S+ AS ${name}$`, 'i').test(l));
    if (start < 0) return [];
    const end = lines.findIndex((l, i) => i > start && /^FROM /i.test(l));
    return lines.slice(start, end < 0 ? undefined : end);
  };
  const stages = [stage('runtime'), stage(target)];
  const env: Record<string, string> = {};
  let command: string[] = [];
  for (const instructions of stages) {
    for (const line of instructions) {
      if (/^ENV /i.test(line)) Object.assign(env, parseEnvInstruction(line.slice(4)));
      const cmd = /^(?:CMD|ENTRYPOINT) (\[.*\])$/i.exec(line);
      if (cmd?.[1] !== undefined) command = JSON.parse(cmd[1]) as string[];
    }
  }
  const tuning = Object.fromEntries(Object.entries(env).filter(([k]) => /^(NODE_|MALLOC_|UV_)/.test(k)));
  const nodeArgs = command[0] === 'node' ? command.slice(1).filter((a) => a.startsWith('-')) : [];
  return { env: tuning, nodeArgs };
}

/** Resident pages of a process only it maps (USS) and those it shares with others, MiB (/proc/<pid>/smaps_rollup). */
function processPages(pid: number): { readonly ussMib: number; readonly sharedMib: number } {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(text)?.[1] ?? Number.NaN);
    return {
      ussMib: (kib('Private_Clean') + kib('Private_Dirty')) / 1024,
      sharedMib: (kib('Shared_Clean') + kib('Shared_Dirty')) / 1024,
    };
  } catch {
    return { ussMib: Number.NaN, sharedMib: Number.NaN };
  }
}

/** The pid of a server started by libs/testing: its executable's name and its port on the command line. */
function serverPid(binary: string, port: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // redis-server rewrites its title to one string `redis-server 127.0.0.1:<port>`; nats-server keeps `-p <port>`.
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const command = args.join(' ');
      if ((command.split(' ')[0] ?? '').endsWith(binary) && (args.includes(port) || command.includes(`:${port}`))) return Number(entry);
    } catch {
      // gone
    }
  }
  return undefined;
}

/** Bundles every service with docker/build.js into `out` (inside the repository, so the few external packages resolve from node_modules). */
function buildBundles(out: string): void {
  const result = spawnSync(process.execPath, [join(ROOT, 'docker', 'build.js'), '--out', out], { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`docker/build.js failed:\n${result.stdout}${result.stderr}`);
}

async function runStack(label: string, assets: number, nats: NatsTestServer, redis: TestServer, bundles: string): Promise<Measured[]> {
  const dir = mkdtempSync(join(tmpdir(), `voltimax-bench-gw-${label}-`));
  const siteFile = join(dir, 'site.json');
  const simAssets = join(dir, 'sim-assets.json');
  writeFileSync(siteFile, JSON.stringify(siteWith(assets), null, 2));
  const { bus, connection } = await connectAs(nats.url, 'cli');
  const beats = new Map<string, Heartbeat>();
  bus.subscribe(subjects.health, (h) => void beats.set(h.service, h));
  const children: { name: string; child: ChildService }[] = [];
  try {
    for (const name of ORDER) {
      const entry = join(bundles, name, 'main.js');
      if (!existsSync(entry)) continue;
      const env: Record<string, string> = {
        NATS_URL: nats.url,
        NATS_USER: name,
        NATS_PASS: `dev-${name}`,
        HEALTH_PORT: '0',
        LOG_LEVEL: 'warn',
        OTEL_SDK_DISABLED: 'true',
        STATE_DIR: dir,
        SITE_FILE: name === 'simulator' ? siteFile : simAssets,
        SIM_SPEED: '1',
        ...(name === 'strategy-engine' ? { REDIS_URL: redis.url } : {}),
        ...(name === 'dashboard'
          ? { DASHBOARD_PORT: '0', DASHBOARD_UI_DIR: join(ROOT, 'services', 'dashboard', 'dist-ui'), DASHBOARD_PASSWORD_FILE: join(dir, 'dashboard-password') }
          : {}),
      };
      const image = imageRuntime(name);
      const child = startNodeProcess([...image.nodeArgs, entry], { ...image.env, ...env });
      children.push({ name, child });
      const up = await until(() => beats.has(name) || child.exited(), 30_000, 50);
      if (!up || child.exited()) {
        out(`gateway: [${label}] ${name} did not come up (${child.exited() ? 'exited' : 'no heartbeat in 30 s'}); measured without it`);
        out(child.tail().split('\n').slice(-5).join('\n'));
        await child.stop();
        children.pop();
        continue;
      }
      if (name === 'simulator' && !(await until(() => existsSync(simAssets), 30_000, 50))) throw new Error('the simulator wrote no sim-assets.json');
    }
    await sleep(WARMUP_MS);
    const natsPid = serverPid('nats-server', new URL(nats.url).port);
    const redisPid = serverPid('redis-server', new URL(redis.url).port);
    if (natsPid === undefined || redisPid === undefined) out(`gateway: [${label}] could not find the nats-server / redis-server process to measure`);
    const measured = [...children.map((c) => ({ name: c.name, pid: c.child.pid })), ...(natsPid ? [{ name: 'nats-server', pid: natsPid }] : []), ...(redisPid ? [{ name: 'redis-server', pid: redisPid }] : [])];
    const cpuBefore = measured.map((m) => processCpuSeconds(m.pid));
    await sleep(WINDOW_MS);
    const result = measured.map((m, i) => ({
      name: m.name,
      rssMib: processRssMib(m.pid),
      ...processPages(m.pid),
      cpuPct: ((processCpuSeconds(m.pid) - (cpuBefore[i] ?? 0)) / (WINDOW_MS / 1_000)) * 100,
    }));
    const dead = children.filter((c) => c.child.exited()).map((c) => c.name);
    if (dead.length > 0) out(`gateway: [${label}] exited during the window: ${dead.join(', ')}`);
    return result;
  } finally {
    for (const { child } of [...children].reverse()) await child.stop();
    await connection.nc.drain().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const machine = machineContext();
  out(`gateway: machine: ${machine.line}`);
  const [nats, redis] = await Promise.all([startNats({ config: NATS_CONFIG_PATH }), startRedis()]);
  try {
    // The floor: an idle plain node process.
    const floor = startNodeProcess(['-e', 'setInterval(() => undefined, 1 << 30)'], {});
    await sleep(1_500);
    const floorMib = floor.exited() ? Number.NaN : processRssMib(floor.pid);
    await floor.stop();

    const bundles = join(ROOT, 'tmp', 'bench-bundles');
    const builtAt = performance.now();
    buildBundles(bundles);
    out(`gateway: bundled every service with docker/build.js in ${fmt((performance.now() - builtAt) / 1000)} s`);
    const idle = await runStack('idle', 3, nats, redis, bundles);
    const busy = await runStack('20 assets', 20, nats, redis, bundles);
    const names = [...new Set([...idle.map((m) => m.name), ...busy.map((m) => m.name)])];
    out('');
    const settings = imageRuntime('runtime');
    out(
      `gateway: every service as its bundle (node main.js, as in the images: ${[...settings.nodeArgs, ...Object.entries(settings.env).map(([k, v]) => `${k}=${v}`)].join(' ') || 'no settings'}), ` +
        `warm-up ${WARMUP_MS / 1000} s, window ${WINDOW_MS / 1000} s`,
    );
    printTable(
      ['process', 'RSS idle MiB', 'RSS 20 assets MiB', 'USS idle MiB', 'USS 20 assets MiB', 'CPU 20 assets % of a core'],
      names.map((n) => {
        const i = idle.find((m) => m.name === n);
        const b = busy.find((m) => m.name === n);
        return [
          n,
          fmt(i?.rssMib ?? Number.NaN),
          fmt(b?.rssMib ?? Number.NaN),
          fmt(i?.ussMib ?? Number.NaN),
          fmt(b?.ussMib ?? Number.NaN),
          fmt(b?.cpuPct ?? Number.NaN),
        ];
      }),
    );
    const total = (rows: Measured[]) => rows.reduce((sum, m) => sum + m.rssMib, 0);
    /** Services' private pages + the largest shared part of one service (the node binary once) + the servers in full. */
    const footprint = (rows: Measured[]) => {
      const node = rows.filter((m) => !m.name.endsWith('-server'));
      const servers = rows.filter((m) => m.name.endsWith('-server'));
      return (
        node.reduce((sum, m) => sum + m.ussMib, 0) +
        Math.max(0, ...node.map((m) => m.sharedMib)) +
        servers.reduce((sum, m) => sum + m.rssMib, 0)
      );
    };
    const services = (rows: Measured[]) => rows.filter((m) => m.name !== 'simulator');
    const cpu = services(busy).filter((m) => !m.name.endsWith('-server')).reduce((sum, m) => sum + m.cpuPct, 0);
    const serviceCount = services(busy).filter((m) => !m.name.endsWith('-server')).length;
    out(
      `gateway: stack RSS without the simulator: idle ${fmt(total(services(idle)))} MiB, 20 assets ${fmt(total(services(busy)))} MiB ` +
        `(${serviceCount} services + nats-server + redis-server); an idle plain node process is ${fmt(floorMib)} MiB, so ` +
        `${fmt(serviceCount * floorMib)} MiB of it is ${serviceCount} Node.js runtimes`,
    );
    out(
      `gateway: stack memory without the simulator, the node binary's shared pages counted once: ` +
        `idle ${fmt(footprint(services(idle)))} MiB, 20 assets ${fmt(footprint(services(busy)))} MiB`,
    );
    out(`gateway: gateway services' CPU at 20 assets × 1 Hz (without the simulator and the servers): ${fmt(cpu)} % of one core`);
    for (const m of busy) record({ bench: 'gateway', metric: `${m.name} RSS at 20 assets`, value: m.rssMib, unit: 'MiB' });
    for (const m of idle) record({ bench: 'gateway', metric: `${m.name} RSS idle`, value: m.rssMib, unit: 'MiB' });
    for (const m of busy) record({ bench: 'gateway', metric: `${m.name} CPU at 20 assets × 1 Hz`, value: m.cpuPct, unit: '% of a core' });
    record({ bench: 'gateway', metric: 'stack RSS at 20 assets (services + NATS + Redis, no simulator)', value: total(services(busy)), unit: 'MiB', target: '< 400 MB' });
    record({ bench: 'gateway', metric: 'stack memory at 20 assets, shared pages once (services + NATS + Redis, no simulator)', value: footprint(services(busy)), unit: 'MiB' });
    record({ bench: 'gateway', metric: 'gateway CPU at 20 assets × 1 Hz (services, no simulator)', value: cpu, unit: '% of a core', target: '< 15 %' });
    record({ bench: 'gateway', metric: 'idle plain node process (floor per service)', value: floorMib, unit: 'MiB' });
  } finally {
    await Promise.all([nats.stop(), redis.stop()]);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`gateway bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
