import { discoverSunSpec, endpointOf, readBlocks, type RegisterReader } from './device-io';
import { ModbusExceptionError, ModbusTimeoutError } from './errors';
import type { ModbusReadRange } from './requests';

describe('endpointOf', () => {
  it.each([
    [
      { protocol: 'modbus-tcp', host: '10.0.0.5', port: 502, unitId: 1 },
      { transport: 'tcp', host: '10.0.0.5', port: 502 },
    ],
    [
      { protocol: 'modbus-rtu-tcp', host: '10.0.0.6', port: 8899, unitId: 2 },
      { transport: 'rtu-over-tcp', host: '10.0.0.6', port: 8899 },
    ],
    [
      {
        protocol: 'modbus-rtu',
        device: '/dev/ttyUSB0',
        baudRate: 9600,
        parity: 'even',
        dataBits: 8,
        stopBits: 1,
        unitId: 3,
      },
      { transport: 'rtu', path: '/dev/ttyUSB0', baudRate: 9600, parity: 'even', dataBits: 8, stopBits: 1 },
    ],
  ] as const)('maps %o', (connection, endpoint) => {
    expect(endpointOf(connection)).toEqual(endpoint);
  });
});

describe('readBlocks', () => {
  it('reads the blocks in order and keeps their table and start', async () => {
    const reads: ModbusReadRange[] = [];
    const client: RegisterReader = {
      read: async (range) => {
        reads.push(range);
        return Array.from({ length: range.count }, (_, i) => range.address + i);
      },
    };
    await expect(
      readBlocks(client, [
        { table: 'input', start: 0, count: 2, covers: [] },
        { table: 'holding', start: 10, count: 1, covers: [] },
      ]),
    ).resolves.toEqual([
      { table: 'input', start: 0, words: [0, 1] },
      { table: 'holding', start: 10, words: [10] },
    ]);
    expect(reads).toEqual([
      { table: 'input', address: 0, count: 2 },
      { table: 'holding', address: 10, count: 1 },
    ]);
  });
});

describe('discoverSunSpec', () => {
  it('treats exception answers as "not here" and reports the addresses it tried', async () => {
    const client: RegisterReader = {
      read: async (range) => {
        throw new ModbusExceptionError('tcp://x:502', 1, 3, range.address, 2);
      },
    };
    await expect(discoverSunSpec(client, [40000, 0])).resolves.toEqual({
      kind: 'not-found',
      detail: 'no SunS marker at 40000, 0',
    });
  });

  it('throws other failures: a dead device is not "not SunSpec"', async () => {
    const timeout = new ModbusTimeoutError('tcp://x:502', 1, 1000);
    const client: RegisterReader = {
      read: async () => {
        throw timeout;
      },
    };
    await expect(discoverSunSpec(client)).rejects.toBe(timeout);
  });
});
