#!/usr/bin/env node
// `npm start`: run the gateway as local processes (DESIGN § Deployment, without Docker).
// Starts a nats-server from docker/nats/nats.conf (its users and permissions, so the arbiter-only write
// rule holds locally too), then every service that exists, each as its own NATS user. With no
// assets.json it runs the simulated site. A crashed service is restarted with backoff. On a terminal the
// screen shows a live status (`voltimax monitor --status`) and the logs go to tmp/gateway/logs/; otherwise
// (CI, a pipe, VOLTIMAX_LOGS=1) each service's log lines are printed with its name as prefix, with a status
// line every 15 s. Ctrl-C stops everything cleanly.
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const STATE_DIR = path.resolve(process.env.VOLTIMAX_STATE_DIR || path.join(ROOT, 'tmp', 'gateway'));
const LOG_DIR = path.join(STATE_DIR, 'logs');
const SUPERVISOR_FILE = path.join(STATE_DIR, 'supervisor.json');
/** Live screen on a terminal; prefixed log lines otherwise. */
const LIVE_SCREEN = process.stdout.isTTY === true && !process.env.VOLTIMAX_LOGS;
const NATS_PORT = Number(process.env.VOLTIMAX_NATS_PORT || 4223);
const REDIS_PORT = Number(process.env.VOLTIMAX_REDIS_PORT || 6380);
const SIM_ASSETS_FILE = path.join(STATE_DIR, 'sim-assets.json');
/** The simulated site: assets.sim.json, or another sim site (assets.sim-ocpp.json, assets.sim-devices.json). */
const SIM_CONFIG = path.resolve(ROOT, process.env.VOLTIMAX_SIM_SITE || path.join('docker', 'config', 'assets.sim.json'));
/** Password of the simulated OCPP charge point (assets.sim-ocpp.json names this variable); the simulator and ocpp-csms share it. */
process.env.SIM_OCPP_PASSWORD = process.env.SIM_OCPP_PASSWORD || 'dev-sim-charge-point';
const USER_CONFIG = process.env.SITE_FILE || path.join(ROOT, 'config', 'assets.json');
const DASHBOARD_PORT = Number(process.env.VOLTIMAX_DASHBOARD_PORT || 8088);
const OCPP_PORT = process.env.OCPP_PORT || '8887';
const DASHBOARD_PASSWORD_FILE = path.join(STATE_DIR, 'dashboard-password');

/** Start order matters: drivers and the arbiter before the strategy engine. */
const SERVICES = [
  'simulator',
  'modbus-poller',
  'http-devices',
  'ocpp-csms',
  // Protocol plugins of the site's `drivers` list; with none it only sends its heartbeat.
  'driver-host',
  'safety-arbiter',
  'strategy-engine',
  'cloud-bridge',
  'telemetry-publisher',
  'dashboard',
];

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

/** Supervised processes for the status view: name → { state, restarts, sinceMs }. */
const supervised = new Map();
/** Recent warnings and errors of every process, newest last (shown under the live status). */
const recent = [];

function writeSupervisorFile() {
  const body = JSON.stringify({
    processes: [...supervised.entries()].map(([name, p]) => ({ name, ...p })),
    recent: recent.slice(-20),
  });
  const temp = `${SUPERVISOR_FILE}.tmp`;
  try {
    fs.writeFileSync(temp, body);
    fs.renameSync(temp, SUPERVISOR_FILE);
  } catch {
    // The status view falls back to heartbeats; the gateway itself does not depend on this file.
  }
}

function setState(name, state, restarts) {
  supervised.set(name, { state, restarts, sinceMs: Date.now() });
  writeSupervisorFile();
}

/** A warning or worse: pino level ≥ 40, nats-server [WRN]/[ERR]/[FTL], redis `#`, or other stderr text. */
function notable(label, line, fromStderr) {
  if (label === 'nats') return /\[(WRN|ERR|FTL)\]/.test(line);
  if (label === 'redis') return / # /.test(line) && !/ready to accept|Server initialized|bye bye|User requested|Running mode|oO0OoO0OoO0Oo/.test(line);
  const match = /"level":(\d+)/.exec(line);
  if (match !== null) return Number(match[1]) >= 40;
  return fromStderr && line.trim() !== '';
}

