#!/usr/bin/env node
// Entry point of the modbus-poller image: turns POLLER_SHARD=auto/<count> into this replica's shard, then runs the
// poller (main.js, the bundle) in this same process. Any other POLLER_SHARD (unset, or a fixed "1/2") passes through.
//
// Why: `docker compose up --scale modbus-poller=N` starts N identical containers; compose cannot hand each its own
// POLLER_SHARD. So each replica claims one of <count> slots with a lease file in a volume that all replicas share
// (SHARD_LEASE_DIR, on the one gateway host): created exclusively with link(2), renewed every SHARD_LEASE_RENEW_MS,
// taken over only once older than SHARD_LEASE_STALE_MS. A replica that finds every slot taken is a hot standby: it
// answers /healthz (status "standby"), /readyz 503, and takes the first slot whose owner stops renewing. An owner
// that finds its lease gone or taken over stops its poller (SIGTERM) so that one shard is never polled twice for
// longer than a renewal interval. A restarted container (same hostname) gets its own slot back at once.
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const DEFAULTS = { dir: '/var/lib/voltimax/shards', renewMs: 5_000, staleMs: 30_000 };

/** `auto/<count>` → { count }; anything else → undefined (not ours to resolve). Throws on a malformed auto value. */
function parseAuto(value) {
  if (value === undefined || !value.startsWith('auto')) return undefined;
  const match = /^auto\/(\d{1,3})$/.exec(value);
  const count = match ? Number(match[1]) : NaN;
  if (!Number.isInteger(count) || count < 1) {
    throw new Error(`POLLER_SHARD=${value}: expected auto/<count> with count ≥ 1 (e.g. auto/2), or index/count`);
  }
  return { count };
}

const leaseFile = (dir, index, count) => path.join(dir, `shard-${index}-of-${count}.lease`);

function readOwner(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')).owner;
  } catch {
    return undefined;
  }
}

/** Creates `file` holding `content` only if it does not exist (atomic: a reader never sees it half-written). */
function createExclusive(file, content) {
  const temporary = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  fs.writeFileSync(temporary, content);
  try {
    fs.linkSync(temporary, file);
    return true;
  } catch (err) {
    if (err.code === 'EEXIST') return false;
    throw err;
  } finally {
    fs.rmSync(temporary, { force: true });
  }
}

/**
 * Claims the first free slot of `count` in `dir` for `owner`: its own lease (a restart), then a missing lease,
 * then a stale one (mtime older than `staleMs` at `nowMs`). Returns the index, or undefined when all are held.
 */
