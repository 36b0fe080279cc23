import { ModbusConnectionError, ModbusExceptionError, ModbusProtocolError } from './errors';
import { decodeResult, mapClientError } from './link';
import { readOperation, writeOperation } from './requests';

const KEY = '127.0.0.1:502';
const fc3 = readOperation(1, { table: 'holding', address: 10, count: 2 });

describe('mapClientError (modbus-serial callback errors)', () => {
  it('maps an exception response (modbusCode) to ModbusExceptionError with the code', () => {
    const raw = Object.assign(new Error('Modbus exception 2: Illegal data address'), { modbusCode: 2 });
    const err = mapClientError(KEY, fc3, raw);
    expect(err).toBeInstanceOf(ModbusExceptionError);
    expect(err).toMatchObject({ code: 2, functionCode: 3, address: 10, unitId: 1, retryable: false, cause: raw });
  });

  it('maps PortNotOpenError (not an Error instance in modbus-serial) to a lost connection', () => {
    const raw = { name: 'PortNotOpenError', message: 'Port Not Open', errno: 'ECONNREFUSED' };
    expect(mapClientError(KEY, fc3, raw)).toMatchObject({
      name: 'ModbusConnectionError',
      reason: 'connection-lost',
      retryable: true,
    });
    expect(mapClientError(KEY, fc3, raw)).toBeInstanceOf(ModbusConnectionError);
  });

  it.each(['CRC error', 'Data length error, expected 9 got 7', 'Unexpected data error, expected address 1 got 9'])(
    'maps "%s" to ModbusProtocolError',
    (message) => expect(mapClientError(KEY, fc3, new Error(message))).toBeInstanceOf(ModbusProtocolError),
  );
});

describe('decodeResult', () => {
  it('returns register words', () => {
    expect(decodeResult(KEY, fc3, { data: [0x4366, 0x199a], buffer: Buffer.alloc(4) })).toEqual([0x4366, 0x199a]);
  });

  it('cuts padded bits to the count and returns 0/1', () => {
    const fc1 = readOperation(1, { table: 'coil', address: 0, count: 3 });
    expect(decodeResult(KEY, fc1, { data: [true, false, true, false, false, false, false, false] })).toEqual([1, 0, 1]);
  });

  it('refuses a register count that does not match the request', () => {
    expect(() => decodeResult(KEY, fc3, { data: [1] })).toThrow(ModbusProtocolError);
  });

  it('accepts the FC06 echo and refuses a wrong one', () => {
    const fc6 = writeOperation(1, { address: 5, words: [77] }, false);
    expect(decodeResult(KEY, fc6, { address: 5, value: 77 })).toEqual([]);
    expect(() => decodeResult(KEY, fc6, { address: 5, value: 78 })).toThrow(ModbusProtocolError);
  });

  it('accepts the FC16 echo and refuses a wrong one', () => {
    const fc16 = writeOperation(1, { address: 5, words: [1, 2, 3] }, false);
    expect(decodeResult(KEY, fc16, { address: 5, length: 3 })).toEqual([]);
    expect(() => decodeResult(KEY, fc16, { address: 6, length: 3 })).toThrow(ModbusProtocolError);
  });
});
