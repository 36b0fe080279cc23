import { redactUrlCredentials } from './redact';

describe('redactUrlCredentials', () => {
  it.each([
    ['mqtt://gw-user:S3cret@broker:1883', 'mqtt://***@broker:1883'],
    ['mqtts://user@broker.example', 'mqtts://***@broker.example'],
    ['wss://u:p%40ss@host/mqtt?x=a@b', 'wss://***@host/mqtt?x=a@b'],
    [
      'not connected to mqtt://a:b@h:1 within 5 ms (connack timeout)',
      'not connected to mqtt://***@h:1 within 5 ms (connack timeout)',
    ],
    ['POST https://api:tok@x/gateways/g/telemetry: HTTP 500', 'POST https://***@x/gateways/g/telemetry: HTTP 500'],
    ['mqtt://broker:1883 and http://h/p', 'mqtt://broker:1883 and http://h/p'],
    ['user@example.com', 'user@example.com'],
  ])('%s', (text, expected) => {
    expect(redactUrlCredentials(text)).toBe(expected);
  });
});
