// What every Modbus device reader shares (the poller's cycle reader, the CLI's `device …` commands): the endpoint of
// a site connection, reading a profile's planned blocks, and the SunSpec discovery walk. Read-only: nothing here
// writes a register.
import type { Connection } from '@voltimax/contracts';
import {
  nextSunSpecDiscoveryStep,
  planSunSpecDiscovery,
  type BlockWords,
  type ReadBlock,
  type SunSpecModelLocation,
} from '@voltimax/devices';
import type { ModbusEndpoint } from './endpoint';
import { ModbusExceptionError } from './errors';
import type { ModbusReadRange } from './requests';

/** The Modbus flavours of a site connection (TCP, RTU over TCP, serial RTU). */
export type ModbusConnection = Extract<Connection, { protocol: 'modbus-tcp' | 'modbus-rtu-tcp' | 'modbus-rtu' }>;

/** True for the Modbus connection protocols. */
export function isModbusConnection(connection: Connection): connection is ModbusConnection {
  return (
    connection.protocol === 'modbus-tcp' ||
    connection.protocol === 'modbus-rtu-tcp' ||
    connection.protocol === 'modbus-rtu'
  );
}

/** The pool endpoint of a site connection, without link timing (the unit id stays with the caller). */
export function endpointOf(connection: ModbusConnection): ModbusEndpoint {
  switch (connection.protocol) {
    case 'modbus-tcp':
      return { transport: 'tcp', host: connection.host, port: connection.port };
    case 'modbus-rtu-tcp':
      return { transport: 'rtu-over-tcp', host: connection.host, port: connection.port };
    case 'modbus-rtu':
      return {
        transport: 'rtu',
        path: connection.device,
        baudRate: connection.baudRate,
        parity: connection.parity,
        dataBits: connection.dataBits,
        stopBits: connection.stopBits,
      };
  }
}

/** The read side of a Modbus unit client (`ModbusUnitClient`, or a fake register image in unit tests). */
export interface RegisterReader {
  read(range: ModbusReadRange): Promise<number[]>;
}

/** Reads planned blocks (see `planReadBlocks` / `planProfileReads` in `@voltimax/devices`) in order; the first failure is thrown. */
export async function readBlocks(client: RegisterReader, blocks: readonly ReadBlock[]): Promise<BlockWords[]> {
  const out: BlockWords[] = [];
  for (const block of blocks) {
    const words = await client.read({ table: block.table, address: block.start, count: block.count });
    out.push({ table: block.table, start: block.start, words });
  }
  return out;
}

/** The SunSpec model chain of a device, or why there is none. */
export type SunSpecChain =
  | { readonly kind: 'found'; readonly baseAddress: number; readonly models: readonly SunSpecModelLocation[] }
  | { readonly kind: 'not-found'; readonly detail: string };

/**
 * Walks the SunSpec discovery step machine of `@voltimax/devices` with real reads (marker at 40000, 50000, 0 unless
 * `baseAddresses` says otherwise, then one model header at a time). An exception answer means "not here" (next base
 * address); a timeout or a lost connection is thrown, so a dead device is never reported as "not SunSpec".
 */
export async function discoverSunSpec(
  client: RegisterReader,
  baseAddresses?: readonly number[],
): Promise<SunSpecChain> {
  let step = planSunSpecDiscovery(baseAddresses);
  while (step.kind === 'read') {
    let response: { kind: 'words'; words: readonly number[] } | { kind: 'error'; detail: string };
    try {
      response = {
        kind: 'words',
        words: await client.read({ table: 'holding', address: step.address, count: step.count }),
      };
    } catch (err) {
      if (!(err instanceof ModbusExceptionError)) throw err;
      response = { kind: 'error', detail: err.message };
    }
    step = nextSunSpecDiscoveryStep(step, response);
  }
  switch (step.kind) {
    case 'found':
      return { kind: 'found', baseAddress: step.baseAddress, models: step.models };
    case 'not-found':
      return { kind: 'not-found', detail: `no SunS marker at ${step.triedBaseAddresses.join(', ')}` };
    case 'broken':
      return {
        kind: 'not-found',
        detail: `SunSpec chain at ${step.baseAddress} broken (${step.reason}) after ${step.models.length} models`,
      };
  }
}
