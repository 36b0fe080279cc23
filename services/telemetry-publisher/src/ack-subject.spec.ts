import { parseAckSubject } from './ack-subject';

describe('parseAckSubject', () => {
  it('reads a v1 ack subject (nats-server 2.9), the store time exactly from its nanoseconds', () => {
    expect(parseAckSubject('$JS.ACK.TELEMETRY.telemetry-publisher.2.1234.17.1795683215887999999.42')).toEqual({
      stream: 'TELEMETRY',
      consumer: 'telemetry-publisher',
      deliveryCount: 2,
      streamSeq: 1234,
      consumerSeq: 17,
      storedAtMs: 1795683215887,
      pending: 42,
    });
  });

  it('reads a v2 ack subject with domain, account hash and a trailing token', () => {
    expect(parseAckSubject('$JS.ACK.hub.ACCHASH.TELEMETRY.tp.1.5.5.1795683215000000000.0.abc')).toMatchObject({
      stream: 'TELEMETRY',
      consumer: 'tp',
      streamSeq: 5,
      pending: 0,
      storedAtMs: 1795683215000,
    });
  });

  it.each([
    undefined,
    '',
    '_INBOX.abc',
    '$JS.ACK.TELEMETRY.tp.1.x.5.1.0',
    '$JS.ACK.TELEMETRY.tp.1.5.5',
    '$JS.ACK.TELEMETRY.tp.1.5.5.1e9.0',
  ])('refuses %p', (reply) => {
    expect(parseAckSubject(reply)).toBeUndefined();
  });
});
