import type { ReceivedCommand } from '@voltimax/cloud';
import { createMemoryNetwork } from '@voltimax/bus/testing';
import {
  subjects,
  type ArbiterDecision,
  type CloudCommandEnvelope,
  type CloudMessageType,
  type ControlIntent,
} from '@voltimax/contracts';
import { addIntent, EMPTY_INTENT_TABLE } from '@voltimax/safety';
import { HealthState, healthControl } from '@voltimax/service-kit';
import { pino } from 'pino';
import { bridgeHealth } from './bridge-health';
import { createCommandHandler, describeViolation, setpointResponse } from './commands';
import { configHash } from './config-hash';
import { createServiceHealthTracker } from './service-health';
import { parsedSite } from './testing/site';

const NOW = 1_767_225_600_000;
const site = parsedSite();

function command(messageType: CloudMessageType, payload: unknown, sentAtMs = NOW - 40): ReceivedCommand {
  const envelope: CloudCommandEnvelope = {
    messageType,
    correlationId: 'corr-1',
    gatewayId: 'gw-test',
    sentAtMs,
    payload,
  };
  return { envelope, receivedAtMs: NOW - 10 };
}

function setup(
  opts: {
    arbiter?: (intent: ControlIntent) => ArbiterDecision | Promise<ArbiterDecision>;
    refresh?: () => Promise<{ changed: boolean; hash: string; error?: string }>;
    newId?: () => string;
  } = {},
) {
  const network = createMemoryNetwork();
  const bus = network.connect();
  const arbiterBus = network.connect();
  const intents: ControlIntent[] = [];
  if (opts.arbiter) {
    const decide = opts.arbiter;
    arbiterBus.reply(subjects.intent, (intent) => {
      intents.push(intent);
      return decide(intent);
    });
  }
  const health = bridgeHealth(healthControl(new HealthState(), () => undefined));
  const services = createServiceHealthTracker(() => NOW);
  services.update({
    v: 1,
    service: 'safety-arbiter',
    instanceId: 'a-1',
    status: 'ok',
    atMs: NOW,
    startedAtMs: NOW - 1000,
    version: '0.1.0',
    intervalMs: 1000,
  });
  const logged: { level: number; msg: string }[] = [];
  const log = pino(
    { level: 'debug' },
    { write: (line: string) => void logged.push(JSON.parse(line) as { level: number; msg: string }) },
  );
  const handler = createCommandHandler({
    bus,
    log,
    health,
    config: {
      current: () => ({ site, hash: configHash(site) }),
      refresh: opts.refresh ?? (() => Promise.resolve({ changed: false, hash: configHash(site) })),
    },
    services,
    gatewayId: 'gw-test',
    version: '0.1.0',
    startedAtMs: NOW - 60_000,
    now: () => NOW,
    intentTimeoutMs: 100,
    newId: opts.newId ?? (() => 'cloud-intent-1'),
  });
  return { handler, intents, health, logged };
}

const decision = (patch: Partial<ArbiterDecision>): ArbiterDecision => ({
  v: 1,
  assetId: 'bat-1',
  intentId: 'cloud-intent-1',
  source: 'manual',
  outcome: 'applied',
  requested: { kind: 'battery-power', powerW: 3000 },
  applied: { kind: 'battery-power', powerW: 3000 },
  violations: [],
  atMs: NOW,
  ...patch,
});

const SETPOINT = {
  assetId: 'bat-1',
  powerW: 3000,
  durationMs: 900_000,
  reason: 'grid operator request',
  operator: 'ops:bob',
};

describe('PingGateway', () => {
  it('answers version, uptime, the services’ health and the request’s timestamps', async () => {
    const { handler } = setup();
    const result = await handler(command('PingGateway', { sentAtMs: NOW - 40 }));
    expect(result).toEqual({
      ok: true,
      payload: {
        gatewayId: 'gw-test',
        version: '0.1.0',
        uptimeMs: 60_000,
        receivedAtMs: NOW - 10,
        requestSentAtMs: NOW - 40,
        services: [{ service: 'safety-arbiter', status: 'ok', lastSeenAtMs: NOW, instances: 1 }],
      },
    });
  });
});