let statusStarted = false;
function say(text) {
  const line = `[voltimax] ${text}`;
  if (LIVE_SCREEN && !statusStarted) process.stdout.write(`${line}\n`);
  if (LIVE_SCREEN) {
    recent.push(line);
    if (recent.length > 40) recent.splice(0, recent.length - 40);
    writeSupervisorFile();
  } else {
    process.stdout.write(`${line}\n`);
  }
}

function pipeLines(stream, label, fromStderr) {
  fs.mkdirSync(LOG_DIR, { recursive: true });
  const file = fs.createWriteStream(path.join(LOG_DIR, `${label}.log`), { flags: 'a' });
  let buffer = '';
  stream.on('data', (chunk) => {
    file.write(chunk);
    buffer += chunk.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) {
      if (!LIVE_SCREEN) process.stdout.write(`${label.padEnd(20)}| ${line}\n`);
      else if (notable(label, line, fromStderr)) {
        recent.push(`${label} | ${line.length > 200 ? `${line.slice(0, 200)}…` : line}`);
        if (recent.length > 40) recent.splice(0, recent.length - 40);
        writeSupervisorFile();
      }
    }
  });
  stream.on('end', () => file.end());
}

const children = new Map();
let stopping = false;

/** What tells a file's versions apart without reading it: inode, size, modification time ('' when it is missing). */
function fileVersion(file) {
  try {
    const stat = fs.statSync(file);
    return `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
  } catch {
    return '';
  }
}

/**
 * After an exit 78 (the service refused its configuration): start it again once its site file changes. A fixed
 * assets.json is picked up without restarting the gateway, and a file rewritten while the service was starting
 * (after it had read the old one) counts too: `startedVersion` is the file as it was when the service was started.
 */
function restartWhenFileChanges(file, startedVersion, restart) {
  const changed = () => {
    const now = fileVersion(file);
    return now !== '' && now !== startedVersion;
  };
  if (changed()) {
    setTimeout(restart, 1_000);
    return;
  }
  const listener = () => {
    if (stopping || !changed()) return;
    fs.unwatchFile(file, listener);
    // a second for an editor that writes in several steps to finish
    setTimeout(restart, 1_000);
  };
  fs.watchFile(file, { interval: 1_000 }, listener);
}

function startChild(name, command, args, env, restarts = 0) {
  // Once stopping, nothing new starts: a group the stop has passed would never be signalled.
  if (stopping) return undefined;
  // Each child leads its own process group, so a terminal's Ctrl-C reaches only this supervisor: it then stops the
  // services first (each gets one SIGTERM and shuts down gracefully) and NATS and Redis after them. Without this every
  // process got the terminal's SIGINT and then our SIGTERM (a "second signal": forced exit), while NATS went away
  // under the services' drain.
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  children.set(name, child);
  const siteFile = env.SITE_FILE;
  const siteVersion = siteFile === undefined ? '' : fileVersion(siteFile);
  setState(name, 'running', restarts);
  pipeLines(child.stdout, name, false);
  pipeLines(child.stderr, name, true);
  child.on('exit', (code, signal) => {
    children.delete(name);
    if (stopping) return;
    if (code === 78) {
      setState(name, 'refused-config', restarts);
      if (siteFile === undefined) {
        say(`${name} refused its configuration (exit 78); not restarting — fix the configuration and run again`);
        return;
      }
      say(`${name} refused its configuration (exit 78); it starts again when ${path.relative(ROOT, siteFile) || siteFile} changes (its log says why; a problem in its environment needs a restart of the gateway)`);
      restartWhenFileChanges(siteFile, siteVersion, () => {
        if (stopping) return;
        say(`${name}: its site file changed; starting it again`);
        startChild(name, command, args, env, restarts);
      });
      return;
    }
    if (code === 75) {
      // EX_RESTART: the service stopped to load a changed configuration it reads only at start; not a crash.
      setState(name, 'restarting', restarts);
      say(`${name} restarts to load its changed configuration`);
      setTimeout(() => !stopping && startChild(name, command, args, env, restarts), 100);
      return;
    }
    const delayMs = Math.min(30_000, 500 * 2 ** restarts);
    setState(name, 'restarting', restarts + 1);
    say(`${name} exited (${signal ?? code}); restarting in ${delayMs} ms`);
    setTimeout(() => !stopping && startChild(name, command, args, env, restarts + 1), delayMs);
  });
  return child;
}

/** The status view: `voltimax monitor --status` on the terminal, or a status line every 15 s in the logs. */
let statusView;
function startStatusView() {
  if (stopping) return;
  statusStarted = true;
  const args = [path.join(ROOT, 'tools', 'run-ts.js'), path.join(ROOT, 'services', 'cli', 'src', 'main.ts'), 'monitor', '--status'];
  args.push('--supervisor', SUPERVISOR_FILE, ...(LIVE_SCREEN ? [] : ['--line', '--interval-ms', '15000']));
  const env = { ...process.env, NATS_URL: `nats://127.0.0.1:${NATS_PORT}`, NATS_USER: 'cli', NATS_PASS: 'dev-cli' };
  statusView = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', LIVE_SCREEN ? 'inherit' : 'pipe', 'pipe'] });
  if (!LIVE_SCREEN) pipeLines(statusView.stdout, 'status', false);
  pipeLines(statusView.stderr, 'status', true);
  statusView.on('exit', () => {
    statusView = undefined;
    if (!stopping) setTimeout(startStatusView, 2_000);
  });
}

async function main() {
  fs.mkdirSync(STATE_DIR, { recursive: true });
  fs.rmSync(SUPERVISOR_FILE, { force: true });
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
  if (stopping) return;
  say(`NATS on nats://127.0.0.1:${NATS_PORT} (users and permissions from docker/nats/nats.conf)`);

  // Only the provisioner may create streams (a service that could might capture or republish device writes): it
  // creates TELEMETRY, AUDIT, ESTOP and the KV buckets now, before any service looks for them.
  const provision = spawnSync(path.join(ROOT, 'bin', 'voltimax'), ['bus', 'init', '--wait-ms', '15000'], {
    encoding: 'utf8',
    env: { ...process.env, NATS_URL: `nats://127.0.0.1:${NATS_PORT}`, NATS_USER: 'provisioner', NATS_PASS: 'dev-provisioner' },
  });
  if (provision.status !== 0) {
    process.stderr.write(provision.stderr || provision.stdout);
    say('could not create the streams (voltimax bus init)');
    shutdown(1);
    return;
  }
  say('streams and KV buckets ready (voltimax bus init, as the provisioner)');

  // Redis keeps the strategy engine's memory across restarts; the engine runs without it if it is missing.
  let redisUrl = process.env.REDIS_URL;
  const redisBin = findBinary('redis-server');
  if (!redisUrl && redisBin && !(await portOpen(REDIS_PORT))) {
    startChild('redis', redisBin, ['--port', String(REDIS_PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {});
    if (await waitPort(REDIS_PORT, 5_000)) redisUrl = `redis://127.0.0.1:${REDIS_PORT}`;
  } else if (!redisUrl && (await portOpen(REDIS_PORT))) {
    redisUrl = `redis://127.0.0.1:${REDIS_PORT}`;
  }
  if (stopping) return;
  if (!redisUrl) say('no redis-server (Debian: apt-get install redis-server): the strategy engine starts with fresh memory');

  const missing = [];
  let serviceSiteFile = siteFile;
  for (const name of SERVICES) {
    if (stopping) return;
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
      // Under npm start charge points connect on the loopback only (a site's chargers: set OCPP_HOST yourself).
      ...(name === 'ocpp-csms' ? { OCPP_HOST: process.env.OCPP_HOST || '127.0.0.1', OCPP_PORT: OCPP_PORT } : {}),
      // The simulated site's OCPP charge points (if it has any) connect to that ocpp-csms.
      ...(name === 'simulator' ? { SIM_OCPP_URL: `ws://127.0.0.1:${OCPP_PORT}/ocpp` } : {}),
      ...(name === 'dashboard'
        ? { DASHBOARD_HOST: '127.0.0.1', DASHBOARD_PORT: String(DASHBOARD_PORT), DASHBOARD_PASSWORD_FILE }
        : {}),
      HOSTNAME: process.env.HOSTNAME || os.hostname(),
    });
    if (name === 'simulator') {
      // The simulator writes the site with each simulated device's real Modbus endpoint once its ports are open.
      const until = Date.now() + 30_000;
      while (!fs.existsSync(SIM_ASSETS_FILE) && Date.now() < until && !stopping) await new Promise((r) => setTimeout(r, 100));
      if (stopping) return;
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
  if (!missing.includes('dashboard')) {
    say(`dashboard on http://127.0.0.1:${DASHBOARD_PORT}/` + (fs.existsSync(DASHBOARD_PASSWORD_FILE) ? '' : ` — set its password first: bin/voltimax dashboard set-password --file ${path.relative(ROOT, DASHBOARD_PASSWORD_FILE)}`));
  }
  say(`running; Ctrl-C stops the gateway (logs: ${path.relative(ROOT, LOG_DIR) || LOG_DIR}/)`);
  startStatusView();
}

/**
 * Stop order, first to last. The intent sources go first, so nothing asks for a new setpoint; then the arbiter, which on
 * its way out sends each controllable asset its safe setpoint through the drivers, which are still up; then the drivers;
 * then the simulated devices; NATS and Redis last. A process not named here stops with the first group.
 */
const STOP_ORDER = [
  ['safety-arbiter'],
  ['modbus-poller', 'http-devices', 'ocpp-csms', 'driver-host'],
  ['simulator'],
  ['nats', 'redis'],
];
const STOP_GROUP_MS = 8000;

const running = (child) => child.exitCode === null && child.signalCode === null;

/** SIGKILL to the child's process group (it and anything it started); to the child alone if it leads none. */
function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

function exitOf(child) {
  return new Promise((resolve) => (running(child) ? child.once('exit', resolve) : resolve()));
}

/** SIGTERM to each child, then SIGKILL to the process group of any still running after `timeoutMs`; the names killed. */
async function stopChildren(entries, timeoutMs) {
  for (const [, child] of entries) child.kill('SIGTERM');
  let timer;
  const late = new Promise((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs)));
  const forced = await Promise.race([Promise.all(entries.map(([, child]) => exitOf(child))).then(() => false), late]);
  clearTimeout(timer);
  if (!forced) return [];
  const killed = entries.filter(([, child]) => running(child));
  for (const [, child] of killed) killGroup(child);
  await Promise.all(killed.map(([, child]) => exitOf(child)));
  return killed.map(([name]) => name);
}

async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  if (statusView) statusView.kill('SIGTERM');
  if (LIVE_SCREEN) process.stdout.write('\n[voltimax] stopping\n');
  else say('stopping');
  const later = new Set(STOP_ORDER.flat());
  const groups = [[...children.keys()].filter((name) => !later.has(name)), ...STOP_ORDER];
  let forced = false;
  for (const names of groups) {
    const entries = names.filter((name) => children.has(name)).map((name) => [name, children.get(name)]);
    if (entries.length === 0) continue;
    const killed = await stopChildren(entries, STOP_GROUP_MS);
    if (killed.length > 0) {
      forced = true;
      say(`still running ${STOP_GROUP_MS / 1000} s after SIGTERM, killed: ${killed.join(', ')}`);
    }
  }
  // Nothing starts once stopping; anything still here (a restart that raced the stop) goes now.
  if (children.size > 0 && (await stopChildren([...children.entries()], STOP_GROUP_MS)).length > 0) forced = true;
  process.exit(forced && code === 0 ? 1 : code);
}

/** SIGKILL to every child's process group (a child and anything it started); synchronous, so usable on 'exit'. */
function killAll() {
  for (const child of [...children.values(), ...(statusView ? [statusView] : [])]) if (running(child)) killGroup(child);
}

// The first Ctrl-C (or SIGTERM) stops everything in order; another one while that runs kills every process at once.
// The terminal closing (SIGHUP) no longer reaches the children (their own process groups): it stops them as Ctrl-C.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (!stopping) {
      shutdown(0);
      return;
    }
    say(`${signal} again: killing every process now`);
    killAll();
    process.exit(1);
  });
}
// A closed terminal or pipe must not crash the supervisor halfway through a stop (EIO/EPIPE on write).
process.stdout.on('error', () => undefined);
process.stderr.on('error', () => undefined);
process.on('uncaughtException', (err) => {
  try {
    process.stderr.write(`npm start: unexpected error: ${err && err.stack ? err.stack : err}\n`);
  } catch {
    // nowhere left to report it
  }
  if (stopping) {
    killAll();
    process.exit(1);
  }
  shutdown(1);
});
// Whatever way the supervisor exits, no child outlives it.
process.on('exit', killAll);
main().catch((err) => {
  process.stderr.write(`npm start failed: ${err && err.stack ? err.stack : err}\n`);
  shutdown(1);
});
