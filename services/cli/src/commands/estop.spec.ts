import type { ArbiterDecision } from '@voltimax/contracts';
import { runCli } from '../program';
import type { ArbiterCliDeps } from './arbiter-nats';
import { confirms, estop } from './estop';

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

const decision = (
  violations: ArbiterDecision['violations'],
  outcome: ArbiterDecision['outcome'] = 'safe',
): ArbiterDecision => ({
  v: 1,
  assetId: 'bat-1',
  outcome,
  applied: { kind: 'safe' },
  violations,
  atMs: 0,
});

describe('voltimax estop', () => {
  it('needs a reason', async () => {
    const c = capture();
    expect(await runCli(['estop', 'engage'], c.io)).toBe(2);
    expect(c.err.join('')).toMatch(/required option '--reason <text>' not specified/);
  });

  it('exits 2 with the server and user when NATS cannot be reached (the password is never printed)', async () => {
    const c = capture();
    await expect(estop(c.io, 'engage', { reason: 'test' }, unreachable)).rejects.toMatchObject({ exitCode: 2 });
    expect(c.err.join('')).toBe(
      'voltimax estop: cannot connect to NATS at nats://127.0.0.1:1 as cli: CONNECTION_REFUSED\n',
    );
  });

  it('refuses a bad --wait-ms before connecting', async () => {
    const c = capture();
    await expect(estop(c.io, 'release', { reason: 'x', waitMs: 'soon' }, unreachable)).rejects.toMatchObject({
      exitCode: 2,
    });
    expect(c.err.join('')).toMatch(/--wait-ms must be an integer/);
  });

  it.each([
    ['engage', decision([{ code: 'emergency-stop' }]), true],
    ['engage', decision([{ code: 'driver-lost' }]), false],
    ['engage', decision([{ code: 'emergency-stop' }], 'applied'), false],
    ['release', decision([]), true],
    ['release', decision([{ code: 'emergency-stop' }]), false],
  ] as const)('%s is confirmed by %j: %s', (action, d, expected) => {
    expect(confirms(action, d)).toBe(expected);
  });
});