describe('SetBatterySetpoint', () => {
  it('sends a manual intent (issued at sentAtMs, ttl = duration) as a request and replies with the arbiter’s outcome', async () => {
    const { handler, intents } = setup({ arbiter: () => decision({}) });
    const result = await handler(command('SetBatterySetpoint', SETPOINT));

    expect(intents).toEqual([
      {
        v: 1,
        id: 'cloud-intent-1',
        source: 'manual',
        assetId: 'bat-1',
        setpoint: { kind: 'battery-power', powerW: 3000 },
        issuedAtMs: NOW - 40,
        ttlMs: 900_000,
        reason: 'grid operator request',
        issuedBy: 'cloud:ops:bob',
      },
    ]);
    expect(result).toEqual({
      ok: true,
      payload: { accepted: true, outcome: 'applied', appliedPowerW: 3000, violations: [] },
    });
  });

  it('a command delivered late ends when the cloud meant it to: issued at its sentAtMs, not at its arrival', async () => {
    const { handler, intents } = setup({ arbiter: () => decision({}) });
    await handler(command('SetBatterySetpoint', SETPOINT, NOW - 600_000));
    expect(intents).toMatchObject([{ issuedAtMs: NOW - 600_000, ttlMs: 900_000 }]);
  });

  it('a send time slightly ahead of the gateway clock (within the allowance) counts from now', async () => {
    const { handler, intents } = setup({ arbiter: () => decision({}) });
    const result = await handler(command('SetBatterySetpoint', SETPOINT, NOW + 1_500));
    expect(result.ok).toBe(true);
    expect(intents).toMatchObject([{ issuedAtMs: NOW, ttlMs: 900_000 }]);
  });

  it.each([
    [
      'whose whole duration lies in the past (sent 1 h ago for 15 min)',
      NOW - 3_600_000,
      'command sent at 2025-12-31T23:00:00.000Z for 900000 ms arrived 2700000 ms after its end: not applied',
      'setpointsExpired',
    ],
    [
      'that ended the instant it arrives',
      NOW - 900_000,
      'command sent at 2025-12-31T23:45:00.000Z for 900000 ms arrived 0 ms after its end: not applied',
      'setpointsExpired',
    ],
    [
      'dated one year in the future',
      NOW + 365 * 86_400_000,
      'command sent 31536000000 ms in the future of the gateway clock (allowance 2000 ms): check the clocks',
      'setpointsFutureDated',
    ],
    [
      'dated beyond the arbiter’s clock-skew allowance (2 s)',
      NOW + 2_001,
      'command sent 2001 ms in the future of the gateway clock (allowance 2000 ms): check the clocks',
      'setpointsFutureDated',
    ],
  ])('refuses a command %s: error reply, no intent, counted', async (_name, sentAtMs, error, counter) => {
    const { handler, intents, health } = setup({ arbiter: () => decision({}) });
    const result = await handler(command('SetBatterySetpoint', SETPOINT, sentAtMs));
    expect(result).toEqual({
      ok: false,
      error,
      payload: { accepted: false, outcome: 'rejected', violations: [], error },
    });
    expect(intents).toEqual([]);
    expect(health.counters()).toMatchObject({ setpoint_rejected: 1, [counter]: 1 });
  });

  it('an older command delivered after a newer one does not override it at the arbiter', async () => {
    let table = EMPTY_INTENT_TABLE;
    let n = 0;
    const { handler } = setup({
      arbiter: (intent) => {
        const update = addIntent(table, intent, NOW);
        table = update.table;
        return decision({ intentId: intent.id, outcome: update.accepted ? 'applied' : 'superseded' });
      },
      newId: () => `cloud-intent-${++n}`,
    });
    await handler(command('SetBatterySetpoint', { ...SETPOINT, powerW: 1000 }, NOW - 1_000));
    const older = await handler(command('SetBatterySetpoint', { ...SETPOINT, powerW: 5000 }, NOW - 60_000));

    expect(older).toMatchObject({ ok: true, payload: { accepted: false, outcome: 'superseded' } });
    expect(table.intents.map((i) => i.setpoint)).toEqual([{ kind: 'battery-power', powerW: 1000 }]);
  });

  it('clamped: the applied power and each violation with its limit', async () => {
    const { handler } = setup({
      arbiter: () =>
        decision({
          outcome: 'clamped',
          applied: { kind: 'battery-power', powerW: 5000 },
          violations: [{ code: 'max-discharge-power', limit: 5000, value: 8000, unit: 'W' }],
        }),
    });
    const result = await handler(command('SetBatterySetpoint', { ...SETPOINT, powerW: 8000 }));
    expect(result).toEqual({
      ok: true,
      payload: {
        accepted: true,
        outcome: 'clamped',
        appliedPowerW: 5000,
        violations: ['max-discharge-power: limit 5000 W, requested 8000 W'],
      },
    });
  });

  it('rejected: not accepted, with the reason', async () => {
    const { handler } = setup({
      arbiter: () =>
        decision({
          outcome: 'rejected',
          applied: undefined,
          violations: [{ code: 'stale-telemetry', detail: 'no reading for 20 s' }],
          reason: 'telemetry of bat-1 is stale',
        }),
    });
    const result = await handler(command('SetBatterySetpoint', SETPOINT));
    expect(result).toEqual({
      ok: true,
      payload: {
        accepted: false,
        outcome: 'rejected',
        violations: ['stale-telemetry (no reading for 20 s)'],
        error: 'telemetry of bat-1 is stale',
      },
    });
  });

  it('no arbiter: outcome timeout, as an error reply', async () => {
    const { handler } = setup();
    const result = await handler(command('SetBatterySetpoint', SETPOINT));
    expect(result).toMatchObject({
      ok: false,
      error: 'no safety-arbiter answers manual intents (is it running?)',
      payload: { accepted: false, outcome: 'timeout' },
    });
  });

  it('an arbiter that does not answer in time: outcome timeout', async () => {
    const { handler } = setup({ arbiter: () => new Promise<ArbiterDecision>(() => undefined) });
    const result = await handler(command('SetBatterySetpoint', SETPOINT));
    expect(result).toMatchObject({
      ok: false,
      error: 'no decision from the safety-arbiter within 100 ms',
      payload: { outcome: 'timeout' },
    });
  });

  it('an asset that is not a battery of the site: invalid, logged and counted, and no intent is sent', async () => {
    const { handler, intents, health, logged } = setup({ arbiter: () => decision({}) });
    const result = await handler(command('SetBatterySetpoint', { ...SETPOINT, assetId: 'grid-1' }));
    expect(result).toMatchObject({
      ok: false,
      error: "'grid-1' is not an enabled battery of this site",
      payload: { outcome: 'invalid' },
    });
    expect(intents).toEqual([]);
    expect(health.counters()['setpoint_invalid']).toBe(1);
    expect(logged).toContainEqual(
      expect.objectContaining({ level: 40, msg: 'manual setpoint refused: not a battery', assetId: 'grid-1' }),
    );
  });

  it('an intent the arbiter refuses to take (an error reply): invalid, logged and counted', async () => {
    const { handler, health, logged } = setup({
      arbiter: () => {
        throw new Error('arbiter broke');
      },
    });
    const result = await handler(command('SetBatterySetpoint', SETPOINT));
    expect(result).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^the safety-arbiter refused the intent: /),
      payload: { accepted: false, outcome: 'invalid' },
    });
    expect(health.counters()['setpoint_invalid']).toBe(1);
    expect(logged).toContainEqual(expect.objectContaining({ level: 40, msg: 'manual setpoint refused' }));
  });

  it.each([
    ['a zero duration', { ...SETPOINT, durationMs: 0 }, /durationMs/],
    ['NaN power', { ...SETPOINT, powerW: Number.NaN }, /powerW/],
    ['a missing operator', { ...SETPOINT, operator: undefined }, /operator/],
    ['an unknown field', { ...SETPOINT, force: true }, /force|Unrecognized/],
  ])('refuses %s with an error reply naming the field', async (_name, payload, pattern) => {
    const { handler, intents, health } = setup({ arbiter: () => decision({}) });
    const result = await handler(command('SetBatterySetpoint', payload));
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toMatch(pattern);
    expect(intents).toEqual([]);
    expect(health.counters()['commandsInvalid']).toBe(1);
  });
});

