import type { AssetConfig } from '@voltimax/contracts';
import {
  decodeProfile,
  decodeSunSpecModels,
  getProfile,
  getSunSpecModel,
  planProfileReads,
  planSunSpecModelReads,
  sunSpecMeasurements,
  type DeviceReading,
  type ModbusProfile,
  type ProfileKind,
  type SunSpecProfile,
} from '@voltimax/devices';
import {
  discoverSunSpec,
  endpointOf,
  isModbusConnection,
  readBlocks,
  type ModbusConnection,
  type RegisterReader,
} from '@voltimax/modbus';
import { CliExit, type CliIo } from '../io';
import { validateSiteConfigText } from './config-validate';
import { commandPool, describeError, formatTable, formatValue, intOption, unitOf } from './device-modbus';

/** Options of `voltimax device read`. */
export interface DeviceReadOptions {
  readonly site: string;
  readonly timeout: string;
  readonly json?: boolean;
}

/** One decoded value for the table. */
interface Row {
  readonly key: string;
  readonly value: number | string;
  readonly unit: string;
  /** Significant digits worth showing (7 for float32 registers). */
  readonly digits: number;
}

/** One value that was dropped, with why. */
interface Issue {
  readonly key: string;
  readonly issue: string;
}

function where(connection: ModbusConnection): string {
  const line = connection.protocol === 'modbus-rtu' ? connection.device : `${connection.host}:${connection.port}`;
  return `${connection.protocol} ${line} unit ${connection.unitId}`;
}

function issuesOf(reading: DeviceReading): Issue[] {
  return reading.issues.map(({ key, outcome }) => {
    switch (outcome.kind) {
      case 'implausible':
        return {
          key,
          issue: `implausible: ${outcome.value} (${outcome.reason}${outcome.limit === undefined ? '' : `, limit ${outcome.limit}`})`,
        };
      case 'not-implemented':
        return { key, issue: `not implemented (${outcome.sentinel})` };
      case 'missing':
        return { key, issue: `missing (${outcome.reason})` };
    }
  });
}

const sameWords = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((w, i) => w === b[i]);
const hex = (words: readonly number[]) => `[${words.map((w) => `0x${w.toString(16).padStart(4, '0')}`).join(' ')}]`;

/** Every point of a register profile (identity included), after its probes passed. */
async function readModbus(client: RegisterReader, profile: ModbusProfile): Promise<{ rows: Row[]; issues: Issue[] }> {
  for (const probe of profile.modbus.probe) {
    const words = await client.read({ table: probe.table, address: probe.address, count: probe.count });
    if (probe.expect !== undefined && !sameWords(words, probe.expect)) {
      throw new Error(
        `probe at ${probe.table} ${probe.address} expected ${hex(probe.expect)}, read ${hex(words)}: not a ${profile.id} layout`,
      );
    }
  }
  const reading = decodeProfile(profile, await readBlocks(client, planProfileReads(profile, 'connect')));
  const rows: Row[] = [];
  for (const point of profile.points) {
    const value = reading.values[point.key];
    if (value !== undefined)
      rows.push({ key: point.key, value, unit: unitOf(point.key, point.unit), digits: point.type === 'f32' ? 7 : 12 });
  }
  for (const derived of profile.derived) {
    const value = reading.values[derived.key];
    if (value !== undefined) rows.push({ key: derived.key, value, unit: unitOf(derived.key), digits: 12 });
  }
  return { rows, issues: issuesOf(reading) };
}

const IDENTITY: Readonly<Record<string, string>> = {
  Mn: 'manufacturer',
  Md: 'modelName',
  Vr: 'firmwareVersion',
  SN: 'serialNumber',
};

/** Discovers the SunSpec chain, reads every model we have a definition for and maps it for the asset's role. */
async function readSunSpec(
  client: RegisterReader,
  profile: SunSpecProfile,
  kind: ProfileKind,
): Promise<{ rows: Row[]; issues: Issue[] }> {
  if (kind === 'ev-charger') throw new Error(`${profile.id} does not serve EV chargers`);
  const chain = await discoverSunSpec(client, profile.sunspec.baseAddresses);
  if (chain.kind !== 'found') throw new Error(`${profile.id}: ${chain.detail}`);
  const models = chain.models.filter((m) => getSunSpecModel(m.id) !== undefined);
  const blocks = await readBlocks(client, planSunSpecModelReads(models, profile.sunspec.maxRegistersPerRead));
  const { decoded } = decodeSunSpecModels(models, blocks);
  const rows: Row[] = [];
  const common = decoded.find((m) => m.id === 1);
  for (const [point, key] of Object.entries(IDENTITY)) {
    const value = common?.points[point];
    if (value?.kind === 'value') rows.push({ key, value: value.value, unit: '', digits: 12 });
  }
  const reading = sunSpecMeasurements(decoded, kind, profile.sunspec.meterSign);
  for (const [key, value] of Object.entries(reading.values)) {
    if (value !== undefined) rows.push({ key, value, unit: unitOf(key), digits: 12 });
  }
  return { rows, issues: issuesOf(reading) };
}

