import { BusReplyRejectedError, BusRequestFailedError, createBus } from '@voltimax/bus';
import {
  formatIssues,
  StrategyHistoryImportRequestSchema,
  subjects,
  type StrategyHistoryImportReply,
  type StrategyHistoryImportRequest,
} from '@voltimax/contracts';
import { isMissingValue, parseIsoTimestamp } from '@voltimax/sim';
import { pino } from 'pino';
import { CliExit, cliUser, type CliIo } from '../io';
import { connectAsCli, defaultArbiterCliDeps, intOption, type ArbiterCliDeps } from './arbiter-nats';

/** Exit codes of `voltimax strategy import-history`: 0 imported, 1 refused, 2 bad input / no connection, 3 no engine. */
export const IMPORT_HISTORY_EXIT = { refused: 1, usage: 2, noEngine: 3 } as const;

type PastReading = StrategyHistoryImportRequest['readings'][number];

/** The most readings one request carries (the contract's limit, under NATS's 1 MB payload): the latest are kept. */
const MAX_READINGS = 10_000;
/** Largest power a reading may carry, W (the contract's bound). */
const MAX_POWER_W = 10_000_000;

/**
 * The backtest's series format as readings, net demand = load − PV. Each row is read on its own, as the utility
 * format's are: a missing interval is simply not there, and a row with an empty load or PV (or NaN, null, NA) is left
 * out — the planners learn from what was measured, never from a value made up for a hole. Anything else that is not
 * a number, or a bad time, is refused naming the line.
 */
function seriesReadings(lines: readonly string[], header: readonly string[]): PastReading[] {
  const at = (name: string): number => header.indexOf(name);
  if (header[0] !== 'timestamp' || at('pv_w') < 0) {
    throw new Error(`line 1: expected the header timestamp,load_w,pv_w,price_eur_per_mwh, got '${lines[0] ?? ''}'`);
  }
  const readings: PastReading[] = [];
  lines.slice(1).forEach((line, i) => {
    const cells = line.split(',').map((c) => c.trim());
    const atMs = parseIsoTimestamp(cells[0] ?? '');
    if (atMs === null || atMs < 0) throw new Error(`line ${i + 2}: timestamp '${cells[0] ?? ''}' is not an ISO-8601 time`);
    const values = (['load_w', 'pv_w'] as const).map((column) => {
      const raw = cells[at(column)] ?? '';
      if (isMissingValue(raw)) return undefined;
      const w = Number(raw);
      if (!Number.isFinite(w) || w < 0 || w > MAX_POWER_W) throw new Error(`line ${i + 2}: ${column} '${raw}' is not a power in W (0 … 10 MW)`);
      return w;
    });
    const [loadW, pvW] = values;
    if (loadW !== undefined && pvW !== undefined) readings.push({ atMs, netW: loadW - pvW });
  });
  return readings;
}

/**
 * Past readings from a CSV: either the backtest's series format (`timestamp,load_w,pv_w,price_eur_per_mwh`; net demand
 * = load − PV, no battery then) or `timestamp,net_w[,grid_w]` (e.g. a utility export: net demand, and grid power when
 * a battery was already shaving). Timestamps are interval starts, ISO-8601. Throws an Error naming the line.
 */
export function parsePastReadingsCsv(text: string): PastReading[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').split(',').map((h) => h.trim());
  if (header.includes('load_w')) return seriesReadings(lines, header);
  if (header[0] !== 'timestamp' || header[1] !== 'net_w' || (header.length === 3 && header[2] !== 'grid_w') || header.length > 3) {
    throw new Error(`line 1: expected the header timestamp,net_w[,grid_w] or timestamp,load_w,pv_w,price_eur_per_mwh, got '${lines[0] ?? ''}'`);
  }
  return lines.slice(1).map((line, i) => {
    const cells = line.split(',').map((c) => c.trim());
    const atMs = parseIsoTimestamp(cells[0] ?? '');
    const netW = Number(cells[1]);
    const gridW = cells[2] === undefined || cells[2] === '' ? undefined : Number(cells[2]);
    if (atMs === null) throw new Error(`line ${i + 2}: timestamp '${cells[0] ?? ''}' is not an ISO-8601 time`);
    if (cells[1] === '' || !Number.isFinite(netW)) throw new Error(`line ${i + 2}: net_w '${cells[1] ?? ''}' is not a number`);
    if (gridW !== undefined && !Number.isFinite(gridW)) throw new Error(`line ${i + 2}: grid_w '${cells[2] ?? ''}' is not a number`);
    if (atMs < 0) throw new Error(`line ${i + 2}: timestamp '${cells[0] ?? ''}' is before 1970`);
    for (const [column, w] of [['net_w', netW], ['grid_w', gridW ?? 0]] as const) {
      if (Math.abs(w) > MAX_POWER_W) throw new Error(`line ${i + 2}: ${column} ${w} W is beyond ±10 MW`);
    }
    return { atMs, netW, ...(gridW !== undefined ? { gridW } : {}) };
  });
}

