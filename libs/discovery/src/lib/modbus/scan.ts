// The Modbus TCP scan: hosts of a CIDR range × ports × unit ids, bounded in every dimension (concurrency, rate of new
// connections, per-request and per-connect timeouts, a time budget per host, an abort signal). Read-only by
// construction: probes get a `RegisterReader`, which has no write method.
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import {
  discoverSunSpec,
  ModbusConnectionError,
  ModbusPool,
  ModbusTimeoutError,
  type ModbusReadRange,
  type RegisterReader,
} from '@voltimax/modbus';
import { pino, type Logger } from 'pino';
import { finishCandidate, type Candidate } from '../candidate';
import { cidrHosts, MAX_SCAN_HOSTS } from './cidr';
import { assetKindOfProfile, FINGERPRINTS, tryFingerprint } from './fingerprints';
import { interrogateSunSpec } from './sunspec';

/** Default TCP ports: 502 (Modbus) and 1502 (a common second port, e.g. SMA, Kostal, E3/DC). */
export const DEFAULT_SCAN_PORTS: readonly number[] = [502, 1502];
/** Default unit ids: 1–3 (RS-485 gateways, meters), 126 (SunSpec inverters of SMA and others), 247 (the top id). */
export const DEFAULT_SCAN_UNIT_IDS: readonly number[] = [1, 2, 3, 126, 247];

/** Options of {@link scanModbus}. Durations in ms. */
export interface ModbusScanOptions {
  /** IPv4 address or CIDR range (at most {@link MAX_SCAN_HOSTS} hosts). */
  readonly cidr: string;
  readonly ports?: readonly number[];
  readonly unitIds?: readonly number[];
  /** Per request on the wire (default 1000). A unit that does not answer within it is taken as absent. */
  readonly timeoutMs?: number;
  /** Per TCP connect (default 1000). */
  readonly connectTimeoutMs?: number;
  /** No new read is started on a host after this much time probing it (default 15 000; rate-limit waits not counted). */
  readonly hostBudgetMs?: number;
  /** Hosts probed at the same time (default 32). */
  readonly concurrency?: number;
  /** New TCP connections started per second across the scan (default 100). */
  readonly connectsPerSecond?: number;
  readonly signal?: AbortSignal;
  readonly log?: Logger;
  readonly onProgress?: (progress: ScanProgress) => void;
  /** Monotonic clock, ms (default performance.now). */
  readonly now?: () => number;
}

/** Progress after each host. */
export interface ScanProgress {
  readonly hostsDone: number;
  readonly hostsTotal: number;
  readonly found: number;
  readonly host: string;
}

/** What one unit id answered. */
export interface UnitReport {
  readonly unitId: number;
  readonly outcome: 'identified' | 'unidentified' | 'no-answer' | 'duplicate';
  readonly detail: string;
}

/** Why probing a port ended. */
export type PortOutcome =
  | 'found'
  | 'no-device'
  | 'refused'
  | 'unreachable'
  | 'connect-timeout'
  | 'silent'
  | 'reset'
  | 'not-modbus'
  | 'budget-exhausted'
  | 'aborted';

/** One host:port of the scan. */
export interface PortReport {
  readonly host: string;
  readonly port: number;
  readonly outcome: PortOutcome;
  readonly units: readonly UnitReport[];
  /** Time spent on this port by the scan's clock. */
  readonly elapsedMs: number;
  readonly detail?: string;
}

/** The result of a scan: the candidates and one report per host:port attempted (or skipped by an abort). */
export interface ModbusScanResult {
  readonly candidates: readonly Candidate[];
  readonly ports: readonly PortReport[];
  readonly hostsTotal: number;
  /** Per host: time spent probing its ports by the scan's clock (waits for the rate limiter not counted). */
  readonly hostElapsedMs: ReadonlyMap<string, number>;
  /**
   * Per host that got at least one read: its time on the host when its last read started. Never above the budget:
   * the scan starts no read once a host's budget is spent.
   */
  readonly lastReadAtMs: ReadonlyMap<string, number>;
  /**
   * The most time one host should take: the budget plus the read started just before it ran out (a connect and a
   * request), before teardown and timer lateness on a loaded machine.
   */
  readonly worstCaseHostMs: number;
  readonly aborted: boolean;
  readonly elapsedMs: number;
}

