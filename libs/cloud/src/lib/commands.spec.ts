import { CloudReplyEnvelopeSchema } from '@voltimax/contracts';
import { cloudExamples } from '@voltimax/contracts/testing';
import {
  buildReply,
  CommandRejectionSchema,
  decodeCommand,
  parseJsonBody,
  RecentCommands,
  rejectionReply,
  runHandler,
} from './commands';

const GW = 'gw-1';
const envelope = {
  messageType: 'PingGateway',
  correlationId: 'c-1',
  gatewayId: GW,
  sentAtMs: 1_000,
  payload: { sentAtMs: 1_000 },
} as const;

describe('decodeCommand', () => {
  it.each([
    { name: 'a JSON array', input: [], reason: /not a command envelope/ },
    { name: 'null', input: null, reason: /not a command envelope/ },
    { name: 'no messageType', input: { correlationId: 'c-1' }, reason: /missing messageType/ },
    {
      name: 'an unknown messageType',
      input: { ...envelope, messageType: 'SelfDestruct' },
      reason: /unknown messageType 'SelfDestruct'/,
    },
    {
      name: 'a missing correlation id',
      input: { ...envelope, correlationId: undefined },
      reason: /invalid command envelope: correlationId/,
    },
    { name: 'an extra key', input: { ...envelope, extra: 1 }, reason: /invalid command envelope/ },
    {
      name: 'another gateway',
      input: { ...envelope, gatewayId: 'gw-2' },
      reason: /for gateway 'gw-2', this is 'gw-1'/,
    },
    {
      name: 'an invalid payload',
      input: { ...envelope, payload: { sentAtMs: 'now' } },
      reason: /invalid PingGateway payload: sentAtMs/,
    },
  ])('refuses $name with a reason', ({ input, reason }) => {
    const decoded = decodeCommand(input, GW);
    expect(decoded.ok).toBe(false);
    expect(decoded.ok ? '' : decoded.reason).toMatch(reason);
  });

  it('keeps the correlation id and type it could read, for the error reply', () => {
    expect(decodeCommand({ ...envelope, gatewayId: 'gw-2' }, GW)).toMatchObject({
      correlationId: 'c-1',
      messageType: 'PingGateway',
    });
  });

  it('accepts a valid command and applies the request schema defaults', () => {
    const decoded = decodeCommand({ ...envelope, messageType: 'RefreshConfiguration', payload: {} }, GW);
    expect(decoded).toEqual({
      ok: true,
      envelope: { ...envelope, messageType: 'RefreshConfiguration', payload: { reason: 'cloud request' } },
    });
  });
});

describe('parseJsonBody', () => {
  it('parses UTF-8 JSON and refuses anything else with a reason', () => {
    expect(parseJsonBody(Buffer.from('{"a":"é"}'))).toEqual({ ok: true, value: { a: 'é' } });
    expect(parseJsonBody('nope')).toMatchObject({ ok: false, reason: expect.stringMatching(/^body is not JSON/) });
  });
});

describe('buildReply', () => {
  it('builds a valid reply envelope from a successful result', () => {
    const reply = buildReply(envelope, { ok: true, payload: cloudExamples.PingGateway.response }, 2_000);
    expect(CloudReplyEnvelopeSchema.parse(reply)).toEqual({
      ...envelope,
      sentAtMs: 2_000,
      ok: true,
      payload: cloudExamples.PingGateway.response,
    });
  });

  it('turns a payload that breaks the response schema into an error reply', () => {
    const reply = buildReply(envelope, { ok: true, payload: { version: 1 } }, 2_000);
    expect(reply).toMatchObject({ ok: false, error: expect.stringMatching(/invalid PingGateway reply/) });
    expect(reply.payload).toBeUndefined();
  });

  it('keeps a valid payload on an error reply and drops an invalid one', () => {
    const rejected = { accepted: false, outcome: 'rejected', violations: ['soc-min'] };
    const setpoint = {
      ...envelope,
      messageType: 'SetBatterySetpoint' as const,
      payload: cloudExamples.SetBatterySetpoint.request,
    };
    expect(buildReply(setpoint, { ok: false, error: 'refused', payload: rejected }, 1)).toMatchObject({
      ok: false,
      error: 'refused',
      payload: rejected,
    });
    expect(buildReply(setpoint, { ok: false, error: 'refused', payload: { nonsense: true } }, 1)).not.toHaveProperty(
      'payload',
    );
  });

  it('caps the error text at the envelope limit', () => {
    const reply = buildReply(envelope, { ok: false, error: 'x'.repeat(5000) }, 1);
    expect(CloudReplyEnvelopeSchema.safeParse(reply).success).toBe(true);
  });
});

describe('rejectionReply', () => {
  it('is a reply envelope when the type and correlation id are known', () => {
    const reply = rejectionReply(GW, { reason: 'bad', correlationId: 'c-9', messageType: 'PingGateway' }, 5);
    expect(CloudReplyEnvelopeSchema.parse(reply)).toMatchObject({ ok: false, error: 'bad', correlationId: 'c-9' });
  });

  it('is a CommandRejection otherwise', () => {
    const reply = rejectionReply(GW, { reason: 'not JSON', messageType: 'SelfDestruct' }, 5);
    expect(CommandRejectionSchema.parse(reply)).toEqual({ ok: false, gatewayId: GW, sentAtMs: 5, error: 'not JSON' });
  });
});

describe('runHandler', () => {
  it('turns a throw into an error result', async () => {
    const result = await runHandler(() => Promise.reject(new Error('boom')), envelope, 1);
    expect(result).toEqual({ ok: false, error: 'handler failed: boom' });
  });
});

describe('RecentCommands', () => {
  it('remembers up to its capacity, forgetting the oldest first', () => {
    const recent = new RecentCommands(2);
    const reply = Promise.resolve(buildReply(envelope, { ok: false, error: 'x' }, 1));
    recent.remember('a', reply);
    recent.remember('b', reply);
    recent.remember('c', reply);
    expect([recent.get('a'), recent.get('b'), recent.get('c')].map((r) => r !== undefined)).toEqual([
      false,
      true,
      true,
    ]);
  });
});
