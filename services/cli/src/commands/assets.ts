import { closeSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { AssetConfig, SiteConfig } from '@voltimax/contracts';
import type { Command } from 'commander';
import { CliExit, type CliIo } from '../io';
import { validateSiteConfigText } from './config-validate';
import { formatTable } from './device-modbus';
import { deviceRead } from './device-read';

/** Writes a whole file so that a reader sees the old or the new content, never a part (temp file, fsync, rename). */
export type WriteFileAtomic = (path: string, text: string) => void;

export const writeFileAtomic: WriteFileAtomic = (path, text) => {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  let mode = 0o644;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    // a new file: the default mode
  }
  const fd = openSync(temporary, 'w', mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(temporary, path);
  } catch (err) {
    rmSync(temporary, { force: true });
    throw err;
  }
};

/** Options shared by the `voltimax assets` commands. */
export interface AssetsOptions {
  readonly site: string;
  readonly json?: boolean;
}

/** Flags of `voltimax assets add` (all text, as commander gives them). */
export interface AssetAddOptions {
  readonly site: string;
  /** A JSON asset object, or `@<file>` to read it from a file. */
  readonly asset?: string;
  readonly id?: string;
  readonly name?: string;
  readonly kind?: string;
  readonly profile?: string;
  readonly protocol?: string;
  readonly host?: string;
  readonly port?: string;
  readonly unitId?: string;
  readonly device?: string;
  readonly baudRate?: string;
  readonly parity?: string;
  readonly baseUrl?: string;
  readonly topicPrefix?: string;
  readonly chargePointId?: string;
  readonly pollIntervalMs?: string;
  readonly disabled?: boolean;
  readonly capacityWh?: string;
  readonly maxChargeW?: string;
  readonly maxDischargeW?: string;
  readonly minSocPct?: string;
  readonly maxSocPct?: string;
  readonly reserveSocPct?: string;
  readonly ratedPowerW?: string;
  readonly minCurrentA?: string;
  readonly maxCurrentA?: string;
  readonly phases?: string;
  readonly measures?: string;
}

type Json = Record<string, unknown>;

interface LoadedSite {
  readonly raw: Json & { assets: Json[] };
  readonly site: SiteConfig;
}

function fail(io: CliIo, message: string, exitCode: number): never {
  io.stderr(`${message}\n`);
  throw new CliExit(exitCode);
}

async function loadSite(io: CliIo, file: string): Promise<LoadedSite> {
  let text: string;
  try {
    text = await io.readFile(file);
  } catch (err) {
    return fail(io, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 2);
  }
  const outcome = validateSiteConfigText(text);
  if (!outcome.ok) {
    io.stderr(`${file} is not a valid site configuration; fix it first (voltimax config validate ${file}):\n`);
    for (const problem of outcome.problems) io.stderr(`  ${problem.path}: ${problem.message}\n`);
    throw new CliExit(1);
  }
  // The raw JSON is what gets written back: keys as the installer wrote them, defaults not expanded.
  const raw = JSON.parse(text) as Json & { assets: Json[] };
  return { raw, site: outcome.site };
}

