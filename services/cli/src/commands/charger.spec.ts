import type { ArbiterDecision } from '@voltimax/contracts';
import { exampleChargerListReply } from '@voltimax/contracts/testing';
import { runCli } from '../program';
import type { ArbiterCliDeps } from './arbiter-nats';
import { chargerIntent } from './charger';
import { formatChargerDecision, formatChargerList, formatEvSetpoint } from './charger-format';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      stdout: (t: string) => void out.push(t),
      stderr: (t: string) => void err.push(t),
      readFile: () => Promise.reject(new Error('no files')),
    },
  };
}

const unreachable: ArbiterCliDeps = {
  env: { NATS_URL: 'nats://127.0.0.1:1', NATS_PASS: 'secret' },
  connect: () => Promise.reject(new Error('CONNECTION_REFUSED')),
  now: () => 0,
  delay: () => Promise.resolve(),
};

describe('voltimax charger: arguments', () => {
  it.each([
    [['charger', 'limit', 'ev-1', 'ten'], /<amps> must be a current in A between 0 and 1000, got 'ten'/],
    [['charger', 'limit', 'ev-1', '-6'], /<amps> must be a current in A/],
    [['charger', 'limit', 'ev.1', '10'], /'ev.1' is not an asset id/],
    [['charger', 'start', 'ev-1', '--amps', 'NaN'], /--amps must be a current in A/],
  ])('%j exits 2 (a usage error) before connecting', async (argv, message) => {
    const c = capture();
    expect(await runCli(argv, c.io)).toBe(2);
    expect(c.err.join('')).toMatch(message);
  });

  it('a bad --ttl-min exits 2', async () => {
    const c = capture();
    await expect(chargerIntent(c.io, 'limit', 'ev-1', { kind: 'ev-current', currentA: 10 }, { ttlMin: '0' }, unreachable)).rejects.toMatchObject({
      exitCode: 2,
    });
    expect(c.err.join('')).toMatch(/--ttl-min must be an integer between 1 and 1440/);
  });

  it('no NATS: exit 2 naming the server, never the password', async () => {
    const c = capture();
    await expect(chargerIntent(c.io, 'stop', 'ev-1', { kind: 'ev-current', currentA: 0, session: 'stop' }, {}, unreachable)).rejects.toMatchObject({
      exitCode: 2,
    });
    expect(c.err.join('')).toBe('voltimax charger stop: cannot connect to NATS at nats://127.0.0.1:1 as cli: CONNECTION_REFUSED\n');
  });
});

describe('voltimax charger: output', () => {
  it.each([
    [{ kind: 'ev-current', currentA: 16 }, '16 A'],
    [{ kind: 'ev-current', currentA: 0, session: 'stop' }, '0 A (paused) + stop session'],
    [{ kind: 'ev-current', currentA: 10, phases: 1, session: 'start' }, '10 A on 1 phase + start session'],
    [{ kind: 'safe' }, 'safe (paused)'],
  ] as const)('%j reads %j', (setpoint, text) => {
    expect(formatEvSetpoint(setpoint)).toBe(text);
  });

  it('a clamped decision names the rule with its limit and value', () => {
    const decision: ArbiterDecision = {
      v: 1,
      assetId: 'ev-1',
      intentId: 'cli-1',
      source: 'manual',
      outcome: 'clamped',
      requested: { kind: 'ev-current', currentA: 40 },
      applied: { kind: 'ev-current', currentA: 16 },
      violations: [{ code: 'ev-max-current', limit: 16, value: 40, unit: 'A' }],
      atMs: 0,
    };
    expect(formatChargerDecision(decision, 60)).toBe(
      'ev-1: applied, narrowed by the safety rules (manual intent cli-1, holds 60 min)\n' +
        '  requested 40 A → written 16 A\n' +
        '  clipped by ev-max-current: limit 16 A, value 40 A\n',
    );
  });

  it('the list: a row per charger, then who was refused', () => {
    const text = formatChargerList(exampleChargerListReply);
    const [header, , first, second] = text.split('\n');
    expect(header).toMatch(/^asset\s+charge point\s+connected\s+state\s+power\s+limit\s+session\s+problem$/);
    expect(first).toMatch(/^ev-1\s+AUTEL-0042\/1\s+yes\s+charging \(Charging\)\s+7\.20 kW\s+10 A\s+#52341877 since 23:00:00Z, 5\.30 kWh$/);
    expect(second).toMatch(/^ev-2\s+garage-2\/1\s+no\s+—\s+—\s+—\s+—\s+not connected$/);
    expect(text).toContain('  CP-STRANGER from 192.168.1.77: unknown identity (3 attempts, last 2025-12-31T23:59:00.000Z)\n');
  });

  it('no chargers at all', () => {
    expect(formatChargerList({ v: 1, atMs: 0, chargers: [], unknown: [] })).toBe('no OCPP chargers configured\n');
  });
});
