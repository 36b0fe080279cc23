import { jetstreamManager, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { createBus } from '@voltimax/bus';
import {
  ArbiterDecisionSchema,
  AssetIdSchema,
  kvBuckets,
  streams,
  subjects,
  type ArbiterDecision,
} from '@voltimax/contracts';
import type { Command } from 'commander';
import { pino } from 'pino';
import { CliExit, type CliIo } from '../io';
import { formatDecision, isInForce } from './arbiter-format';
import { z } from 'zod';
import {
  connectAsCli,
  defaultArbiterCliDeps,
  intOption,
  isPermissionError,
  readRunningConfig,
  type ArbiterCliDeps,
} from './arbiter-nats';

/** Options of `voltimax arbiter why`. */
export interface WhyOptions {
  /** How many decisions (text from the command line). */
  readonly last?: string;
  /** Live fallback: how long to listen, ms. */
  readonly waitMs?: string;
  readonly json?: boolean;
}

/** The one JetStream API the reading needs (read-only): `$JS.API.STREAM.MSG.GET.AUDIT`. */
export const AUDIT_READ_PERMISSION = `$JS.API.STREAM.MSG.GET.${streams.audit.name}`;

/** Reads one asset's decisions from stream AUDIT with "get message" requests only (no consumer). */
interface AuditReader {
  /** The asset's newest message, or null. */
  last(): Promise<StoredMsg | null>;
  /** The asset's last message before sequence `before`, or null. */
  previous(before: number): Promise<StoredMsg | null>;
}

async function auditReader(nc: NatsConnection, assetId: string, timeoutMs: number): Promise<AuditReader> {
  const jsm: JetStreamManager = await jetstreamManager(nc, { timeout: timeoutMs });
  const stream = streams.audit.name;
  const subject = subjects.arbiterDecision.format({ assetId });
  const firstFrom = new Map<number, StoredMsg | null>();
  /** The first message of the subject at or after `seq`. */
  const from = async (seq: number): Promise<StoredMsg | null> => {
    const cached = firstFrom.get(seq);
    if (cached !== undefined) return cached;
    // `next_by_subj` is accepted by STREAM.MSG.GET since nats-server 2.9; the client types only list seq/last_by_subj.
    const query = { seq, next_by_subj: subject } as { seq: number };
    const found = await jsm.streams.getMessage(stream, query);
    firstFrom.set(seq, found);
    return found;
  };
  // From `before` it gallops backwards (1, 2, 4 … sequences) and bisects to the previous message of the subject:
  // O(log gap) requests.
  const previous = async (before: number): Promise<StoredMsg | null> => {
    let hi = before;
    for (let step = 1; ; step *= 2) {
      const lo = Math.max(1, before - step);
      const hit = await from(lo);
      if (hit !== null && hit.seq < before) {
        // Largest a in [lo, hi) whose first match lies before `before`.
        let a = lo;
        let b = hi;
        while (b - a > 1) {
          const mid = Math.floor((a + b) / 2);
          const m = await from(mid);
          if (m !== null && m.seq < before) a = mid;
          else b = mid;
        }
        return from(a);
      }
      if (lo === 1) return null;
      hi = lo;
    }
  };
  return { last: () => jsm.streams.getMessage(stream, { last_by_subj: subject }), previous };
}

function decodeDecision(msg: StoredMsg): ArbiterDecision | undefined {
  try {
    const parsed = ArbiterDecisionSchema.safeParse(msg.json());
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function isMsgInForce(msg: StoredMsg): boolean {
  const decision = decodeDecision(msg);
  return decision !== undefined && isInForce(decision);
}

/**
 * The last `count` decisions for one asset from stream AUDIT, oldest first. Costs O(count · log gap) "get message"
 * requests (`last_by_subj`, and `next_by_subj` from a sequence) and creates no consumer. With `inForceWithin` > 0,
 * when none of them is in force (all superseded or refused), the one in force is looked for up to that many
 * decisions further back and put first.
 */
export async function readAuditDecisions(
  nc: NatsConnection,
  assetId: string,
  count: number,
  timeoutMs = 3_000,
  inForceWithin = 0,
): Promise<ArbiterDecision[]> {
  const reader = await auditReader(nc, assetId, timeoutMs);
  const last = await reader.last();
  if (last === null) return [];
  const found: StoredMsg[] = [last];
  while (found.length < count) {
    const first = found[0];
    if (first === undefined) break;
    const prev = await reader.previous(first.seq);
    if (prev === null) break;
    found.unshift(prev);
  }
  // Every decision shown superseded or refused (a manual intent holds and the strategy's keep coming): the one in
  // force too.
  if (inForceWithin > 0 && !found.some(isMsgInForce)) {
    let oldest = found[0];
    for (let scanned = 0; oldest !== undefined && scanned < inForceWithin; scanned += 1) {
      const prev = await reader.previous(oldest.seq);
      if (prev === null) break;
      if (isMsgInForce(prev)) {
        found.unshift(prev);
        break;
      }
      oldest = prev;
    }
  }
  return found.flatMap((msg) => {
    const decision = decodeDecision(msg);
    return decision === undefined ? [] : [decision];
  });
}

/** A decision in force for an asset, where it lies in stream AUDIT, and how far the search for it read. */
export interface InForceDecision {
  readonly decision: ArbiterDecision;
  /** Its sequence in AUDIT. */
  readonly seq: number;
  /** The asset's newest sequence when it was found: the decisions after `seq` up to this one are not in force. */
  readonly checkedSeq: number;
}

/**
 * The asset's decision in force from stream AUDIT: the newest decision that says what holds (not superseded, not
 * refused at the door), looked for from the newest back over at most `within` decisions; undefined if none.
 * `known` is an earlier answer for the same asset: the walk stops where that search began (`checkedSeq`) and returns
 * it when nothing newer is in force. So a caller asking again and again (the live monitor, every few seconds while a
 * manual intent holds and the strategy's intents keep being superseded) reads only the decisions that came since, not
 * the whole run of superseded ones, and keeps its answer after that run has grown past `within`. When the asset's
 * newest sequence is below `known.checkedSeq` the stream was recreated and `known` is ignored.
 */
export async function findInForceDecision(
  nc: NatsConnection,
  assetId: string,
  opts: { readonly timeoutMs?: number; readonly within: number; readonly known?: InForceDecision },
): Promise<InForceDecision | undefined> {
  const reader = await auditReader(nc, assetId, opts.timeoutMs ?? 3_000);
  const newest = await reader.last();
  if (newest === null) return undefined;
  const known = opts.known !== undefined && opts.known.checkedSeq <= newest.seq ? opts.known : undefined;
  let msg: StoredMsg | null = newest;
  for (let scanned = 0; msg !== null && scanned <= opts.within; scanned += 1) {
    if (known !== undefined && msg.seq <= known.checkedSeq) return { ...known, checkedSeq: newest.seq };
    const decision = decodeDecision(msg);
    if (decision !== undefined && isInForce(decision)) return { decision, seq: msg.seq, checkedSeq: newest.seq };
    msg = await reader.previous(msg.seq);
  }
  return msg !== null && known !== undefined && msg.seq <= known.checkedSeq
    ? { ...known, checkedSeq: newest.seq }
    : undefined;
}

/** When every decision shown is `superseded`, how far back `why` looks for the one in force (decisions). */
export const IN_FORCE_WITHIN = 2_000;

/** Only the asset ids of a stored configuration (the rest is not this command's to validate). */
const AssetIdsSchema = z.object({ assets: z.array(z.object({ id: z.string() })) });

/**
 * Why an asset with no decisions has none, when the running configuration (KV `config`) says it is not one of the
 * site's: the message naming the site's assets. `undefined` when it is one of them or the configuration cannot be read.
 */
async function notAnAsset(
  nc: NatsConnection,
  env: ArbiterCliDeps['env'],
  assetId: string,
): Promise<string | undefined> {
  try {
    const { raw, key } = await readRunningConfig(nc, env);
    const parsed = AssetIdsSchema.safeParse(raw);
    if (!parsed.success) return undefined;
    const ids = parsed.data.assets.map((a) => a.id);
    if (ids.includes(assetId)) return undefined;
    return `voltimax arbiter why: '${assetId}' is not an asset of the running configuration (KV ${kvBuckets.config}/${key}); its assets: ${ids.length === 0 ? '(none)' : ids.join(', ')}\n`;
  } catch {
    return undefined;
  }
}

/**
 * `voltimax arbiter why <asset> [--last N] [--wait-ms N] [--json]`: the last N decisions of the safety-arbiter for the
 * asset from stream AUDIT, each as requested → applied with every rule that clipped it (limit and value); when all N
 * are `superseded` (a manual intent holds), the one in force first. If this
 * NATS user may not read AUDIT (it needs `$JS.API.STREAM.MSG.GET.AUDIT`), it says so and listens live on
 * `arbiter.decision.<asset>` for `--wait-ms` instead. Exit 2 when NATS cannot be reached or an option is invalid; exit 1
 * when there are no decisions for the asset and the running configuration (KV `config`) has no such asset (it lists
 * the site's assets). An asset removed from the configuration still shows the decisions AUDIT keeps.
 */
export async function arbiterWhy(
  io: CliIo,
  assetId: string,
  opts: WhyOptions,
  deps: ArbiterCliDeps = defaultArbiterCliDeps(),
): Promise<void> {
  const last = intOption(io, 'arbiter why', '--last', opts.last, 10, 1, 1_000);
  const waitMs = intOption(io, 'arbiter why', '--wait-ms', opts.waitMs, 5_000, 0, 3_600_000);
  if (!AssetIdSchema.safeParse(assetId).success) {
    io.stderr(`voltimax arbiter why: '${assetId}' is not an asset id (a-z, 0-9, '_' or '-')\n`);
    throw new CliExit(2);
  }
  const { nc, user } = await connectAsCli(io, deps, 'arbiter why');
  const print = (decisions: readonly ArbiterDecision[], from: 'audit' | 'live') => {
    if (opts.json) io.stdout(`${JSON.stringify({ assetId, from, decisions })}\n`);
    else
      decisions.forEach((decision, index) => {
        const next = decisions[index + 1];
        io.stdout(formatDecision(decision));
        // The decision in force, found behind more superseded (or refused) ones than asked for.
        if (from === 'audit' && decisions.length > last && index === 0 && next !== undefined)
          io.stdout(
            decisions.slice(1).every((d) => d.outcome === 'superseded')
              ? `  (in force; later intents superseded by it, the newest ${decisions.length - 1} below)\n`
              : `  (in force; later intents superseded by it or refused, the newest ${decisions.length - 1} below)\n`,
          );
      });
  };
  try {
    let fallbackReason: string;
    try {
      const decisions = await readAuditDecisions(nc, assetId, last, 3_000, IN_FORCE_WITHIN);
      const unknown = decisions.length === 0 ? await notAnAsset(nc, deps.env, assetId) : undefined;
      if (unknown !== undefined) {
        io.stderr(unknown);
        throw new CliExit(1);
      }
      if (decisions.length === 0 && !opts.json)
        io.stderr(`no decisions for ${assetId} in stream ${streams.audit.name}\n`);
      print(decisions, 'audit');
      return;
    } catch (err) {
      if (err instanceof CliExit) throw err;
      fallbackReason = isPermissionError(err)
        ? `NATS user ${user ?? '(anonymous)'} may not read stream ${streams.audit.name} (it needs publish permission on ${AUDIT_READ_PERMISSION})`
        : `stream ${streams.audit.name} could not be read: ${err instanceof Error ? err.message : String(err)}`;
    }
    const unknown = await notAnAsset(nc, deps.env, assetId);
    if (unknown !== undefined) {
      io.stderr(`${fallbackReason}\n${unknown}`);
      throw new CliExit(1);
    }
    io.stderr(
      `${fallbackReason}; listening live on ${subjects.arbiterDecision.format({ assetId })} for ${waitMs} ms instead\n`,
    );
    const bus = createBus(nc, pino({ level: 'silent' }));
    const live: ArbiterDecision[] = [];
    const off = bus.subscribe(subjects.arbiterDecision, (decision) => {
      if (decision.assetId !== assetId || live.length >= last) return;
      live.push(decision);
      if (!opts.json) io.stdout(formatDecision(decision));
    });
    await nc.flush();
    const startedAtMs = deps.now();
    while (deps.now() - startedAtMs < waitMs && live.length < last) await deps.delay(50);
    off();
    if (opts.json) print(live, 'live');
    else if (live.length === 0) io.stderr(`no decisions for ${assetId} within ${waitMs} ms\n`);
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** Adds `arbiter why` to the program. */
export function registerArbiterCommand(program: Command, io: CliIo, deps?: ArbiterCliDeps): void {
  program
    .command('arbiter')
    .description('the safety-arbiter’s decisions (stream AUDIT; NATS_URL, NATS_USER/NATS_PASS)')
    .command('why')
    .description(
      'the last decisions for an asset: requested → applied, with every rule that clipped it (limit and value)',
    )
    .argument('<asset>', 'asset id')
    .option('--last <n>', 'how many decisions', '10')
    .option('--wait-ms <ms>', 'when AUDIT cannot be read: how long to listen live', '5000')
    .option('--json', 'machine-readable output')
    .action((asset: string, opts: WhyOptions) => arbiterWhy(io, asset, opts, deps));
}