/** Validates the changed site and writes it atomically; on any problem the file is left as it was. */
function saveSite(io: CliIo, file: string, raw: Json, write: WriteFileAtomic): SiteConfig {
  const text = `${JSON.stringify(raw, null, 2)}\n`;
  const outcome = validateSiteConfigText(text);
  if (!outcome.ok) {
    io.stderr(`not written: the result would not be a valid site configuration:\n`);
    for (const problem of outcome.problems) io.stderr(`  ${problem.path}: ${problem.message}\n`);
    throw new CliExit(1);
  }
  try {
    write(file, text);
  } catch (err) {
    return fail(io, `cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 1);
  }
  return outcome.site;
}

function describeConnection(asset: AssetConfig): string {
  const c = asset.connection;
  switch (c.protocol) {
    case 'modbus-tcp':
    case 'modbus-rtu-tcp':
      return `${c.protocol} ${c.host}:${c.port} unit ${c.unitId}`;
    case 'modbus-rtu':
      return `modbus-rtu ${c.device} ${c.baudRate} unit ${c.unitId}`;
    case 'http':
      return `http ${c.baseUrl}`;
    case 'mqtt':
      return `mqtt ${c.topicPrefix}`;
    case 'ocpp':
      return `ocpp ${c.chargePointId}/${c.connectorId}`;
    case 'simulated':
      return 'simulated';
    case 'plugin':
      return `plugin ${c.driver}`;
  }
}

/** `voltimax assets list --site <file>`: one line per asset (id, kind, profile, connection, poll interval). */
export async function assetsList(io: CliIo, opts: AssetsOptions): Promise<void> {
  const { site } = await loadSite(io, opts.site);
  if (opts.json) {
    io.stdout(`${JSON.stringify(site.assets)}\n`);
    return;
  }
  if (site.assets.length === 0) {
    io.stdout(`${opts.site}: no assets\n`);
    return;
  }
  io.stdout(
    formatTable([
      ['id', 'kind', 'profile', 'connection', 'poll', 'enabled', 'name'],
      ...site.assets.map((a) => [
        a.id,
        a.kind,
        a.profile,
        describeConnection(a),
        `${a.pollIntervalMs} ms`,
        a.enabled ? 'yes' : 'no',
        a.name,
      ]),
    ]),
  );
}

function number(io: CliIo, flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) fail(io, `${flag} must be a number, got '${text}'`, 2);
  return value;
}

/** Only the keys that were given: absent flags stay absent, so the schema's defaults apply when read. */
function defined(entries: Record<string, unknown>): Json | undefined {
  const kept = Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== undefined));
  return Object.keys(kept).length > 0 ? kept : undefined;
}

function assetFromFlags(io: CliIo, o: AssetAddOptions): Json {
  const n = (flag: string, text: string | undefined) => number(io, flag, text);
  const missing = (['id', 'kind', 'profile', 'protocol'] as const).filter((k) => o[k] === undefined);
  if (missing.length > 0) {
    fail(io, `missing ${missing.map((k) => `--${k}`).join(', ')} (or give the whole asset with --asset '<json>')`, 2);
  }
  const connection = defined({
    protocol: o.protocol,
    host: o.host,
    port: n('--port', o.port),
    unitId: n('--unit-id', o.unitId),
    device: o.device,
    baudRate: n('--baud-rate', o.baudRate),
    parity: o.parity,
    baseUrl: o.baseUrl,
    topicPrefix: o.topicPrefix,
    chargePointId: o.chargePointId,
  });
  const battery = defined({
    capacityWh: n('--capacity-wh', o.capacityWh),
    maxChargePowerW: n('--max-charge-w', o.maxChargeW),
    maxDischargePowerW: n('--max-discharge-w', o.maxDischargeW),
    minSocPct: n('--min-soc-pct', o.minSocPct),
    maxSocPct: n('--max-soc-pct', o.maxSocPct),
    reserveSocPct: n('--reserve-soc-pct', o.reserveSocPct),
  });
  const ratedPowerW = n('--rated-power-w', o.ratedPowerW);
  const evCharger = defined({
    minCurrentA: n('--min-current-a', o.minCurrentA),
    maxCurrentA: n('--max-current-a', o.maxCurrentA),
    phases: n('--phases', o.phases),
  });
  return {
    ...defined({
      id: o.id,
      name: o.name ?? o.id,
      kind: o.kind,
      profile: o.profile,
      connection,
      pollIntervalMs: n('--poll-interval-ms', o.pollIntervalMs),
      enabled: o.disabled ? false : undefined,
      measures: o.measures,
      battery,
      pv: ratedPowerW === undefined ? undefined : { ratedPowerW },
      evCharger,
    }),
  };
}

async function assetFromJson(io: CliIo, text: string): Promise<Json> {
  let source = text;
  if (text.startsWith('@')) {
    try {
      source = await io.readFile(text.slice(1));
    } catch (err) {
      return fail(
        io,
        `cannot read ${text.slice(1)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        2,
      );
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(source);
  } catch (err) {
    return fail(io, `--asset is not valid JSON: ${(err as Error).message}`, 2);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return fail(io, '--asset must be one JSON object (an entry of "assets")', 2);
  }
  return parsed as Json;
}

/**
 * `voltimax assets add --site <file> (--asset '<json>' | --asset @file | --id … --kind … --profile … --protocol …)`:
 * appends the asset, validates the whole site against the site schema (strategy blocks included) and writes it
 * atomically. Exit 0 when written, 1 when the result would be invalid (nothing written), 2 for usage problems.
 */
export async function assetsAdd(
  io: CliIo,
  opts: AssetAddOptions,
  write: WriteFileAtomic = writeFileAtomic,
): Promise<void> {
  const { raw } = await loadSite(io, opts.site);
  const asset = opts.asset !== undefined ? await assetFromJson(io, opts.asset) : assetFromFlags(io, opts);
  const index = raw.assets.length;
  const site = saveSite(io, opts.site, { ...raw, assets: [...raw.assets, asset] }, write);
  const added = site.assets[index];
  io.stdout(
    `added ${added?.id ?? String(asset['id'])} (${added?.kind}, ${added?.profile}) to ${opts.site}; ${site.assets.length} assets\n`,
  );
}

/** Ids of the automation rules whose condition or action names `assetId`. */
export function rulesReferencing(site: SiteConfig, assetId: string): string[] {
  return site.rules
    .filter((rule) => [rule.when, rule.then].some((part) => 'assetId' in part && part.assetId === assetId))
    .map((rule) => rule.id);
}

/**
 * `voltimax assets remove <id> --site <file>`: removes the asset unless a rule references it (exit 1, naming the
 * rules) or the site would be invalid without it. Exit 2 for an unknown id.
 */
export async function assetsRemove(
  io: CliIo,
  assetId: string,
  opts: AssetsOptions,
  write: WriteFileAtomic = writeFileAtomic,
): Promise<void> {
  const { raw, site } = await loadSite(io, opts.site);
  if (!site.assets.some((a) => a.id === assetId)) {
    fail(io, `unknown asset '${assetId}'; assets: ${site.assets.map((a) => a.id).join(', ') || 'none'}`, 2);
  }
  const rules = rulesReferencing(site, assetId);
  if (rules.length > 0) {
    fail(
      io,
      `refused: ${assetId} is used by rule${rules.length === 1 ? '' : 's'} ${rules.join(', ')}; change or remove ${rules.length === 1 ? 'it' : 'them'} first`,
      1,
    );
  }
  const remaining = saveSite(io, opts.site, { ...raw, assets: raw.assets.filter((a) => a['id'] !== assetId) }, write);
  io.stdout(`removed ${assetId} from ${opts.site}; ${remaining.assets.length} assets\n`);
}

/** Options of `voltimax assets test`. */
export interface AssetTestOptions {
  readonly site: string;
  readonly timeout: string;
  readonly json?: boolean;
}

/** `voltimax assets test <id> --site <file>`: reads the device once, as `voltimax device read` does (read-only). */
export async function assetsTest(io: CliIo, assetId: string, opts: AssetTestOptions): Promise<void> {
  await deviceRead(io, assetId, undefined, opts);
}

/** Registers `voltimax assets list|add|remove|test`. */
export function registerAssetsCommand(program: Command, io: CliIo, write: WriteFileAtomic = writeFileAtomic): void {
  const assets = program.command('assets').description('the assets of a site configuration (assets.json)');
  assets
    .command('list')
    .description('list the assets: id, kind, profile, connection, poll interval')
    .requiredOption('--site <file>', 'path to assets.json')
    .option('--json', 'machine-readable output (the validated assets, defaults filled in)')
    .action((opts: AssetsOptions) => assetsList(io, opts));
  assets
    .command('add')
    .description('add an asset from flags or a JSON object; the whole site is validated, then written atomically')
    .requiredOption('--site <file>', 'path to assets.json')
    .option('--asset <json>', 'the asset as JSON, or @file: \'{"id":"meter-2","kind":"meter",…}\'')
    .option('--id <id>', 'asset id (lower-case letters, digits, dashes)')
    .option('--name <name>', 'display name (default: the id)')
    .option('--kind <kind>', 'battery | hybrid-inverter | pv-inverter | grid-meter | meter | ev-charger | load')
    .option('--profile <id>', 'device profile, e.g. eastron.sdm630')
    .option('--protocol <protocol>', 'modbus-tcp | modbus-rtu-tcp | modbus-rtu | http | mqtt | ocpp | simulated')
    .option('--host <host>', 'device host (modbus-tcp, modbus-rtu-tcp)')
    .option('--port <port>', 'TCP port')
    .option('--unit-id <id>', 'Modbus unit id')
    .option('--device <path>', 'serial device (modbus-rtu), e.g. /dev/ttyUSB0')
    .option('--baud-rate <baud>', 'serial speed (modbus-rtu)')
    .option('--parity <parity>', 'none | even | odd (modbus-rtu)')
    .option('--base-url <url>', 'device URL (http)')
    .option('--topic-prefix <prefix>', 'topic prefix (mqtt)')
    .option('--charge-point-id <id>', 'charge point identity (ocpp)')
    .option('--poll-interval-ms <ms>', 'poll interval')
    .option('--disabled', 'add it disabled')
    .option('--capacity-wh <Wh>', 'battery: usable capacity')
    .option('--max-charge-w <W>', 'battery: charge power limit')
    .option('--max-discharge-w <W>', 'battery: discharge power limit')
    .option('--min-soc-pct <pct>', 'battery: lowest SoC')
    .option('--max-soc-pct <pct>', 'battery: highest SoC')
    .option('--reserve-soc-pct <pct>', 'battery: backup reserve')
    .option('--rated-power-w <W>', 'pv-inverter / hybrid-inverter: PV rating')
    .option('--min-current-a <A>', 'ev-charger: lowest charging current')
    .option('--max-current-a <A>', 'ev-charger: highest charging current')
    .option('--phases <n>', 'ev-charger: 1 or 3')
    .option('--measures <what>', 'meter: load | pv | ev | other')
    .action((opts: AssetAddOptions) => assetsAdd(io, opts, write));
  assets
    .command('remove')
    .description('remove an asset by id (refused while an automation rule uses it)')
    .argument('<asset>', 'asset id')
    .requiredOption('--site <file>', 'path to assets.json')
    .action((asset: string, opts: AssetsOptions) => assetsRemove(io, asset, opts, write));
  assets
    .command('test')
    .description('read the device once with its profile (read-only), like voltimax device read')
    .argument('<asset>', 'asset id')
    .requiredOption('--site <file>', 'path to assets.json')
    .option('--timeout <ms>', 'per-request timeout', '2000')
    .option('--json', 'machine-readable output')
    .action((asset: string, opts: AssetTestOptions) => assetsTest(io, asset, opts));
}
