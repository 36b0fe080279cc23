#!/usr/bin/env node
// `npm start`: run the gateway as local processes (DESIGN § Deployment, without Docker).
// Starts a nats-server from docker/nats/nats.conf (its users and permissions, so the arbiter-only write
// rule holds locally too), then every service that exists, each as its own NATS user. With no
// assets.json it runs the simulated site. Ctrl-C stops everything cleanly.
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const STATE_DIR = path.join(ROOT, 'tmp', 'gateway');
const NATS_PORT = Number(process.env.VOLTIMAX_NATS_PORT || 4223);
const REDIS_PORT = Number(process.env.VOLTIMAX_REDIS_PORT || 6380);
const SIM_ASSETS_FILE = path.join(STATE_DIR, 'sim-assets.json');
const SIM_CONFIG = path.join(ROOT, 'docker', 'config', 'assets.sim.json');
const USER_CONFIG = process.env.SITE_FILE || path.join(ROOT, 'config', 'assets.json');

/** Start order matters: drivers and the arbiter before the strategy engine. */
const SERVICES = [
  'simulator',
  'modbus-poller',
  'http-devices',
  'ocpp-csms',
  'safety-arbiter',
  'strategy-engine',
  'cloud-bridge',
  'telemetry-publisher',
];

const say = (text) => process.stdout.write(`[voltimax] ${text}\n`);

