/**
 * Who may steer the arbiter, on a real nats-server from docker/nats/nats.conf. An intent's subject names its source
 * (`control.intent.<source>.<assetId>`) and the server grants each source only to its publishers: `manual` to
 * the operators' tools cloud-bridge, cli and dashboard, `optimization`/`scheduled`/`safety` to strategy-engine, nothing
 * to anyone else (the arbiter's own user included). The arbiter rejects a payload whose `source` differs from its
 * subject (`source-mismatch`), so no publisher can claim a priority it was not granted. The e-stop comes only from
 * cloud-bridge, cli and dashboard.
 */
import { RequestError, type NatsConnection } from '@nats-io/transport-node';
import { ArbiterDecisionSchema, type ControlIntent, type IntentSource } from '@voltimax/contracts';
import { NATS_USERS, waitFor, type NatsUser } from '@voltimax/testing';
import { bytes, startStack, type NatsStack } from './testing/nats-stack';

/** The publishers nats.conf grants each source to. */
const GRANTED: Readonly<Record<IntentSource, readonly NatsUser[]>> = {
  safety: ['strategy-engine'],
  manual: ['cloud-bridge', 'cli', 'dashboard'],
  scheduled: ['strategy-engine'],
  optimization: ['strategy-engine'],
};
const SOURCES = Object.keys(GRANTED) as IntentSource[];
/**
 * Accepted intents of the engine's sources go to pv-1, so only manual intents are ever held for bat-1 (a live
 * `safety` intent there would outrank the cli's probes in the e-stop test below).
 */
const ASSET: Readonly<Record<IntentSource, string>> = {
  safety: 'pv-1',
  manual: 'bat-1',
  scheduled: 'pv-1',
  optimization: 'pv-1',
};
const MAY = SOURCES.flatMap((source) => GRANTED[source].map((user) => [source, user] as const));
const MAY_NOT = SOURCES.flatMap((source) =>
  NATS_USERS.filter((user) => !GRANTED[source].includes(user)).map((user) => [source, user] as const),
);

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

function intentOf(source: IntentSource, assetId = ASSET[source]): ControlIntent {
  seq += 1;
  return {
    v: 1,
    id: `sec-${seq}`,
    source,
    assetId,
    setpoint: { kind: 'safe' },
    issuedAtMs: Date.now(),
    ttlMs: 60_000,
    reason: 'security test',
  };
}

const manualIntent = (): ControlIntent => intentOf('manual');

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

/** The arbiter's counters from a heartbeat sent after this call. */
const counters = async (): Promise<Readonly<Record<string, number>>> => {
  const after = Date.now();
  const beat = await waitFor(() => stack.arbiterHeartbeats.find((h) => h.atMs > after + 500), {
    message: 'a fresh arbiter heartbeat',
  });
  return beat.counters ?? {};
};

describe('who may send intents of which source', () => {
  it('every user is refused every source it was not granted, and only manual is granted to the operators', () => {
    expect(MAY_NOT).toHaveLength(4 * NATS_USERS.length - MAY.length);
    expect(MAY_NOT).toContainEqual(['manual', 'strategy-engine']);
    expect(MAY_NOT).toContainEqual(['safety', 'cli']);
    expect(MAY_NOT).toContainEqual(['safety', 'cloud-bridge']);
    expect(MAY_NOT.filter(([, user]) => user === 'safety-arbiter')).toHaveLength(4);
  });

  it.each(MAY)('%s from %s: the arbiter answers with a decision on that source', async (source, user) => {
    const intent = intentOf(source);
    const answer = await requestAs(user, `control.intent.${source}.${intent.assetId}`, intent);
    expect(answer.ok).toBe(true);
    if (answer.ok) expect(answer.decision).toMatchObject({ source, assetId: intent.assetId, intentId: intent.id });
  });

  let receivedBefore = Number.NaN;
  it.each(MAY_NOT)('%s from %s: the server refuses the intent before the arbiter sees it', async (source, user) => {
    if (Number.isNaN(receivedBefore)) receivedBefore = (await counters())['intentsReceived'] ?? Number.NaN;
    const answer = await requestAs(user, `control.intent.${source}.bat-1`, intentOf(source, 'bat-1'));
    expect(answer.ok).toBe(false);
    if (!answer.ok) {
      expect(answer.err).toBeInstanceOf(RequestError);
      expect(String((answer.err as Error).message) + String((answer.err as Error).cause)).toMatch(
        /Permissions Violation/i,
      );
      // Refused, not timed out (2 s); the cause above already says so, the bound leaves room for a stalled round trip.
      expect(answer.ms).toBeLessThan(1_500);
    }
  });

  it('…and none of those reached the arbiter (its intentsReceived counter did not move)', async () => {
    expect((await counters())['intentsReceived']).toBe(receivedBefore);
  });

  it.each<[NatsUser, string]>([
    ['cli', 'control.intent.bat-1'],
    ['cli', 'control.intent.admin.bat-1'],
    ['cli', 'control.intent.MANUAL.bat-1'],
    ['cli', 'control.intent.manual.bat.1'],
    ['strategy-engine', 'control.intent.optimization'],
    ['strategy-engine', 'control.intent.optimization.bat-1.x'],
  ])('%s may not publish %s (no source, an unknown one, or the wrong number of tokens)', async (user, subject) => {
    const answer = await requestAs(user, subject, manualIntent());
    expect(answer.ok).toBe(false);
    expect(String(!answer.ok && (answer.err as Error).cause)).toMatch(/Permissions Violation/i);
  });
});

