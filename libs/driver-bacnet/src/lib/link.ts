// One BACnet/IP endpoint of ours: the stack on our UDP transport, with request timeouts, retries, a bound on requests
// in flight (the stack matches answers by an 8-bit invoke id only) and errors we can tell apart.
import BACnetClient, { type BACNetAddress } from '@bacnet-js/client';
import { BacnetAbortedError, BacnetTimeoutError, classifyStackError } from './errors';
import { UdpTransport, type UdpTransportOptions } from './transport';

/** How to reach a device: its (or its router's) `ip:port`, and for a routed device the network and MAC. */
export interface DeviceAddress {
  readonly address: string;
  readonly net?: number;
  readonly adr?: readonly number[];
}

/** `ip:port` or `ip:port net 5 mac 0a` for logs and errors. */
export function describeDevice(device: DeviceAddress): string {
  if (device.net === undefined) return device.address;
  const mac = (device.adr ?? []).map((b) => b.toString(16).padStart(2, '0')).join(':');
  return `${device.address} net ${device.net} mac ${mac}`;
}

/** The stack's form of an address. */
export function toStackAddress(device: DeviceAddress): BACNetAddress {
  return {
    address: device.address,
    ...(device.net === undefined ? {} : { net: device.net, adr: [...(device.adr ?? [])] }),
  };
}

/** Options of {@link openBacnetLink}. */
export interface BacnetLinkOptions extends UdpTransportOptions {
  /** Wait this long for one answer; default 3000 ms. */
  readonly apduTimeoutMs?: number;
  /** Retries after a timeout; default 1. */
  readonly apduRetries?: number;
  /** Requests in flight at once; default 16. */
  readonly maxConcurrentRequests?: number;
}

/** An I-Am as received: who, from where (with network and MAC when it came through a router), what it can do. */
export interface IAmReport {
  readonly deviceInstance: number;
  readonly device: DeviceAddress;
  readonly maxApdu: number;
  readonly segmentation: number;
  readonly vendorId: number;
}

/** Counters of the link, for health. */
export interface LinkCounters {
  requests: number;
  timeouts: number;
  errors: number;
  retries: number;
}

/** An open BACnet/IP endpoint. */
export interface BacnetLink {
  /** The stack, for services the link does not wrap (notifications, Who-Is). */
  readonly client: BACnetClient;
  /** Our bound `ip:port`. */
  readonly localAddress: string;
  readonly counters: Readonly<LinkCounters>;
  /** The last socket error, if any (a dead socket makes every request time out). */
  readonly socketError: Error | undefined;
  /**
   * Runs one confirmed request with the timeout, retries (timeouts only) and the in-flight bound; the stack's
   * errors come back as BacnetTimeoutError / BacnetErrorResponse / BacnetRefusedError.
   */
  request<T>(device: DeviceAddress, run: (receiver: BACNetAddress) => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** Sends Who-Is to `target` (unicast) or to the broadcast address; I-Ams arrive through `onIAm`. */
  whoIs(target?: DeviceAddress, range?: { readonly lowLimit: number; readonly highLimit: number }): void;
  /** Calls `listener` for every I-Am; returns the function that stops it. */
  onIAm(listener: (report: IAmReport) => void): () => void;
  close(): Promise<void>;
}

/** Opens the socket and the stack; rejects when the socket cannot bind (address in use, no such interface). */
export async function openBacnetLink(options: BacnetLinkOptions = {}): Promise<BacnetLink> {
  const transport = new UdpTransport(options);
  const apduTimeoutMs = options.apduTimeoutMs ?? 3_000;
  const retries = options.apduRetries ?? 1;
  const client = new BACnetClient({ transport, apduTimeout: apduTimeoutMs });
  let socketError: Error | undefined;
  client.on('error', (err: Error) => {
    socketError = err;
  });
  try {
    await transport.ready;
  } catch (err) {
    client.close();
    throw err;
  }
  const counters: LinkCounters = { requests: 0, timeouts: 0, errors: 0, retries: 0 };
  const limit = semaphore(options.maxConcurrentRequests ?? 16);
  const localAddress = transport.localAddress ?? '';
  let closed = false;

  const once = async <T>(device: DeviceAddress, run: (receiver: BACNetAddress) => Promise<T>): Promise<T> => {
    const release = await limit.acquire();
    try {
      counters.requests += 1;
      return await run(toStackAddress(device));
    } catch (err) {
      // closing rejects what is in flight as a timeout: it is not the device's fault
      if (closed) throw new BacnetAbortedError(`request to ${describeDevice(device)} (link closed)`);
      const classified = classifyStackError(err, describeDevice(device), apduTimeoutMs);
      if (classified instanceof BacnetTimeoutError) counters.timeouts += 1;
      else counters.errors += 1;
      throw classified;
    } finally {
      release();
    }
  };

  return {
    client,
    localAddress,
    counters,
    get socketError() {
      return socketError;
    },
    async request(device, run, signal) {
      for (let attempt = 0; ; attempt += 1) {
        if (closed) throw new BacnetAbortedError('request on a closed BACnet link');
        if (signal?.aborted) throw new BacnetAbortedError(`request to ${describeDevice(device)}`);
        try {
          return await abortable(once(device, run), signal, `request to ${describeDevice(device)}`);
        } catch (err) {
          if (!(err instanceof BacnetTimeoutError) || attempt >= retries) throw err;
          counters.retries += 1;
        }
      }
    },
    whoIs(target, range) {
      const receiver = target === undefined ? undefined : toStackAddress(target);
      if (receiver === undefined) client.whoIs(range ?? {});
      else client.whoIs(receiver, range ?? {});
    },
    onIAm(listener) {
      const handler = (content: {
        header?: { sender?: { address?: string; net?: number; adr?: number[] } };
        payload: { deviceId: number; maxApdu: number; segmentation: number; vendorId: number };
      }) => {
        const sender = content.header?.sender;
        if (sender?.address === undefined) return;
        const routed = sender.net !== undefined && sender.net > 0 && sender.net !== 0xffff;
        listener({
          deviceInstance: content.payload.deviceId,
          device: { address: sender.address, ...(routed ? { net: sender.net, adr: [...(sender.adr ?? [])] } : {}) },
          maxApdu: content.payload.maxApdu,
          segmentation: content.payload.segmentation,
          vendorId: content.payload.vendorId,
        });
      };
      client.on('iAm', handler);
      return () => client.off('iAm', handler);
    },
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => {
        transport.once('close', () => resolve());
        client.close();
      });
    },
  };
}

/** Rejects with BacnetAbortedError when `signal` aborts first (the request itself runs on until its timeout). */
function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (signal === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new BacnetAbortedError(what));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** At most `size` holders at once; the rest wait in order. */
function semaphore(size: number): { acquire(): Promise<() => void> } {
  let held = 0;
  const waiting: (() => void)[] = [];
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else held -= 1;
  };
  return {
    acquire() {
      if (held < size) {
        held += 1;
        return Promise.resolve(release);
      }
      return new Promise((resolve) => waiting.push(() => resolve(release)));
    },
  };
}
