// A tiny Modbus TCP server (modbus-serial's ServerTCP) holding register arrays, for the write-path tests. Its
// image is typed by hand (testing/images.ts), not produced by our codec.
import { ServerTCP } from 'modbus-serial';
import { closedPort } from '@voltimax/modbus/testing';

/** One register written by a client (FC06, or each register of an FC16). */
export interface ServerWrite {
  readonly unitId: number;
  readonly address: number;
  readonly value: number;
}

/** A running register server. */
export interface RegisterServer {
  readonly port: number;
  readonly holding: Map<number, number>;
  readonly input: Map<number, number>;
  /** Every register write received, in order. */
  readonly writes: ServerWrite[];
  /** Acknowledge writes without storing them: a device that ignores remote control. */
  ignoreWrites: boolean;
  close(): Promise<void>;
}

function illegalAddress(): Error {
  return Object.assign(new Error('illegal data address'), { modbusErrorCode: 2 });
}

/** Serves the given holding and input registers to every unit id; anything else answers exception 2. */
export async function startRegisterServer(image: {
  readonly holding: ReadonlyMap<number, number>;
  readonly input: ReadonlyMap<number, number>;
}): Promise<RegisterServer> {
  const holding = new Map(image.holding);
  const input = new Map(image.input);
  const writes: ServerWrite[] = [];
  const port = await closedPort();
  const state = { ignoreWrites: false };
  const read = (table: Map<number, number>, address: number): number => {
    const word = table.get(address);
    if (word === undefined) throw illegalAddress();
    return word;
  };
  const server = new ServerTCP(
    {
      getHoldingRegister: (address: number) => read(holding, address),
      getInputRegister: (address: number) => read(input, address),
      setRegister: (address: number, value: number, unitId: number) => {
        if (!holding.has(address)) throw illegalAddress();
        writes.push({ unitId, address, value });
        if (!state.ignoreWrites) holding.set(address, value);
      },
    },
    { host: '127.0.0.1', port, unitID: 255 },
  );
  server.on('error', () => undefined);
  server.on('socketError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('initialized', () => resolve());
    server.once('serverError', (err: Error | null) => reject(err ?? new Error('server error')));
  });
  return {
    port,
    holding,
    input,
    writes,
    get ignoreWrites() {
      return state.ignoreWrites;
    },
    set ignoreWrites(value: boolean) {
      state.ignoreWrites = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const sock of server.socks.keys()) sock.destroy();
        server.close(() => resolve());
      }),
  };
}
