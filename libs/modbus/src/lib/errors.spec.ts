import {
  CircuitOpenError,
  isModbusError,
  isRetryableModbusError,
  ModbusConnectionError,
  ModbusExceptionError,
  ModbusProtocolError,
  ModbusTimeoutError,
} from './errors';

describe('ModbusExceptionError', () => {
  it.each([
    { code: 1, exceptionName: 'illegal-function', retryable: false },
    { code: 2, exceptionName: 'illegal-data-address', retryable: false },
    { code: 3, exceptionName: 'illegal-data-value', retryable: false },
    { code: 4, exceptionName: 'server-device-failure', retryable: true },
    { code: 5, exceptionName: 'acknowledge', retryable: false },
    { code: 6, exceptionName: 'server-device-busy', retryable: true },
    { code: 7, exceptionName: 'negative-acknowledge', retryable: false },
    { code: 8, exceptionName: 'memory-parity-error', retryable: false },
    { code: 10, exceptionName: 'gateway-path-unavailable', retryable: true },
    { code: 11, exceptionName: 'gateway-target-failed-to-respond', retryable: true },
    { code: 9, exceptionName: 'unknown', retryable: false },
    { code: 99, exceptionName: 'unknown', retryable: false },
  ])('maps exception $code to $exceptionName (retryable: $retryable)', ({ code, exceptionName, retryable }) => {
    const err = new ModbusExceptionError('10.0.0.5:502', 3, 3, 100, code);
    expect(err).toMatchObject({ name: 'ModbusExceptionError', code, exceptionName, retryable, unitId: 3 });
    expect(err.message).toContain(`exception ${code}`);
  });

  it('keeps the cause', () => {
    const cause = new Error('Modbus exception 2');
    expect(new ModbusExceptionError('h:502', 1, 3, 0, 2, { cause }).cause).toBe(cause);
  });
});

describe('error classes', () => {
  it.each([
    { err: new ModbusTimeoutError('h:502', 1, 300), name: 'ModbusTimeoutError', retryable: true },
    {
      err: new ModbusConnectionError('h:502', 'connect-failed', 'refused'),
      name: 'ModbusConnectionError',
      retryable: true,
    },
    {
      err: new ModbusConnectionError('h:502', 'connection-lost', 'gone'),
      name: 'ModbusConnectionError',
      retryable: true,
    },
    {
      err: new ModbusConnectionError('h:502', 'closed', 'pool closed'),
      name: 'ModbusConnectionError',
      retryable: false,
    },
    { err: new ModbusProtocolError('h:502', 1, 'garbage'), name: 'ModbusProtocolError', retryable: true },
    { err: new CircuitOpenError('h:502', 1), name: 'CircuitOpenError', retryable: false },
  ])('$name says retryable: $retryable', ({ err, name, retryable }) => {
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe(name);
    expect(err.retryable).toBe(retryable);
    expect(isModbusError(err)).toBe(true);
    expect(isRetryableModbusError(err)).toBe(retryable);
  });

  it('passes the cause through', () => {
    const cause = new Error('ECONNREFUSED');
    expect(new ModbusConnectionError('h:502', 'connect-failed', 'x', { cause }).cause).toBe(cause);
    expect(new CircuitOpenError('h:502', 1, { cause }).cause).toBe(cause);
    expect(new ModbusTimeoutError('h:502', 1, 5, { cause }).cause).toBe(cause);
  });

  it('does not treat foreign errors as Modbus errors', () => {
    const foreign = Object.assign(new Error('x'), { retryable: true });
    expect(isModbusError(foreign)).toBe(false);
    expect(isRetryableModbusError(foreign)).toBe(false);
  });
});
