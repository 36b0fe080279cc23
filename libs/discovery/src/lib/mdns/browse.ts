import { Bonjour, type Browser, type Service } from 'bonjour-service';
import type { Logger } from 'pino';
import { finishCandidate, mergeCandidates, type Candidate } from '../candidate';
import { MDNS_SERVICE_TYPES, mapMdnsService, TxtSchema, type MdnsHint, type MdnsServiceRecord } from './services';

/** Options of {@link browseMdns}. */
export interface MdnsBrowseOptions {
  /** How long to listen for answers, ms (default 3000). */
  readonly durationMs?: number;
  /** The query is repeated this often while listening, ms (default 1000; mDNS answers can be lost). */
  readonly requeryMs?: number;
  /** Service types without `_` and `._tcp` (default {@link MDNS_SERVICE_TYPES}). */
  readonly serviceTypes?: readonly string[];
  /**
   * multicast-dns socket options: `interface` (the IPv4 address of the interface to query on, e.g. `127.0.0.1`;
   * default all), `port` (default 5353) and `bind` (default the interface address, or all).
   */
  readonly socket?: { readonly interface?: string; readonly port?: number; readonly bind?: string };
  readonly signal?: AbortSignal;
  readonly log?: Logger;
}

/** What a browse found. */
export interface MdnsBrowseResult {
  /** Merged: one per device. */
  readonly candidates: readonly Candidate[];
  readonly hints: readonly MdnsHint[];
  /** Service instances seen (after de-duplication by type and name). */
  readonly services: number;
  readonly ignored: readonly { readonly service: string; readonly reason: string }[];
}

/** A bonjour-service Service as our record; TXT values validated as text. */
export function toServiceRecord(service: Service): MdnsServiceRecord {
  const txt = TxtSchema.safeParse(service.txt ?? {});
  return {
    name: service.name,
    type: service.type,
    protocol: service.protocol,
    host: service.host,
    port: service.port,
    addresses: service.addresses ?? [],
    txt: txt.success ? txt.data : {},
    ...(service.referer ? { refererAddress: service.referer.address } : {}),
  };
}

function waitOrAbort(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Browses DNS-SD for `durationMs` and maps what answered (see `mapMdnsService`). Read-only: it sends queries,
 * never announces anything. A socket error (port 5353 taken without SO_REUSEADDR, no multicast route) is logged and
 * ends the browse early with what was found.
 */
export async function browseMdns(options: MdnsBrowseOptions = {}): Promise<MdnsBrowseResult> {
  const durationMs = options.durationMs ?? 3_000;
  const requeryMs = options.requeryMs ?? 1_000;
  const types = options.serviceTypes ?? MDNS_SERVICE_TYPES;
  const socket = options.socket ?? {};
  let socketError: unknown;
  const bonjour = new Bonjour(
    {
      ...(socket.interface === undefined ? {} : { interface: socket.interface }),
      ...(socket.port === undefined ? {} : { port: socket.port }),
      ...(socket.bind === undefined ? {} : { bind: socket.bind }),
    } as object,
    (err: unknown) => {
      socketError = err;
      options.log?.warn({ err }, 'mdns socket error');
    },
  );
  const seen = new Map<string, MdnsServiceRecord>();
  const onUp = (service: Service): void => {
    const record = toServiceRecord(service);
    seen.set(`${record.type}/${record.name}`, record);
    options.log?.debug({ type: record.type, name: record.name, host: record.host }, 'mdns service up');
  };
  const browsers: Browser[] = types.map((type) => {
    const browser = bonjour.find({ type, protocol: 'tcp' }, onUp);
    browser.on('txt-update', (service) => onUp(service));
    return browser;
  });
  try {
    for (let elapsed = 0; elapsed < durationMs && !options.signal?.aborted && socketError === undefined; ) {
      const step = Math.min(requeryMs, durationMs - elapsed);
      await waitOrAbort(step, options.signal);
      elapsed += step;
      if (elapsed < durationMs) for (const browser of browsers) browser.update();
    }
  } finally {
    for (const browser of browsers) browser.stop();
    await new Promise<void>((resolve) => bonjour.destroy(() => resolve()));
  }
  const candidates: Candidate[] = [];
  const hints: MdnsHint[] = [];
  const ignored: { service: string; reason: string }[] = [];
  for (const record of seen.values()) {
    const outcome = mapMdnsService(record);
    if (outcome.kind === 'candidate') candidates.push(finishCandidate(outcome.draft));
    else if (outcome.kind === 'hint') hints.push(outcome.hint);
    else ignored.push({ service: `_${record.type}._tcp ${record.name}`, reason: outcome.reason });
  }
  // one device announcing several types (a Shelly's _shelly and _http) becomes one candidate
  return { candidates: mergeCandidates(candidates), hints, services: seen.size, ignored };
}
