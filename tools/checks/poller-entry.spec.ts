// docker/poller-entry.js: how `docker compose up --scale modbus-poller=N` gives each replica its own shard. The
// lease functions run against a real temporary folder (what the shared `shards` volume is in a container).
import { mkdtempSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './deploy-helpers';

interface LeaseArgs {
  dir: string;
  count: number;
  owner: string;
  nowMs: number;
}
interface LeaseModule {
  parseAuto(value: string | undefined): { count: number } | undefined;
  claimShard(args: LeaseArgs & { staleMs: number }): number | undefined;
  renewShard(args: LeaseArgs & { index: number }): boolean;
  releaseShard(args: Omit<LeaseArgs, 'nowMs'> & { index: number }): void;
  leaseFile(dir: string, index: number, count: number): string;
}

const lease = createRequire(__filename)(join(ROOT, 'docker', 'poller-entry.js')) as LeaseModule;
const STALE_MS = 30_000;
const T0 = 1_800_000_000_000;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'shards-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const claim = (owner: string, count: number, nowMs = T0) =>
  lease.claimShard({ dir, count, owner, nowMs, staleMs: STALE_MS });
const age = (index: number, count: number, atMs: number) => {
  const at = new Date(atMs);
  utimesSync(lease.leaseFile(dir, index, count), at, at);
};

describe('POLLER_SHARD values', () => {
  it.each([
    ['auto/1', { count: 1 }],
    ['auto/2', { count: 2 }],
    ['0/2', undefined],
    [undefined, undefined],
  ])('%s → %j', (value, expected) => expect(lease.parseAuto(value)).toEqual(expected));

  it.each(['auto', 'auto/0', 'auto/x', 'auto/2/3'])('refuses %s (exit 78 in the container)', (value) => {
    expect(() => lease.parseAuto(value)).toThrow(/auto\/<count>/);
  });
});

describe('shard leases of scaled poller replicas', () => {
  it('gives each replica its own shard, and none to a replica beyond the count', () => {
    expect([claim('a', 2), claim('b', 2), claim('c', 2)]).toEqual([0, 1, undefined]);
    expect(readdirSync(dir).sort()).toEqual(['shard-0-of-2.lease', 'shard-1-of-2.lease']);
  });

  it('gives a restarted replica (same hostname) its own shard back at once', () => {
    claim('a', 2);
    claim('b', 2);
    expect(claim('b', 2, T0 + 1_000)).toBe(1);
  });

  it('lets a standby take over a shard whose owner stopped renewing', () => {
    claim('a', 2);
    claim('b', 2);
    age(0, 2, T0 - STALE_MS - 1);
    expect(claim('c', 2)).toBe(0);
    expect(lease.renewShard({ dir, index: 0, count: 2, owner: 'a', nowMs: T0 })).toBe(false);
    expect(lease.renewShard({ dir, index: 0, count: 2, owner: 'c', nowMs: T0 })).toBe(true);
  });

  it('never takes over a lease that is still renewed', () => {
    claim('a', 1);
    age(0, 1, T0 - STALE_MS + 1_000);
    expect(claim('b', 1)).toBeUndefined();
  });

  it('frees the slot on a clean stop, so a standby takes it without waiting', () => {
    claim('a', 1);
    expect(claim('b', 1)).toBeUndefined();
    lease.releaseShard({ dir, index: 0, count: 1, owner: 'a' });
    expect(claim('b', 1)).toBe(0);
  });

  it('keeps leases of another count apart (changing POLLER_REPLICAS starts a new set)', () => {
    claim('a', 1);
    expect(claim('a', 2)).toBe(0);
    expect(claim('b', 2)).toBe(1);
  });

  it('does not release a lease someone else holds', () => {
    claim('a', 1);
    lease.releaseShard({ dir, index: 0, count: 1, owner: 'b' });
    expect(claim('b', 1)).toBeUndefined();
  });
});