class StopProbing extends Error {
  override readonly name = 'StopProbing';
  constructor(readonly reason: 'budget-exhausted' | 'aborted') {
    super(reason);
  }
}

function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Spaces the starts of new connections: at most `perSecond`, evenly. */
class ConnectRate {
  private nextAtMs = Number.NEGATIVE_INFINITY;
  private readonly intervalMs: number;

  constructor(
    perSecond: number,
    private readonly now: () => number,
  ) {
    this.intervalMs = 1_000 / perSecond;
  }

  async acquire(signal: AbortSignal | undefined): Promise<void> {
    const t = this.now();
    const at = Math.max(t, this.nextAtMs);
    this.nextAtMs = at + this.intervalMs;
    await abortableSleep(at - t, signal);
  }
}

function positiveInt(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max)
    throw new RangeError(`${name} must be an integer 1..${max}, got ${value}`);
  return value;
}

const hex = (words: readonly number[]): string => words.map((w) => w.toString(16).padStart(4, '0')).join('');

/**
 * Scans a range for Modbus TCP devices. For every host (up to `concurrency` at once) and port, each unit id gets the
 * SunSpec discovery walk (marker at 40000, 50000, 0) and, without a chain, the fingerprints of our non-SunSpec
 * profiles; the first read of a unit that times out marks the unit absent. A unit identical to an earlier one of
 * the same port (a device that answers every unit id) is reported once. Nothing is ever written.
 */
