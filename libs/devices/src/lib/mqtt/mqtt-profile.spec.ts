import { getMqttProfile } from '../http/catalogue';
import { describeJsonIssues } from '../http/json-fields';
import {
  confirmsCommand,
  decodeMqttPayload,
  encodeMqttCommand,
  MAX_MQTT_PAYLOAD_BYTES,
  mqttTopic,
  topicPrefixProblem,
} from './mqtt-messages';
import { MqttProfileSchema, type MqttProfile, type MqttProfileInput } from './mqtt-profile';

const utf8 = (text: string) => new TextEncoder().encode(text);

/** A made-up PV inverter with a JSON limit command: exercises the template payload. */
function templateProfile(overrides: Partial<MqttProfileInput> = {}): MqttProfileInput {
  return {
    id: 'acme.pv',
    vendor: 'Acme',
    model: 'PV',
    source: 'test',
    protocol: 'mqtt',
    kind: 'pv-inverter',
    topics: [
      {
        name: 'state',
        topic: '{prefix}/state',
        fields: [
          { key: 'powerW', path: '$.pv.w' },
          { key: 'powerLimitPct', path: '$.limit_pct' },
        ],
      },
    ],
    writes: [
      {
        setpoint: 'pv-limit',
        topic: '{prefix}/set',
        payload: { kind: 'template', template: '{"limit_w":{{value}}}' },
        range: { min: 0, max: 10_000 },
        safeValue: 10_000,
        readBack: { topic: 'state', key: 'powerW', tolerance: 10_000 },
      },
    ],
    ...overrides,
  };
}

describe('MqttProfileSchema', () => {
  const problem = (input: MqttProfileInput): string => {
    const result = MqttProfileSchema.safeParse(input);
    return result.success ? '' : result.error.issues.map((i) => i.message).join(' | ');
  };
  const base = templateProfile();
  const topic = base.topics[0];
  const write = base.writes?.[0];
  if (topic === undefined || write === undefined) throw new Error('fixture');

  it('accepts the template profile', () => expect(problem(base)).toBe(''));

  it.each([
    ['a wildcard topic', { topics: [{ ...topic, topic: '{prefix}/+/state' }] }, 'must not contain +, # or NUL'],
    ['a topic without {prefix}', { topics: [{ ...topic, topic: 'shared/state' }] }, 'exactly once'],
    ['a $SYS topic', { topics: [{ ...topic, topic: '$SYS/{prefix}' }] }, 'broker space'],
    ['no required topic', { topics: [{ ...topic, required: false }] }, 'at least one topic must be required'],
    ['a duplicate topic name', { topics: [topic, { ...topic, topic: '{prefix}/other' }] }, "duplicate topic 'state'"],
    [
      'a template without {{value}}',
      { writes: [{ ...write, payload: { kind: 'template', template: '{"x":1}' } }] },
      'exactly once',
    ],
    [
      'an unknown read-back topic',
      { writes: [{ ...write, readBack: { topic: 'nope', key: 'powerW' } }] },
      "unknown topic 'nope'",
    ],
    [
      'a read-back key the topic lacks',
      { writes: [{ ...write, readBack: { topic: 'state', key: 'socPct' } }] },
      "'socPct' is not a field",
    ],
    [
      'a command on a reading topic',
      { writes: [{ ...write, topic: '{prefix}/state' }] },
      'must not be a reading topic',
    ],
    ['a safe value out of range', { writes: [{ ...write, safeValue: -1 }] }, 'safeValue must lie in range'],
  ] as const)('refuses %s', (_what, overrides, message) => {
    expect(problem(templateProfile(overrides as unknown as Partial<MqttProfileInput>))).toContain(message);
  });
});

describe('topics', () => {
  it('puts the prefix into the template', () => {
    expect(mqttTopic('{prefix}/status/em:0', 'shellypro3em-0cb815fc1234')).toBe(
      'shellypro3em-0cb815fc1234/status/em:0',
    );
    expect(mqttTopic('tele/{prefix}/SENSOR', 'plug-1')).toBe('tele/plug-1/SENSOR');
  });

  it.each([
    ['', 'empty'],
    ['a/+/b', 'contains +, # or NUL'],
    ['a/#', 'contains +, # or NUL'],
    ['$SYS', 'broker space'],
    ['/lead', 'starts or ends with /'],
    ['trail/', 'starts or ends with /'],
  ])('refuses the prefix %j', (prefix, message) => {
    expect(topicPrefixProblem(prefix)).toContain(message);
  });
  it('accepts a normal prefix', () => expect(topicPrefixProblem('site/shelly-1')).toBeUndefined());
});