function claimShard({ dir, count, owner, nowMs, staleMs }) {
  fs.mkdirSync(dir, { recursive: true });
  const content = `${JSON.stringify({ owner, pid: process.pid, claimedAtMs: nowMs })}\n`;
  for (let index = 0; index < count; index += 1) {
    if (readOwner(leaseFile(dir, index, count)) === owner) {
      touch(leaseFile(dir, index, count), nowMs);
      return index;
    }
  }
  for (let index = 0; index < count; index += 1) {
    const file = leaseFile(dir, index, count);
    if (createExclusive(file, content)) return claimed(file, index, nowMs);
    let ageMs;
    try {
      ageMs = nowMs - fs.statSync(file).mtimeMs;
    } catch {
      ageMs = Infinity; // released between our attempts: free
    }
    if (ageMs <= staleMs) continue;
    // Only one contender wins the rename of a stale lease; the others see ENOENT and move on.
    const grave = `${file}.stale.${owner}`;
    try {
      fs.renameSync(file, grave);
      fs.rmSync(grave, { force: true });
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
    if (createExclusive(file, content)) return claimed(file, index, nowMs);
  }
  return undefined;
}

/** Stamps a new lease with the claim time (its mtime is what others judge staleness by). */
function claimed(file, index, nowMs) {
  touch(file, nowMs);
  return index;
}

function touch(file, nowMs) {
  const at = new Date(nowMs);
  fs.utimesSync(file, at, at);
}

/** Renews the lease of `index` for `owner`; false when it is gone or someone else holds it. */
function renewShard({ dir, index, count, owner, nowMs }) {
  const file = leaseFile(dir, index, count);
  if (readOwner(file) !== owner) return false;
  try {
    touch(file, nowMs);
    return true;
  } catch {
    return false;
  }
}

/** Gives the slot back on a clean stop, so a standby takes over at once instead of after staleMs. */
function releaseShard({ dir, index, count, owner }) {
  const file = leaseFile(dir, index, count);
  if (readOwner(file) === owner) fs.rmSync(file, { force: true });
}

function log(level, msg, fields = {}) {
  const levels = { info: 30, warn: 40, error: 50 };
  const line = {
    level: levels[level],
    time: Date.now(),
    name: 'modbus-poller',
    component: 'shard-lease',
    ...fields,
    msg,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** /healthz 200 and /readyz 503 while waiting as a standby; resolves with a close function once listening. */
function standbyHealthServer(port, host) {
  const server = http.createServer((req, res) => {
    const ok = req.url === '/healthz';
    res.writeHead(ok ? 200 : req.url === '/readyz' ? 503 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(ok ? { status: 'standby', service: 'modbus-poller' } : { ready: false, standby: true }));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(() => new Promise((done) => server.close(() => done()))));
  });
}

async function main(env = process.env) {
  const auto = parseAuto(env.POLLER_SHARD);
  if (auto !== undefined) {
    const options = {
      dir: env.SHARD_LEASE_DIR || DEFAULTS.dir,
      count: auto.count,
      owner: env.INSTANCE_ID || os.hostname(),
      renewMs: Number(env.SHARD_LEASE_RENEW_MS || DEFAULTS.renewMs),
      staleMs: Number(env.SHARD_LEASE_STALE_MS || DEFAULTS.staleMs),
    };
    let index = claimShard({ ...options, nowMs: Date.now() });
    if (index === undefined) {
      log('info', 'every shard is held: waiting as a standby', { count: options.count, owner: options.owner });
      const port = Number(env.HEALTH_PORT || 0);
      const close =
        port > 0 ? await standbyHealthServer(port, env.HEALTH_HOST || '127.0.0.1') : () => Promise.resolve();
      const stop = new Promise((resolve) => {
        process.once('SIGTERM', () => resolve('SIGTERM'));
        process.once('SIGINT', () => resolve('SIGINT'));
      });
      while (index === undefined) {
        const signal = await Promise.race([stop, new Promise((r) => setTimeout(() => r(undefined), options.renewMs))]);
        if (signal !== undefined) {
          log('info', 'standby stopped', { signal });
          await close();
          return;
        }
        index = claimShard({ ...options, nowMs: Date.now() });
      }
      await close();
      process.removeAllListeners('SIGTERM');
      process.removeAllListeners('SIGINT');
    }
    const shard = `${index}/${options.count}`;
    process.env.POLLER_SHARD = shard;
    log('info', 'shard claimed', { shard, owner: options.owner, leaseDir: options.dir });
    const held = { ...options, index };
    const timer = setInterval(() => {
      if (renewShard({ ...held, nowMs: Date.now() })) return;
      clearInterval(timer);
      log('error', 'shard lease lost or taken over: stopping this poller', { shard, owner: options.owner });
      process.kill(process.pid, 'SIGTERM');
    }, options.renewMs);
    timer.unref();
    process.once('exit', () => {
      clearInterval(timer);
      releaseShard(held);
    });
  }
  require(path.join(__dirname, 'main.js'));
}

module.exports = { parseAuto, claimShard, renewShard, releaseShard, leaseFile };

if (require.main === module) {
  main().catch((err) => {
    // Same contract as service-kit: a configuration the process cannot run with exits 78 (EX_CONFIG).
    process.stderr.write(`modbus-poller: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(78);
  });
}