export interface ImportHistoryOptions {
  readonly replace?: boolean;
  readonly timeoutMs?: string;
  readonly json?: boolean;
}

/** `voltimax strategy import-history <csv>`: commission the strategy engine's planners with past readings. */
export async function strategyImportHistory(
  io: CliIo,
  file: string,
  opts: ImportHistoryOptions,
  deps: ArbiterCliDeps = defaultArbiterCliDeps(),
): Promise<void> {
  const name = 'strategy import-history';
  const timeoutMs = intOption(io, name, '--timeout-ms', opts.timeoutMs, 10_000, 100, 120_000);
  let readings: PastReading[];
  try {
    readings = parsePastReadingsCsv(await io.readFile(file));
  } catch (err) {
    io.stderr(`voltimax ${name}: ${file}: ${(err as Error).message}\n`);
    throw new CliExit(IMPORT_HISTORY_EXIT.usage);
  }
  if (readings.length < 2) {
    io.stderr(`voltimax ${name}: ${file} holds ${readings.length} reading(s); at least two are needed\n`);
    throw new CliExit(IMPORT_HISTORY_EXIT.usage);
  }
  const latest = [...readings].sort((a, b) => a.atMs - b.atMs).slice(-MAX_READINGS);
  const request = { v: 1 as const, readings: latest, ...(opts.replace ? { replace: true } : {}), requestedBy: cliUser(), sentAtMs: deps.now() };
  const checked = StrategyHistoryImportRequestSchema.safeParse(request);
  if (!checked.success) {
    io.stderr(`voltimax ${name}: ${file}: ${formatIssues(checked.error.issues).map((p) => `${p.path}: ${p.message}`).join('; ')}\n`);
    throw new CliExit(IMPORT_HISTORY_EXIT.usage);
  }

  const { nc, source } = await connectAsCli(io, deps, name);
  try {
    const bus = createBus(nc, pino({ level: 'silent' }));
    let reply: StrategyHistoryImportReply;
    try {
      reply = await bus.request(
        subjects.gatewayStrategyHistoryImport,
        {},
        checked.data,
        { timeoutMs },
      );
    } catch (err) {
      if (err instanceof BusRequestFailedError) {
        io.stderr(`voltimax ${name}: no answer on ${subjects.gatewayStrategyHistoryImport.pattern} at ${source} (${err.reason}): is the strategy-engine running?\n`);
        throw new CliExit(IMPORT_HISTORY_EXIT.noEngine);
      }
      if (err instanceof BusReplyRejectedError) {
        io.stderr(`voltimax ${name}: the strategy-engine refused the request: ${err.reason}\n`);
        throw new CliExit(IMPORT_HISTORY_EXIT.refused);
      }
      throw err;
    }
    if (opts.json) io.stdout(`${JSON.stringify(reply)}\n`);
    if (reply.outcome === 'refused') {
      io.stderr(`voltimax ${name}: refused: ${reply.reason ?? 'no reason given'}\n`);
      // The engine names its request field; say which option of this command sets it.
      if (!opts.replace && /\breplace\b/.test(reply.reason ?? ''))
        io.stderr(`to overwrite them: voltimax ${name} ${file} --replace\n`);
      throw new CliExit(IMPORT_HISTORY_EXIT.refused);
    }
    if (!opts.json) {
      io.stdout(
        `imported ${latest.length} readings: the planners now know ${reply.days} complete day${reply.days === 1 ? '' : 's'} and a peak of ${(reply.monthPeakW / 1000).toFixed(2)} kW in ${reply.monthKey ?? 'no month yet'}` +
          `${reply.saved ? '' : ' (not saved yet: the history store is not reachable; the engine saves it once the store answers)'}\n`,
      );
    }
  } finally {
    await nc.close().catch(() => undefined);
  }
}
