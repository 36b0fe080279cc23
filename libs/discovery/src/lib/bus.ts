// Discovery on the bus: results out on `discovery.found`, runs on request from `discovery.request`.
import type { Bus, Unsubscribe } from '@voltimax/bus';
import { subjects, type DiscoveryRequest } from '@voltimax/contracts';
import type { Logger } from 'pino';
import { toDiscoveryFound, type Candidate } from './candidate';
import { runDiscovery, type DiscoverOptions, type DiscoveryRun } from './discover';

/** Publishes one `discovery.found` per candidate (validated by the bus); returns how many were sent. */
export function publishCandidates(
  bus: Bus,
  candidates: readonly Candidate[],
  atMs: number,
  requestId?: string,
): number {
  for (const candidate of candidates) bus.publish(subjects.discoveryFound, {}, toDiscoveryFound(candidate, atMs, requestId));
  return candidates.length;
}

/** Defaults a request cannot change (the mDNS socket, MQTT credentials, scan limits). */
export interface ResponderDefaults {
  readonly mdns?: DiscoverOptions['mdns'];
  readonly mqtt?: Omit<NonNullable<DiscoverOptions['mqtt']>, 'brokerUrl'> & { readonly brokerUrl?: string };
  readonly modbus?: Omit<NonNullable<DiscoverOptions['modbus']>, 'cidr'>;
  readonly bacnet?: Omit<NonNullable<DiscoverOptions['bacnet']>, 'cidr' | 'broadcast' | 'ports'>;
}

/**
 * The run a request asks for: its methods, with the request's range, ports, unit ids, broker and timeout over the
 * defaults. A Modbus scan needs a `cidr` in the request (scanning is opt-in); MQTT needs a broker from the request
 * or the defaults. Returns the reason instead when the request cannot be run.
 */
export function optionsFromRequest(
  request: DiscoveryRequest,
  defaults: ResponderDefaults = {},
): { readonly ok: true; readonly options: DiscoverOptions } | { readonly ok: false; readonly reason: string } {
  const methods = new Set(request.methods);
  const timeout = request.timeoutMs;
  let options: DiscoverOptions = {};
  if (methods.has('mdns'))
    options = { ...options, mdns: { ...defaults.mdns, ...(timeout ? { durationMs: timeout } : {}) } };
  if (methods.has('mqtt')) {
    const brokerUrl = request.mqttUrl ?? defaults.mqtt?.brokerUrl;
    if (brokerUrl === undefined)
      return { ok: false, reason: 'method mqtt needs mqttUrl (no default broker configured)' };
    options = { ...options, mqtt: { ...defaults.mqtt, brokerUrl, ...(timeout ? { durationMs: timeout } : {}) } };
  }
  if (methods.has('modbus')) {
    if (request.cidr === undefined) return { ok: false, reason: 'method modbus needs a cidr: scanning is opt-in' };
    options = {
      ...options,
      modbus: {
        ...defaults.modbus,
        cidr: request.cidr,
        ...(request.ports ? { ports: request.ports } : {}),
        ...(request.unitIds ? { unitIds: request.unitIds } : {}),
        ...(timeout ? { timeoutMs: timeout } : {}),
      },
    };
  }
  if (methods.has('bacnet')) {
    if (request.bacnetCidr === undefined && request.bacnetBroadcast === undefined)
      return { ok: false, reason: 'method bacnet needs a bacnetCidr or a bacnetBroadcast address' };
    options = {
      ...options,
      bacnet: {
        ...defaults.bacnet,
        ...(request.bacnetCidr === undefined ? {} : { cidr: request.bacnetCidr }),
        ...(request.bacnetBroadcast === undefined ? {} : { broadcast: request.bacnetBroadcast }),
        ...(request.bacnetPorts ? { ports: request.bacnetPorts } : {}),
        ...(timeout ? { timeoutMs: timeout } : {}),
      },
    };
  }
  return { ok: true, options };
}

/** What the responder needs. */
export interface DiscoveryResponderOptions {
  readonly bus: Bus;
  readonly log: Logger;
  readonly defaults?: ResponderDefaults;
  /** Epoch ms for `atMs`. */
  readonly now: () => number;
  /** The discovery itself (default {@link runDiscovery}); injectable for tests of the wiring. */
  readonly run?: (options: DiscoverOptions) => Promise<DiscoveryRun>;
  /** Called after each run with what was published. */
  readonly onRun?: (request: DiscoveryRequest, run: DiscoveryRun) => void;
}

/** A running responder; `stop` ends the subscription and waits for a run in progress. */
export interface DiscoveryResponder {
  stop(): Promise<void>;
}

/**
 * Answers `discovery.request`: runs the requested sources and publishes each candidate on `discovery.found` with the
 * request's `requestId`. One run at a time: a request that arrives during a run is dropped with a warning (scans
 * are heavy; the requester sees no results and may ask again).
 */
export function startDiscoveryResponder(options: DiscoveryResponderOptions): DiscoveryResponder {
  const { bus, log } = options;
  const run = options.run ?? runDiscovery;
  let current: Promise<void> | undefined;
  const controller = new AbortController();
  const off: Unsubscribe = bus.subscribe(subjects.discoveryRequest, (request) => {
    if (current !== undefined) {
      log.warn({ requestId: request.requestId }, 'discovery request dropped: a run is in progress');
      return;
    }
    const resolved = optionsFromRequest(request, options.defaults);
    if (!resolved.ok) {
      log.warn({ requestId: request.requestId, reason: resolved.reason }, 'discovery request refused');
      return;
    }
    current = (async () => {
      try {
        log.info(
          { requestId: request.requestId, methods: request.methods, cidr: request.cidr },
          'discovery run started',
        );
        const result = await run({ ...resolved.options, signal: controller.signal, log });
        const sent = publishCandidates(bus, result.candidates, options.now(), request.requestId);
        log.info({ requestId: request.requestId, found: sent, errors: result.errors }, 'discovery run done');
        options.onRun?.(request, result);
      } catch (err) {
        log.error({ err, requestId: request.requestId }, 'discovery run failed');
      } finally {
        current = undefined;
      }
    })();
  });
  return {
    async stop() {
      off();
      controller.abort();
      await current;
    },
  };
}
