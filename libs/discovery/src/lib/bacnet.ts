// BACnet/IP discovery: Who-Is (to a broadcast address and/or unicast to every host × port of a range the installer
// names), I-Am collected, each device's object read for its name, vendor, model and object count. Read-only: only
// Who-Is and ReadProperty(Multiple) are sent.
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BACNET_PORT,
  describeDevice,
  isIpv4Endpoint,
  openBacnetLink,
  readDeviceIdentity,
  type BacnetLink,
  type DeviceIdentity,
  type IAmReport,
} from '@voltimax/driver-bacnet';
import type { Logger } from 'pino';
import { bacnetCandidate } from './bacnet-candidates';
import type { Candidate } from './candidate';
import { cidrHosts } from './modbus/cidr';

/** Global broadcast network: routers pass a Who-Is with it on to every network they reach. */
const GLOBAL_NETWORK = 0xffff;

/** Options of {@link discoverBacnet}. Durations in ms. */
export interface BacnetDiscoveryOptions {
  /** Unicast Who-Is to every host of this IPv4 address or CIDR range (at most a /20). */
  readonly cidr?: string;
  /** UDP ports tried on each host of `cidr` (default 47808). */
  readonly ports?: readonly number[];
  /** Also one Who-Is to this broadcast address (`192.168.1.255`, optionally `:port`). */
  readonly broadcast?: string;
  /** Local address to bind (default 0.0.0.0, which also hears I-Am broadcasts). */
  readonly interface?: string;
  /**
   * Local UDP port (default 47808, where broadcast I-Am answers go; when it is taken — the driver host runs the
   * bacnet driver on it — a free port is used and only unicast answers arrive).
   */
  readonly localPort?: number;
  /** How long to listen after the last Who-Is (default 3000). */
  readonly listenMs?: number;
  /** Unicast Who-Is sent per second (default 100). */
  readonly whoIsPerSecond?: number;
  /** Answer timeout of the identity reads (default 1000). */
  readonly timeoutMs?: number;
  /** Devices read at the same time (default 8). */
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
  readonly log?: Logger;
}

/** One device that answered, with what its device object said (or why it said nothing). */
export interface BacnetDeviceReport {
  readonly iAm: IAmReport;
  readonly identity?: DeviceIdentity;
  readonly error?: string;
}

/** What a BACnet discovery found and did. */
export interface BacnetDiscoveryResult {
  /** One per device instance. */
  readonly candidates: Candidate[];
  readonly devices: BacnetDeviceReport[];
  readonly whoIsSent: number;
  /** Our `ip:port`. */
  readonly localAddress: string;
  /** True when we could not bind the BACnet port: devices that answer Who-Is by broadcast were not heard. */
  readonly broadcastAnswersMissed: boolean;
  readonly aborted: boolean;
}

/** A BACnet discovery that cannot run as asked (no range and no broadcast, bad address). */
export class BacnetDiscoveryError extends Error {
  override readonly name = 'BacnetDiscoveryError';
}

async function openLink(options: BacnetDiscoveryOptions): Promise<{ link: BacnetLink; missed: boolean }> {
  const common = {
    interface: options.interface ?? '0.0.0.0',
    ...(options.broadcast === undefined ? {} : { broadcastAddress: options.broadcast }),
    apduTimeoutMs: options.timeoutMs ?? 1_000,
    apduRetries: 1,
  };
  if (options.localPort !== undefined)
    return { link: await openBacnetLink({ ...common, port: options.localPort }), missed: false };
  try {
    return { link: await openBacnetLink({ ...common, port: BACNET_PORT }), missed: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    options.log?.warn({ port: BACNET_PORT }, 'bacnet port taken; listening on a free port (broadcast I-Am not heard)');
    return { link: await openBacnetLink({ ...common, port: 0 }), missed: true };
  }
}

/**
 * Sends Who-Is (broadcast and/or unicast to `cidr` × `ports`, paced), collects I-Am for `listenMs` after the last
 * one, reads each device's identity and returns one candidate per device instance (a device heard directly is
 * preferred over the same instance through a router). `signal` stops sending and listening; devices already heard
 * are still reported.
 */
export async function discoverBacnet(options: BacnetDiscoveryOptions): Promise<BacnetDiscoveryResult> {
  if (options.cidr === undefined && options.broadcast === undefined)
    throw new BacnetDiscoveryError('bacnet discovery needs a range (cidr) or a broadcast address');
  if (options.broadcast !== undefined && !isIpv4Endpoint(options.broadcast))
    throw new BacnetDiscoveryError(
      `broadcast must be an IPv4 address with an optional port, got '${options.broadcast}'`,
    );
  const hosts = options.cidr === undefined ? [] : cidrHosts(options.cidr);
  const ports = options.ports ?? [BACNET_PORT];
  const { link, missed } = await openLink(options);
  const log = options.log;
  const signal = options.signal;
  const heard = new Map<number, IAmReport>();
  const reads = new Map<number, Promise<BacnetDeviceReport>>();
  const waiting: (() => void)[] = [];
  let running = 0;
  const limit = options.concurrency ?? 8;
  const slot = async (): Promise<() => void> => {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    running += 1;
    return () => {
      running -= 1;
      waiting.shift()?.();
    };
  };
  const interrogate = async (iAm: IAmReport): Promise<BacnetDeviceReport> => {
    const release = await slot();
    try {
      const identity = await readDeviceIdentity(link, iAm.device, iAm.deviceInstance, {
        apduTimeoutMs: options.timeoutMs ?? 1_000,
        ...(signal ? { signal } : {}),
      });
      return { iAm, identity };
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      log?.debug({ device: describeDevice(iAm.device), err }, 'bacnet identity not readable');
      return { iAm, error };
    } finally {
      release();
    }
  };
  const stopListening = link.onIAm((iAm) => {
    const known = heard.get(iAm.deviceInstance);
    // the same device again, or through a router when it was heard directly: nothing new
    if (known !== undefined && (known.device.net === undefined || iAm.device.net !== undefined)) return;
    heard.set(iAm.deviceInstance, iAm);
    log?.debug({ deviceInstance: iAm.deviceInstance, device: describeDevice(iAm.device) }, 'bacnet i-am');
    reads.set(iAm.deviceInstance, interrogate(iAm));
  });

  let whoIsSent = 0;
  let aborted = false;
  try {
    if (options.broadcast !== undefined) {
      link.whoIs();
      whoIsSent += 1;
    }
    const gapMs = 1_000 / (options.whoIsPerSecond ?? 100);
    outer: for (const host of hosts) {
      for (const port of ports) {
        if (signal?.aborted) {
          aborted = true;
          break outer;
        }
        link.whoIs({ address: `${host}:${port}`, net: GLOBAL_NETWORK, adr: [] });
        whoIsSent += 1;
        if (gapMs >= 1) await sleep(gapMs, undefined, signal ? { signal } : {});
      }
    }
    if (!aborted) await sleep(options.listenMs ?? 3_000, undefined, signal ? { signal } : {});
  } catch (err) {
    if (!signal?.aborted) throw err;
    aborted = true;
  } finally {
    stopListening();
  }
  try {
    const devices = await Promise.all([...reads.values()]);
    devices.sort((a, b) => a.iAm.deviceInstance - b.iAm.deviceInstance);
    return {
      candidates: devices.map((d) => bacnetCandidate(d.iAm, d.identity, d.error)),
      devices,
      whoIsSent,
      localAddress: link.localAddress,
      broadcastAnswersMissed: missed,
      aborted: aborted || signal?.aborted === true,
    };
  } finally {
    await link.close();
  }
}
