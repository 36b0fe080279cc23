/**
 * Who may steer the arbiter, on a real nats-server from docker/nats/nats.conf: intents (and so `manual` intents)
 * only from users allowed to publish `control.intent.*`; not from the arbiter's own user; the e-stop only from
 * cloud-bridge and cli. The `source` field is self-declared: see README § Security model.
 */
import { RequestError, type NatsConnection } from '@nats-io/transport-node';
import { ArbiterDecisionSchema, type ControlIntent } from '@voltimax/contracts';
import { NATS_USERS, waitFor, type NatsUser } from '@voltimax/testing';
import { bytes, startStack, type NatsStack } from './testing/nats-stack';

const MAY_SEND_INTENTS: readonly NatsUser[] = ['strategy-engine', 'cloud-bridge', 'cli'];
const MAY_NOT: readonly NatsUser[] = NATS_USERS.filter((u) => !MAY_SEND_INTENTS.includes(u));

let stack: NatsStack;
const connections = new Map<NatsUser, NatsConnection>();
let seq = 0;

beforeAll(async () => {
  stack = await startStack();
  for (const user of NATS_USERS) connections.set(user, await stack.connectAs(user));
  await waitFor(() => stack.arbiterHeartbeats.length > 0);
});

afterAll(async () => {
  await stack?.stop();
});

function manualIntent(): ControlIntent {
  seq += 1;
  return {
    v: 1,
    id: `sec-${seq}`,
    source: 'manual',
    assetId: 'bat-1',
    setpoint: { kind: 'safe' },
    issuedAtMs: Date.now(),
    ttlMs: 60_000,
    reason: 'security test',
  };
}

async function requestAs(user: NatsUser, subject: string, body: unknown) {
  const nc = connections.get(user);
  if (nc === undefined) throw new Error(`not connected as ${user}`);
  const started = Date.now();
  try {
    const msg = await nc.request(subject, bytes(body), { timeout: 2_000 });
    return { ok: true as const, decision: ArbiterDecisionSchema.parse(msg.json()), ms: Date.now() - started };
  } catch (err) {
    return { ok: false as const, err, ms: Date.now() - started };
  }
}

const received = async (): Promise<number> => {
  const after = Date.now();
  const beat = await waitFor(() => stack.arbiterHeartbeats.find((h) => h.atMs > after + 500), {
    message: 'a fresh arbiter heartbeat',
  });
  return beat.counters?.['intentsReceived'] ?? Number.NaN;
};

describe('who may send intents', () => {
  it.each(MAY_SEND_INTENTS)('%s may: the arbiter answers its manual intent with a decision', async (user) => {
    const answer = await requestAs(user, 'control.intent.bat-1', manualIntent());
    expect(answer.ok).toBe(true);
    if (answer.ok) expect(answer.decision).toMatchObject({ source: 'manual', assetId: 'bat-1' });
  });

  let receivedBefore = Number.NaN;
  it.each(MAY_NOT)('%s may not: the server refuses the intent before the arbiter sees it', async (user) => {
    if (Number.isNaN(receivedBefore)) receivedBefore = await received();
    const answer = await requestAs(user, 'control.intent.bat-1', manualIntent());
    expect(answer.ok).toBe(false);
    if (!answer.ok) {
      expect(answer.err).toBeInstanceOf(RequestError);
      expect(String((answer.err as Error).message) + String((answer.err as Error).cause)).toMatch(
        /Permissions Violation/i,
      );
      expect(answer.ms).toBeLessThan(500);
    }
  });

  it('…and none of those reached the arbiter (its intentsReceived counter did not move)', async () => {
    expect(await received()).toBe(receivedBefore);
  });

  it('the arbiter’s own user is among them: it cannot publish intents (not even to itself)', () => {
    expect(MAY_NOT).toContain('safety-arbiter');
  });
});

describe('the source field is self-declared', () => {
  it('strategy-engine can claim source manual today (documented gap; the fix is per-source subjects)', async () => {
    const answer = await requestAs('strategy-engine', 'control.intent.bat-1', {
      ...manualIntent(),
      source: 'manual',
      reason: 'not really manual',
    });
    expect(answer.ok && answer.decision.source).toBe('manual');
  });
});

describe('who may stop the site', () => {
  it('strategy-engine cannot engage the emergency stop; cli can', async () => {
    const engage = { v: 1, action: 'engage', by: 'someone', reason: 'test', atMs: Date.now() };
    connections.get('strategy-engine')?.publish('safety.estop', bytes(engage));
    await connections.get('strategy-engine')?.flush();
    const probe = await requestAs('cli', 'control.intent.bat-1', manualIntent());
    expect(probe.ok && probe.decision.violations.some((v) => v.code === 'emergency-stop')).toBe(false);

    connections.get('cli')?.publish('safety.estop', bytes({ ...engage, by: 'operator:cli', atMs: Date.now() }));
    await connections.get('cli')?.flush();
    await waitFor(
      async () => {
        const answer = await requestAs('cli', 'control.intent.bat-1', manualIntent());
        return answer.ok && answer.decision.violations[0]?.code === 'emergency-stop';
      },
      { message: 'the e-stop to be engaged' },
    );
    connections
      .get('cli')
      ?.publish('safety.estop', bytes({ ...engage, action: 'release', by: 'operator:cli', atMs: Date.now() }));
    await connections.get('cli')?.flush();
  });
});
