import {
  ChargerListReplySchema,
  ConnectionSchema,
  ControlIntentSchema,
  formatIssues,
  SetpointSchema,
  subjects,
} from './index';
import { exampleChargerListReply, exampleIntent } from './testing';

function paths(result: { success: boolean; error?: { issues: Parameters<typeof formatIssues>[0] } }): string[] {
  return result.error ? formatIssues(result.error.issues).map((p) => p.path) : [];
}

describe('EV session control on the ev-current setpoint', () => {
  it.each(['start', 'stop'] as const)('accepts session %s', (session) => {
    expect(SetpointSchema.parse({ kind: 'ev-current', currentA: 0, session })).toEqual({
      kind: 'ev-current',
      currentA: 0,
      session,
    });
  });

  it('leaves session out when not given (additive field, v stays 1)', () => {
    expect(SetpointSchema.parse({ kind: 'ev-current', currentA: 10 })).toEqual({ kind: 'ev-current', currentA: 10 });
  });

  it('refuses an unknown session action and names the field', () => {
    const result = ControlIntentSchema.safeParse({
      ...exampleIntent,
      setpoint: { kind: 'ev-current', currentA: 10, session: 'pause' },
    });
    expect(paths(result)).toContain('$.setpoint.session');
  });

  it('only the ev-current kind takes a session', () => {
    const result = ControlIntentSchema.safeParse({
      ...exampleIntent,
      setpoint: { kind: 'battery-power', powerW: 10, session: 'start' },
    });
    expect(result.success).toBe(false);
  });
});

describe('OCPP connection', () => {
  it('takes the name of the password variable, never the password', () => {
    expect(
      ConnectionSchema.parse({ protocol: 'ocpp', chargePointId: 'AUTEL-1', passwordEnv: 'OCPP_PASSWORD_AUTEL_1' }),
    ).toEqual({ protocol: 'ocpp', chargePointId: 'AUTEL-1', connectorId: 1, passwordEnv: 'OCPP_PASSWORD_AUTEL_1' });
    expect(
      paths(ConnectionSchema.safeParse({ protocol: 'ocpp', chargePointId: 'AUTEL-1', passwordEnv: 'hunter2' })),
    ).toEqual(['$.passwordEnv']);
  });
});

describe('gateway.chargers', () => {
  it('is a request answered with the charger list', () => {
    expect(subjects.gatewayChargers.format({})).toBe('gateway.chargers');
    expect(subjects.gatewayChargers.replySchema).toBe(ChargerListReplySchema);
  });

  it.each([
    ['negative power', { powerW: -5 }, '$.chargers[0].powerW'],
    ['fractional transaction id', { session: { transactionId: 1.5, adopted: false } }, '$.chargers[0].session.transactionId'],
    ['asset id with a dot', { assetId: 'ev.1' }, '$.chargers[0].assetId'],
    ['unknown state', { state: 'Charging' }, '$.chargers[0].state'],
  ])('refuses %s', (_name, patch, path) => {
    const [first, ...rest] = exampleChargerListReply.chargers;
    const result = ChargerListReplySchema.safeParse({
      ...exampleChargerListReply,
      chargers: [{ ...first, ...patch }, ...rest],
    });
    expect(paths(result)).toContain(path);
  });
});