export async function scanModbus(options: ModbusScanOptions): Promise<ModbusScanResult> {
  const hosts = cidrHosts(options.cidr, MAX_SCAN_HOSTS);
  const ports = options.ports ?? DEFAULT_SCAN_PORTS;
  const unitIds = options.unitIds ?? DEFAULT_SCAN_UNIT_IDS;
  ports.forEach((p) => positiveInt('port', p, 65_535));
  unitIds.forEach((u) => {
    if (!Number.isInteger(u) || u < 0 || u > 255) throw new RangeError(`unit id must be an integer 0..255, got ${u}`);
  });
  const timeoutMs = positiveInt('timeoutMs', options.timeoutMs ?? 1_000, 60_000);
  const connectTimeoutMs = positiveInt('connectTimeoutMs', options.connectTimeoutMs ?? 1_000, 60_000);
  const hostBudgetMs = positiveInt('hostBudgetMs', options.hostBudgetMs ?? 15_000, 3_600_000);
  const concurrency = positiveInt('concurrency', options.concurrency ?? 32, 1_024);
  const rate = new ConnectRate(
    positiveInt('connectsPerSecond', options.connectsPerSecond ?? 100, 100_000),
    options.now ?? (() => performance.now()),
  );
  const now = options.now ?? (() => performance.now());
  const log = options.log ?? pino({ level: 'silent' });
  // our own signal, followed by the caller's: every waiting worker listens on it, more than Node's default 10
  const inner = new AbortController();
  setMaxListeners(concurrency * 2 + 10, inner.signal);
  const forwardAbort = (): void => inner.abort();
  if (options.signal?.aborted) inner.abort();
  options.signal?.addEventListener('abort', forwardAbort, { once: true });
  const signal = inner.signal;
  const startedMs = now();

  const reports: PortReport[] = [];
  const candidates: Candidate[] = [];
  const hostElapsedMs = new Map<string, number>();
  const lastReadAtMs = new Map<string, number>();
  let next = 0;
  let hostsDone = 0;

  const scanHost = async (host: string): Promise<void> => {
    // time on the host: the ports' probing, not the waits for a connection slot of the rate limit
    let spentMs = 0;
    for (const port of ports) {
      if (signal?.aborted) {
        reports.push({ host, port, outcome: 'aborted', units: [], elapsedMs: 0 });
        continue;
      }
      await rate.acquire(signal);
      if (signal?.aborted) {
        reports.push({ host, port, outcome: 'aborted', units: [], elapsedMs: 0 });
        continue;
      }
      const portStartMs = now();
      const result = await scanPort(host, port, () => spentMs + (now() - portStartMs));
      const elapsedMs = now() - portStartMs;
      spentMs += elapsedMs;
      reports.push({ ...result, host, port, elapsedMs });
    }
    hostElapsedMs.set(host, spentMs);
  };

  const scanPort = async (
    host: string,
    port: number,
    spentOnHostMs: () => number,
  ): Promise<Omit<PortReport, 'host' | 'port' | 'elapsedMs'>> => {
    const units: UnitReport[] = [];
    const seen: { unitId: number; signature: string }[] = [];
    const pool = new ModbusPool({
      log: log.child({ component: 'modbus-scan' }),
      timeoutMs,
      retry: { attempts: 1 },
      // a scan decides itself when a unit is gone; the breaker must not turn timeouts into fast failures
      breaker: { consecutiveFailures: 1_000_000, halfOpenAfterMs: 1_000 },
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
    });
    const endpoint = { transport: 'tcp', host, port, connectTimeoutMs } as const;
    try {
      for (const unitId of unitIds) {
        const client = pool.client(endpoint, unitId);
        // read-only view with the budget and the abort checked before every read
        const reader: RegisterReader = {
          read: (range: ModbusReadRange) => {
            if (signal?.aborted) return Promise.reject(new StopProbing('aborted'));
            const spent = spentOnHostMs();
            if (spent > hostBudgetMs) return Promise.reject(new StopProbing('budget-exhausted'));
            lastReadAtMs.set(host, spent);
            return client.read(range);
          },
        };
        const outcome = await probeUnit(reader, host, port, unitId, seen);
        units.push(outcome.report);
        if (outcome.candidate) candidates.push(outcome.candidate);
      }
    } catch (err) {
      return { outcome: classify(err, units), units, detail: err instanceof Error ? err.message : String(err) };
    } finally {
      await pool.close();
    }
    if (units.some((u) => u.outcome === 'identified')) return { outcome: 'found', units };
    if (units.every((u) => u.outcome === 'no-answer')) return { outcome: 'silent', units };
    return { outcome: 'no-device', units };
  };

  const probeUnit = async (
    reader: RegisterReader,
    host: string,
    port: number,
    unitId: number,
    seen: { unitId: number; signature: string }[],
  ): Promise<{ report: UnitReport; candidate?: Candidate }> => {
    const where = `${host}:${port} unit ${unitId}`;
    let chain;
    try {
      chain = await discoverSunSpec(reader);
    } catch (err) {
      if (err instanceof ModbusTimeoutError)
        return { report: { unitId, outcome: 'no-answer', detail: `no answer within ${timeoutMs} ms` } };
      throw err;
    }
    const duplicateOf = (signature: string): number | undefined => {
      const earlier = seen.find((s) => s.signature === signature)?.unitId;
      if (earlier === undefined) seen.push({ unitId, signature });
      return earlier;
    };
    const connection = { protocol: 'modbus-tcp', host, port, unitId } as const;
    if (chain.kind === 'found') {
      const identity = await interrogateSunSpec(reader, chain.baseAddress, chain.models);
      const earlier = duplicateOf(
        `sunspec:${identity.serial ?? ''}:${chain.models.map((m) => `${m.id}@${m.address}`).join(',')}`,
      );
      if (earlier !== undefined) {
        return {
          report: {
            unitId,
            outcome: 'duplicate',
            detail: `same SunSpec device as unit ${earlier} (it answers every unit id)`,
          },
        };
      }
      const name = [identity.manufacturer, identity.model].filter(Boolean).join(' ') || 'SunSpec device';
      return {
        report: {
          unitId,
          outcome: 'identified',
          detail: `SunSpec ${name}${identity.profileId ? ` → ${identity.profileId}` : ''}`,
        },
        candidate: finishCandidate({
          source: 'modbus',
          kind: identity.kind,
          ...(identity.profileId ? { profileId: identity.profileId } : {}),
          connection,
          identity: {
            ...(identity.manufacturer ? { manufacturer: identity.manufacturer } : {}),
            ...(identity.model ? { model: identity.model } : {}),
            ...(identity.serial ? { serial: identity.serial } : {}),
            host,
          },
          confidence: identity.confidence,
          evidence: [`Modbus TCP ${where}`, ...identity.evidence],
          label: `${name} at ${host}:${port}/${unitId}`,
        }),
      };
    }
    const tried: string[] = [chain.detail];
    for (const fingerprint of FINGERPRINTS) {
      const result = await tryFingerprint(reader, fingerprint);
      if (!result.matched) {
        tried.push(`${fingerprint.profileId}: ${result.failed}`);
        continue;
      }
      const earlier = duplicateOf(`${fingerprint.profileId}:${hex(result.words)}`);
      if (earlier !== undefined) {
        return {
          report: {
            unitId,
            outcome: 'duplicate',
            detail: `same ${fingerprint.label} as unit ${earlier} (it answers every unit id)`,
          },
        };
      }
      return {
        report: { unitId, outcome: 'identified', detail: `${fingerprint.label} → ${fingerprint.profileId}` },
        candidate: finishCandidate({
          source: 'modbus',
          kind: assetKindOfProfile(fingerprint.profileId),
          profileId: fingerprint.profileId,
          connection,
          identity: { host },
          confidence: fingerprint.confidence,
          evidence: [
            `Modbus TCP ${where}`,
            `no SunSpec chain (${chain.detail})`,
            `fingerprint ${fingerprint.profileId}:`,
            ...result.evidence,
          ],
          label: `${fingerprint.label} at ${host}:${port}/${unitId}`,
        }),
      };
    }
    return {
      report: {
        unitId,
        outcome: 'unidentified',
        detail: `answers Modbus but matched no fingerprint (${tried.join('; ')})`,
      },
    };
  };

  const worker = async (): Promise<void> => {
    for (let index = next++; index < hosts.length; index = next++) {
      const host = hosts[index];
      if (host === undefined) break;
      await scanHost(host);
      hostsDone += 1;
      options.onProgress?.({ hostsDone, hostsTotal: hosts.length, found: candidates.length, host });
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, hosts.length) }, worker));
  } finally {
    options.signal?.removeEventListener('abort', forwardAbort);
  }
  log.info(
    { cidr: options.cidr, hosts: hosts.length, found: candidates.length, aborted: signal?.aborted ?? false },
    'modbus scan done',
  );
  return {
    candidates,
    ports: reports,
    hostsTotal: hosts.length,
    hostElapsedMs,
    lastReadAtMs,
    worstCaseHostMs: hostBudgetMs + connectTimeoutMs + timeoutMs,
    aborted: signal?.aborted ?? false,
    elapsedMs: now() - startedMs,
  };
}

function classify(err: unknown, units: readonly UnitReport[]): PortOutcome {
  if (err instanceof StopProbing) return err.reason;
  if (err instanceof ModbusConnectionError) {
    if (units.length > 0) return 'reset';
    if (err.reason === 'connect-timeout') return 'connect-timeout';
    if (err.reason === 'connect-failed') {
      if (/ECONNREFUSED/.test(err.message)) return 'refused';
      // accepted, then reset or closed before the first answer: something listens but drops us
      return /ECONNRESET|EPIPE|closed|hang up/i.test(err.message) ? 'reset' : 'unreachable';
    }
    return 'reset';
  }
  return 'not-modbus';
}
