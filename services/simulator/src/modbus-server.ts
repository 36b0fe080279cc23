import { createServer } from 'node:net';
import { ServerTCP, type IServiceVector } from 'modbus-serial';
import type { Logger } from 'pino';
import type { RegisterTable, SimulatedDevice } from './registers/register-bank';
import { ModbusException } from './registers/words';

/** Requests one device server has answered since it started. */
export interface ServerCounters {
  /** Read requests answered with data (FC 03/04). */
  readonly reads: number;
  /** Read requests answered with an exception. */
  readonly rejectedReads: number;
  /** Write requests applied (FC 06/16). */
  readonly writes: number;
  /** Write requests answered with an exception (read-only address, bad value, split 32-bit point). */
  readonly rejectedWrites: number;
}

/** One simulated device behind its own Modbus TCP listener. */
export interface DeviceServer {
  readonly assetId: string;
  readonly host: string;
  readonly port: number;
  readonly unitId: number;
  counters(): ServerCounters;
  /** Whether the listener is open (false between `disconnect` and `reconnect`). */
  readonly connected: boolean;
  /** The device drops off the network: open connections are closed and new ones refused (fault injection). */
  disconnect(): Promise<void>;
  /** The device is back: it listens again on the same host and port. */
  reconnect(): Promise<void>;
  close(): Promise<void>;
}

export interface DeviceServerOptions {
  readonly assetId: string;
  readonly device: SimulatedDevice;
  /** Bind address (default 127.0.0.1). */
  readonly host?: string;
  /** 0 = an ephemeral port. */
  readonly port?: number;
  /** The server answers this unit id only; other ids get no reply, as on a real RS-485 bus behind a gateway. */
  readonly unitId: number;
  readonly log: Logger;
  /** Called after each accepted register write (measurement hooks, e.g. SIM_EVENTS_FILE). */
  readonly onWrite?: (address: number, words: readonly number[]) => void;
}

/** A free TCP port on `host`, picked by the OS (ServerTCP itself treats port 0 as "use 502"). */
async function ephemeralPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen({ host, port: 0 }, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

function listen(vector: IServiceVector, host: string, port: number, unitId: number): Promise<ServerTCP> {
  return new Promise((resolve, reject) => {
    const server = new ServerTCP(vector, { host, port, unitID: unitId });
    const onError = (err: Error | null) => {
      server.close(() => undefined);
      reject(err ?? new Error(`cannot listen on ${host}:${port}`));
    };
    server.once('serverError', onError);
    server.once('initialized', () => {
      server.off('serverError', onError);
      resolve(server);
    });
  });
}

/**
 * Serves `device` over Modbus TCP: FC 03/04 reads from its current image, FC 06/16 writes through its write
 * check. A {@link ModbusException} becomes the exception response with its code; any other throw is a bug and
 * answers 04 (server device failure). Coils and discrete inputs do not exist (exception 01).
 */
export async function startDeviceServer(options: DeviceServerOptions): Promise<DeviceServer> {
  const { assetId, device, unitId, log } = options;
  const host = options.host ?? '127.0.0.1';
  const counts = { reads: 0, rejectedReads: 0, writes: 0, rejectedWrites: 0 };

  const fail = (err: unknown, what: Record<string, unknown>): never => {
    if (err instanceof ModbusException) {
      log.debug({ ...what, code: err.modbusErrorCode, reason: err.message }, 'request refused');
    } else {
      log.error({ ...what, err }, 'request failed');
    }
    throw err;
  };
  const read = (table: RegisterTable, address: number, count: number): number[] => {
    try {
      const words = device.read(table, address, count);
      counts.reads += 1;
      log.trace({ table, address, count }, 'read');
      return words;
    } catch (err) {
      counts.rejectedReads += 1;
      return fail(err, { table, address, count });
    }
  };
  const write = (address: number, words: readonly number[]): void => {
    try {
      device.write(address, words);
      counts.writes += 1;
      log.debug({ address, words }, 'registers written');
      options.onWrite?.(address, words);
    } catch (err) {
      counts.rejectedWrites += 1;
      fail(err, { address, words });
    }
  };
  const noBits = (): never => {
    throw new ModbusException(1, 'no coils or discrete inputs');
  };
  const vector: IServiceVector = {
    getInputRegister: (address: number) => read('input', address, 1)[0] ?? 0,
    getMultipleInputRegisters: (address: number, length: number) => read('input', address, length),
    getHoldingRegister: (address: number) => read('holding', address, 1)[0] ?? 0,
    getMultipleHoldingRegisters: (address: number, length: number) => read('holding', address, length),
    setRegister: (address: number, value: number) => write(address, [value]),
    setRegisterArray: (address: number, values: number[]) => write(address, values),
    getCoil: noBits,
    getDiscreteInput: noBits,
    setCoil: noBits,
  };

  let server: ServerTCP | undefined;
  let port = options.port ?? 0;
  for (let attempt = 1; !server; attempt += 1) {
    const tryPort = port === 0 ? await ephemeralPort(host) : port;
    try {
      server = await listen(vector, host, tryPort, unitId);
      port = tryPort;
    } catch (err) {
      // Another process took the ephemeral port between the probe and the listen: try another one.
      const taken = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
      if (options.port || !taken || attempt >= 5) throw err;
    }
  }
  const watch = (s: ServerTCP) => {
    s.on('socketError', (err: unknown) => log.debug({ err }, 'client socket error'));
    s.on('error', (err: unknown) => log.warn({ err }, 'modbus server error'));
    return s;
  };
  let running: ServerTCP | undefined = watch(server);
  log.info({ profile: device.profileId, host, port, unitId }, 'modbus device listening');
  // ServerTCP.close destroys the open client sockets as well as the listener.
  const closeRunning = async () => {
    const current = running;
    running = undefined;
    if (current) await new Promise<void>((resolve) => current.close(() => resolve()));
  };
  let closed = false;

  return {
    assetId,
    host,
    port,
    unitId,
    counters: () => ({ ...counts }),
    get connected() {
      return running !== undefined;
    },
    async disconnect() {
      await closeRunning();
      log.info({ port }, 'modbus device disconnected');
    },
    async reconnect() {
      if (running !== undefined || closed) return;
      running = watch(await listen(vector, host, port, unitId));
      log.info({ port }, 'modbus device reconnected');
    },
    async close() {
      closed = true;
      await closeRunning();
    },
  };
}