function findBinary(name) {
  for (const dir of [...(process.env.PATH || '').split(':'), '/usr/sbin', '/usr/local/bin', '/usr/bin']) {
    const candidate = path.join(dir, name);
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

function portOpen(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

async function waitPort(port, timeoutMs) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await portOpen(port)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

function prefixLines(stream, label) {
  let buffer = '';
  stream.on('data', (chunk) => {
    buffer += chunk.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) process.stdout.write(`${label.padEnd(20)}| ${line}\n`);
  });
}

const children = new Map();
let stopping = false;

function startChild(name, command, args, env, restarts = 0) {
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.set(name, child);
  prefixLines(child.stdout, name);
  prefixLines(child.stderr, name);
  child.on('exit', (code, signal) => {
    children.delete(name);
    if (stopping) return;
    if (code === 78) {
      say(`${name} refused its configuration (exit 78); not restarting — fix the configuration and run again`);
      return;
    }
    const delayMs = Math.min(30_000, 500 * 2 ** restarts);
    say(`${name} exited (${signal ?? code}); restarting in ${delayMs} ms`);
    setTimeout(() => !stopping && startChild(name, command, args, env, restarts + 1), delayMs);
  });
  return child;
}

async function main() {
  fs.mkdirSync(STATE_DIR, { recursive: true });
  const natsBin = findBinary('nats-server');
  if (!natsBin) {
    process.stderr.write('nats-server not found: install it (Debian: apt-get install nats-server)\n');
    process.exit(1);
  }
  if (await portOpen(NATS_PORT)) {
    process.stderr.write(`port ${NATS_PORT} is busy: is another gateway running? Set VOLTIMAX_NATS_PORT to use another port\n`);
    process.exit(1);
  }
  const siteFile = fs.existsSync(USER_CONFIG) ? USER_CONFIG : SIM_CONFIG;
  const simulated = siteFile === SIM_CONFIG;
  const check = spawnSync(path.join(ROOT, 'bin', 'voltimax'), ['config', 'validate', siteFile], { encoding: 'utf8' });
  if (check.status !== 0) {
    process.stderr.write(check.stderr || check.stdout);
    process.exit(78);
  }
  say(simulated ? `no ${path.relative(ROOT, USER_CONFIG)}: running the simulated site (${path.relative(ROOT, SIM_CONFIG)})` : `site: ${siteFile}`);

  // Same users and permissions as production; only where it listens and keeps its files differ.
  const natsConf = fs
    .readFileSync(path.join(ROOT, 'docker', 'nats', 'nats.conf'), 'utf8')
    .replace(/^listen:.*$/m, `listen: 127.0.0.1:${NATS_PORT}`)
    .replace(/^http:.*$/m, '')
    .replace(/store_dir:.*$/m, `store_dir: ${JSON.stringify(path.join(STATE_DIR, 'nats'))}`);
  const natsConfFile = path.join(STATE_DIR, 'nats.conf');
  fs.writeFileSync(natsConfFile, natsConf);
  startChild('nats', natsBin, ['-c', natsConfFile], {});
  if (!(await waitPort(NATS_PORT, 10_000))) {
    say('nats-server did not start');
    shutdown(1);
    return;
  }
  say(`NATS on nats://127.0.0.1:${NATS_PORT} (users and permissions from docker/nats/nats.conf)`);

  // Redis keeps the strategy engine's memory across restarts; the engine runs without it if it is missing.
  let redisUrl = process.env.REDIS_URL;
  const redisBin = findBinary('redis-server');
  if (!redisUrl && redisBin && !(await portOpen(REDIS_PORT))) {
    startChild('redis', redisBin, ['--port', String(REDIS_PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {});
    if (await waitPort(REDIS_PORT, 5_000)) redisUrl = `redis://127.0.0.1:${REDIS_PORT}`;
  } else if (!redisUrl && (await portOpen(REDIS_PORT))) {
    redisUrl = `redis://127.0.0.1:${REDIS_PORT}`;
  }
  if (!redisUrl) say('no redis-server (Debian: apt-get install redis-server): the strategy engine starts with fresh memory');

  const missing = [];
  let serviceSiteFile = siteFile;
  for (const name of SERVICES) {
    const entry = path.join(ROOT, 'services', name, 'src', 'main.ts');
    if (!fs.existsSync(entry)) {
      missing.push(name);
      continue;
    }
    if (name === 'simulator' && !simulated) continue;
    if (name === 'simulator') fs.rmSync(SIM_ASSETS_FILE, { force: true });
    startChild(name, process.execPath, [path.join(ROOT, 'tools', 'run-ts.js'), entry], {
      NATS_URL: `nats://127.0.0.1:${NATS_PORT}`,
      NATS_USER: name,
      NATS_PASS: `dev-${name}`,
      SITE_FILE: serviceSiteFile,
      HEALTH_PORT: '0',
      STATE_DIR,
      ...(redisUrl && name === 'strategy-engine' ? { REDIS_URL: redisUrl } : {}),
      HOSTNAME: process.env.HOSTNAME || os.hostname(),
    });
    if (name === 'simulator') {
      // The simulator writes the site with each simulated device's real Modbus endpoint once its ports are open.
      const until = Date.now() + 30_000;
      while (!fs.existsSync(SIM_ASSETS_FILE) && Date.now() < until && !stopping) await new Promise((r) => setTimeout(r, 100));
      if (!fs.existsSync(SIM_ASSETS_FILE)) {
        say('the simulator did not publish its endpoints within 30 s');
        shutdown(1);
        return;
      }
      serviceSiteFile = SIM_ASSETS_FILE;
      say(`simulated devices are listening; site with their endpoints: ${path.relative(ROOT, SIM_ASSETS_FILE)}`);
    }
  }
  if (missing.length > 0) say(`not yet built, so not started: ${missing.join(', ')}`);
  say('running; Ctrl-C stops the gateway');
}

function shutdown(code) {
  if (stopping) return;
  stopping = true;
  say('stopping');
  const all = [...children.values()];
  for (const child of all) child.kill('SIGTERM');
  const force = setTimeout(() => {
    for (const child of children.values()) child.kill('SIGKILL');
    process.exit(code || 1);
  }, 8000);
  Promise.all(all.map((c) => new Promise((r) => (c.exitCode !== null ? r() : c.once('exit', r))))).then(() => {
    clearTimeout(force);
    process.exit(code);
  });
}

process.once('SIGINT', () => shutdown(0));
process.once('SIGTERM', () => shutdown(0));
main().catch((err) => {
  process.stderr.write(`npm start failed: ${err && err.stack ? err.stack : err}\n`);
  shutdown(1);
});
