import { endpointDifferences, endpointKey, resolveEndpoint, rtuInterFrameGapMs } from './endpoint';
import { ModbusConfigError } from './errors';

describe('endpointKey', () => {
  it.each([
    { endpoint: { transport: 'tcp', host: '10.0.0.5' } as const, key: '10.0.0.5:502' },
    { endpoint: { transport: 'tcp', host: '10.0.0.5', port: 1502 } as const, key: '10.0.0.5:1502' },
    { endpoint: { transport: 'rtu-over-tcp', host: 'gw.local', port: 8899 } as const, key: 'gw.local:8899' },
    { endpoint: { transport: 'tcp', host: '::1', port: 502 } as const, key: '[::1]:502' },
    { endpoint: { transport: 'rtu', path: '/dev/ttyUSB0' } as const, key: '/dev/ttyUSB0' },
  ])('$key', ({ endpoint, key }) => expect(endpointKey(endpoint)).toBe(key));
});

describe('resolveEndpoint', () => {
  it('applies TCP defaults: port 502, no gap, no settle, 3 s connect timeout', () => {
    expect(resolveEndpoint({ transport: 'tcp', host: 'h' })).toEqual({
      key: 'h:502',
      transport: 'tcp',
      host: 'h',
      port: 502,
      interFrameGapMs: 0,
      settleAfterWriteMs: 0,
      connectTimeoutMs: 3000,
    });
  });

  it('gives RTU over TCP a 20 ms inter-frame gap by default', () => {
    expect(resolveEndpoint({ transport: 'rtu-over-tcp', host: 'gw', port: 8899 }).interFrameGapMs).toBe(20);
  });

  it('applies serial defaults: 9600 8N1 and 3.5 character times of gap', () => {
    expect(resolveEndpoint({ transport: 'rtu', path: '/dev/ttyUSB0' })).toMatchObject({
      baudRate: 9600,
      parity: 'none',
      dataBits: 8,
      stopBits: 1,
      interFrameGapMs: 5,
    });
  });

  it.each([
    { baudRate: 1200, gapMs: 33 },
    { baudRate: 9600, gapMs: 5 },
    { baudRate: 19200, gapMs: 3 },
    { baudRate: 115200, gapMs: 2 },
  ])('an RTU line at $baudRate bit/s waits $gapMs ms between frames', ({ baudRate, gapMs }) =>
    expect(rtuInterFrameGapMs(baudRate)).toBe(gapMs),
  );

  it('keeps explicit timing', () => {
    expect(
      resolveEndpoint({
        transport: 'tcp',
        host: 'h',
        interFrameGapMs: 50,
        settleAfterWriteMs: 200,
        connectTimeoutMs: 1000,
      }),
    ).toMatchObject({ interFrameGapMs: 50, settleAfterWriteMs: 200, connectTimeoutMs: 1000 });
  });

  it.each([
    { name: 'empty host', endpoint: { transport: 'tcp', host: '' } as const },
    { name: 'port 0', endpoint: { transport: 'tcp', host: 'h', port: 0 } as const },
    { name: 'port 70000', endpoint: { transport: 'rtu-over-tcp', host: 'h', port: 70000 } as const },
    { name: 'negative gap', endpoint: { transport: 'tcp', host: 'h', interFrameGapMs: -1 } as const },
    { name: 'zero baud rate', endpoint: { transport: 'rtu', path: '/dev/x', baudRate: 0 } as const },
    { name: 'empty path', endpoint: { transport: 'rtu', path: '' } as const },
  ])('rejects $name', ({ endpoint }) => expect(() => resolveEndpoint(endpoint)).toThrow(ModbusConfigError));
});

describe('endpointDifferences', () => {
  it('is empty for the same settings', () => {
    const a = resolveEndpoint({ transport: 'tcp', host: 'h' });
    expect(endpointDifferences(a, resolveEndpoint({ transport: 'tcp', host: 'h', port: 502 }))).toEqual([]);
  });

  it('names what differs', () => {
    const a = resolveEndpoint({ transport: 'tcp', host: 'h', port: 8899 });
    const b = resolveEndpoint({ transport: 'rtu-over-tcp', host: 'h', port: 8899 });
    expect(endpointDifferences(a, b)).toEqual(['interFrameGapMs', 'transport']);
  });
});