const PROFILE_KIND: Readonly<Record<AssetConfig['kind'], ProfileKind>> = {
  battery: 'battery',
  'hybrid-inverter': 'hybrid-inverter',
  'pv-inverter': 'pv-inverter',
  'grid-meter': 'meter',
  meter: 'meter',
  load: 'meter',
  'ev-charger': 'ev-charger',
};

/**
 * `voltimax device read <asset> [point] --site <assets.json>`: reads the asset directly over Modbus with its profile
 * (read-only: no register is ever written) and prints its decoded values with units, then any dropped values.
 * Exit 0 when the device answered, 1 when it did not, 2 for usage problems (file, asset, point).
 */
export async function deviceRead(
  io: CliIo,
  assetId: string,
  point: string | undefined,
  opts: DeviceReadOptions,
): Promise<void> {
  const timeoutMs = intOption(io, '--timeout', opts.timeout, 50, 60_000);
  let text: string;
  try {
    text = await io.readFile(opts.site);
  } catch (err) {
    io.stderr(`cannot read ${opts.site}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
    throw new CliExit(2);
  }
  const outcome = validateSiteConfigText(text);
  if (!outcome.ok) {
    io.stderr(`${opts.site} is not a valid site configuration (run: voltimax config validate ${opts.site})\n`);
    throw new CliExit(2);
  }
  const asset = outcome.site.assets.find((a) => a.id === assetId);
  if (asset === undefined) {
    io.stderr(`unknown asset '${assetId}'; assets: ${outcome.site.assets.map((a) => a.id).join(', ')}\n`);
    throw new CliExit(2);
  }
  const { connection } = asset;
  if (!isModbusConnection(connection)) {
    io.stderr(`asset '${assetId}' is reached over ${connection.protocol}; device read speaks Modbus only\n`);
    throw new CliExit(2);
  }
  const profile = getProfile(asset.profile);
  if (profile === undefined || (profile.protocol !== 'modbus' && profile.protocol !== 'sunspec')) {
    io.stderr(
      `asset '${assetId}': profile '${asset.profile}' is ${profile === undefined ? 'unknown' : 'not a Modbus profile'}\n`,
    );
    throw new CliExit(2);
  }
  if (point !== undefined && profile.protocol === 'modbus') {
    const keys = [...profile.points.map((p) => p.key), ...profile.derived.map((d) => d.key)];
    if (!keys.includes(point as (typeof keys)[number])) {
      io.stderr(`profile ${profile.id} has no point '${point}'; points: ${keys.join(', ')}\n`);
      throw new CliExit(2);
    }
  }

  const pool = commandPool(timeoutMs);
  let result: { rows: Row[]; issues: Issue[] };
  try {
    const client = pool.client(endpointOf(connection), connection.unitId);
    result =
      profile.protocol === 'modbus'
        ? await readModbus(client, profile)
        : await readSunSpec(client, profile, PROFILE_KIND[asset.kind]);
  } catch (err) {
    io.stderr(`${assetId}: read failed (${where(connection)}): ${describeError(err)}\n`);
    throw new CliExit(1);
  } finally {
    await pool.close();
  }

  const rows = point === undefined ? result.rows : result.rows.filter((r) => r.key === point);
  const issues = point === undefined ? result.issues : result.issues.filter((i) => i.key === point);
  if (point !== undefined && rows.length === 0 && issues.length === 0) {
    io.stderr(`${assetId}: the device reported no value for '${point}'\n`);
    throw new CliExit(2);
  }
  if (opts.json) {
    io.stdout(
      `${JSON.stringify({
        assetId,
        profile: profile.id,
        connection: where(connection),
        values: Object.fromEntries(rows.map((r) => [r.key, { value: r.value, unit: r.unit }])),
        issues,
      })}\n`,
    );
    return;
  }
  io.stdout(`${assetId}  ${profile.id}  ${where(connection)}\n`);
  io.stdout(
    formatTable([['point', 'value', 'unit'], ...rows.map((r) => [r.key, formatValue(r.value, r.digits), r.unit])]),
  );
  if (issues.length > 0) {
    io.stdout(`issues (values dropped, never shown as values):\n`);
    for (const issue of issues) io.stdout(`  ${issue.key}: ${issue.issue}\n`);
  }
}
