import { mqttTopics } from './topics';

describe('mqttTopics', () => {
  it('builds every topic under the prefix', () => {
    const topics = mqttTopics('acme/prod');
    expect(topics.commands('gw-1')).toBe('acme/prod/gateways/gw-1/commands');
    expect(topics.telemetry('gw-1')).toBe('acme/prod/gateways/gw-1/telemetry');
    expect(topics.replies('cli-7')).toBe('acme/prod/cloud/cli-7/replies');
  });

  it('defaults to voltimax', () => {
    expect(mqttTopics().commands('gw-1')).toBe('voltimax/gateways/gw-1/commands');
  });

  it.each(['a/+/b', '#', 'a//b', ''])('refuses the prefix %j', (prefix) => {
    expect(() => mqttTopics(prefix)).toThrow(RangeError);
  });

  it('refuses a gateway id that is not one topic level', () => {
    expect(() => mqttTopics().commands('gw/1')).toThrow();
    expect(() => mqttTopics().replies('a+b')).toThrow(RangeError);
  });
});