describe('the source is the subject’s, not the payload’s', () => {
  it('strategy-engine cannot claim manual by subject: control.intent.manual.bat-1 is refused by the server', async () => {
    const answer = await requestAs('strategy-engine', 'control.intent.manual.bat-1', manualIntent());
    expect(answer.ok).toBe(false);
    expect(String(!answer.ok && (answer.err as Error).cause)).toMatch(/Permissions Violation/i);
  });

  it('strategy-engine cannot claim manual by payload: on its optimization subject it is rejected with source-mismatch', async () => {
    const before = await counters();
    const forged = { ...intentOf('manual', 'bat-1'), setpoint: { kind: 'battery-power', powerW: 3_000 } };
    const answer = await requestAs('strategy-engine', 'control.intent.optimization.bat-1', forged);
    expect(answer.ok).toBe(true);
    if (answer.ok) {
      expect(answer.decision).toMatchObject({
        assetId: 'bat-1',
        intentId: forged.id,
        outcome: 'rejected',
        violations: [{ code: 'source-mismatch' }],
      });
      expect(answer.decision.reason).toMatch(/^source-mismatch: intent claims source manual .* source optimization$/);
    }
    await waitFor(() => stack.decisions.find((d) => d.intentId === forged.id && d.outcome === 'rejected'), {
      message: 'the rejection in the audit',
    });
    const after = await counters();
    expect(after['intentsSourceMismatch']).toBe((before['intentsSourceMismatch'] ?? 0) + 1);
    expect(after['intentsRejected']).toBe((before['intentsRejected'] ?? 0) + 1);
    expect(stack.spy.some((s) => s.write?.intentId === forged.id)).toBe(false);
  });

  it('strategy-engine cannot pass a safety payload off on its scheduled subject either', async () => {
    const forged = intentOf('safety', 'bat-1');
    const answer = await requestAs('strategy-engine', 'control.intent.scheduled.bat-1', forged);
    expect(answer.ok && answer.decision.violations[0]?.code).toBe('source-mismatch');
  });

  it('the cli cannot claim safety in the payload of a manual intent', async () => {
    const forged = intentOf('safety', 'bat-1');
    const answer = await requestAs('cli', 'control.intent.manual.bat-1', forged);
    expect(answer.ok && answer.decision.violations[0]?.code).toBe('source-mismatch');
  });

  it('the cli’s manual intent on control.intent.manual.bat-1 is accepted', async () => {
    const intent = { ...manualIntent(), setpoint: { kind: 'battery-power', powerW: 0 } };
    const answer = await requestAs('cli', 'control.intent.manual.bat-1', intent);
    expect(answer.ok).toBe(true);
    if (answer.ok) {
      expect(answer.decision).toMatchObject({ source: 'manual', assetId: 'bat-1', intentId: intent.id });
      expect(answer.decision.outcome).not.toBe('rejected');
      expect(answer.decision.outcome).not.toBe('superseded');
    }
  });
});

describe('who may stop the site', () => {
  it('strategy-engine cannot engage the emergency stop; cli can', async () => {
    const engage = { v: 1, action: 'engage', by: 'someone', reason: 'test', atMs: Date.now() };
    connections.get('strategy-engine')?.publish('safety.estop', bytes(engage));
    await connections.get('strategy-engine')?.flush();
    const probe = await requestAs('cli', 'control.intent.manual.bat-1', manualIntent());
    expect(probe.ok && probe.decision.outcome).not.toBe('superseded');
    expect(probe.ok && probe.decision.violations.some((v) => v.code === 'emergency-stop')).toBe(false);

    connections.get('cli')?.publish('safety.estop', bytes({ ...engage, by: 'operator:cli', atMs: Date.now() }));
    await connections.get('cli')?.flush();
    await waitFor(
      async () => {
        const answer = await requestAs('cli', 'control.intent.manual.bat-1', manualIntent());
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