describe('decodeMqttPayload', () => {
  const shelly = getMqttProfile('shelly.pro-3em') as MqttProfile;
  const em = shelly.topics[0];
  if (em === undefined) throw new Error('fixture');

  it.each([
    ['not JSON', utf8('{"total_act_power": 7'), /^payload not JSON: /],
    ['an HTML error page', utf8('<html>oops</html>'), /^payload not JSON: /],
    ['empty', utf8(''), /^payload empty body$/],
    ['not UTF-8', new Uint8Array([0xff, 0xfe, 0x00, 0x7b]), /^payload is not UTF-8 text$/],
    ['too big', new Uint8Array(MAX_MQTT_PAYLOAD_BYTES + 1), /exceeds 65536/],
  ])('calls %s garbage', (_what, payload, error) => {
    const outcome = decodeMqttPayload(em, payload);
    expect(outcome.kind).toBe('garbage');
    expect(outcome.kind === 'garbage' ? outcome.error : '').toMatch(error);
  });

  it('decodes valid JSON of the wrong shape as a reading with issues (a JSON array, a string)', () => {
    const outcome = decodeMqttPayload(em, utf8('[1,2]'));
    if (outcome.kind !== 'reading') throw new Error('expected a reading');
    expect(outcome.reading.values).toEqual({});
    expect(describeJsonIssues(outcome.reading.issues)).toMatch(/^malformed: \$\.total_act_power is array/);
    const text = decodeMqttPayload(em, '"ok"');
    // Every field, the optional frequency too: a string where the status object must be is a fault.
    expect(text.kind === 'reading' && text.reading.issues.length).toBe(em.fields.length);
  });

  it('reads text payloads as the document itself', () => {
    const outcome = decodeMqttPayload(
      {
        format: 'text',
        fields: [
          { key: 'relayOn', path: '$', type: 'enum', map: { ON: 1, OFF: 0 }, scale: 1, invert: false, optional: false },
        ],
      },
      utf8(' ON\n'),
    );
    expect(outcome).toEqual({ kind: 'reading', reading: { measurements: {}, values: { relayOn: 1 }, issues: [] } });
    expect(decodeMqttPayload({ format: 'text', fields: [] }, utf8('  '))).toEqual({
      kind: 'garbage',
      error: 'empty payload',
    });
  });
});

describe('encodeMqttCommand', () => {
  const parsed = MqttProfileSchema.parse(templateProfile());

  it('fills a template with the device value (whole watts toward zero) and expects it back', () => {
    const outcome = encodeMqttCommand(parsed, { kind: 'pv-limit', maxPowerW: 2_500.6 }, 'inv-7');
    expect(outcome).toEqual({
      kind: 'commands',
      setpoint: 'pv-limit',
      commands: [
        {
          write: parsed.writes[0],
          topic: 'inv-7/set',
          payload: '{"limit_w":2500}',
          qos: 1,
          retain: false,
          expect: { topicName: 'state', key: 'powerW', value: 2_500, tolerance: 10_000 },
          value: 2_500,
        },
      ],
    });
    expect(encodeMqttCommand(parsed, { kind: 'safe' }, 'inv-7')).toMatchObject({
      kind: 'commands',
      commands: [{ payload: '{"limit_w":10000}' }],
    });
    expect(encodeMqttCommand(parsed, { kind: 'pv-limit', maxPowerW: 20_000 }, 'inv-7')).toMatchObject({
      kind: 'rejected',
      reason: 'out-of-range',
    });
    expect(encodeMqttCommand(parsed, { kind: 'ev-current', currentA: 6 }, 'inv-7')).toMatchObject({
      kind: 'rejected',
      reason: 'unsupported-setpoint',
    });
  });

  it('confirms a command only with the expected value', () => {
    const expectValue = { topicName: 'state', key: 'powerW' as const, value: 1, tolerance: 0 };
    expect(confirmsCommand(expectValue, { measurements: {}, values: { powerW: 1 }, issues: [] })).toBe(true);
    expect(confirmsCommand(expectValue, { measurements: {}, values: { powerW: 0 }, issues: [] })).toBe(false);
    expect(confirmsCommand(expectValue, { measurements: {}, values: {}, issues: [] })).toBe(false);
  });
});