describe('RefreshConfiguration', () => {
  it('replies with the new hash', async () => {
    const { handler } = setup({ refresh: () => Promise.resolve({ changed: true, hash: 'b'.repeat(64) }) });
    expect(await handler(command('RefreshConfiguration', { reason: 'portal edit' }))).toEqual({
      ok: true,
      payload: { changed: true, hash: 'b'.repeat(64) },
    });
  });

  it('replies with the validation errors as an error reply', async () => {
    const error = "configuration rejected: $.assets[0].profile: unknown profile 'acme.x'";
    const { handler } = setup({ refresh: () => Promise.resolve({ changed: false, hash: 'a'.repeat(64), error }) });
    expect(await handler(command('RefreshConfiguration', {}))).toEqual({
      ok: false,
      error,
      payload: { changed: false, hash: 'a'.repeat(64), error },
    });
  });
});

describe('formatting', () => {
  it('describes a violation with what is known', () => {
    expect(describeViolation({ code: 'soc-window' })).toBe('soc-window');
    expect(describeViolation({ code: 'grid-import-limit', limit: 17000, unit: 'W' })).toBe(
      'grid-import-limit: limit 17000 W',
    );
  });

  it('a safe decision (e-stop) is not accepted and applies 0 W', () => {
    expect(
      setpointResponse(
        decision({ outcome: 'safe', applied: { kind: 'safe' }, violations: [{ code: 'emergency-stop' }] }),
      ),
    ).toEqual({
      accepted: false,
      outcome: 'safe',
      appliedPowerW: 0,
      violations: ['emergency-stop'],
      error: 'emergency-stop',
    });
  });
});
