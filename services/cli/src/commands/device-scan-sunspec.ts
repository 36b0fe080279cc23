import { decodeSunSpecModels, getSunSpecModel, planSunSpecModelReads } from '@voltimax/devices';
import { CliExit, type CliIo } from '../io';
import { discoverSunSpec, readBlocks } from '@voltimax/modbus';
import { commandPool, describeError, formatTable, intOption } from './device-modbus';

/** Options of `voltimax device scan-sunspec`. */
export interface ScanSunSpecOptions {
  readonly port: string;
  readonly unit: string;
  readonly timeout: string;
  readonly json?: boolean;
}

const COMMON: readonly (readonly [string, string])[] = [
  ['Mn', 'manufacturer'],
  ['Md', 'model'],
  ['Opt', 'options'],
  ['Vr', 'version'],
  ['SN', 'serial'],
  ['DA', 'device address'],
];

/**
 * `voltimax device scan-sunspec <host> [--port 502] [--unit N]`: finds the `SunS` marker at 40000, 50000 or 0
 * (Modbus TCP), walks the model chain and prints manufacturer, model and serial from the common model (1) and every
 * model with its address and length. Read-only. Exit 0 when a chain was found, 1 when not (or no answer).
 */
export async function scanSunSpec(io: CliIo, host: string, opts: ScanSunSpecOptions): Promise<void> {
  const port = intOption(io, '--port', opts.port, 1, 65_535);
  const unitId = intOption(io, '--unit', opts.unit, 0, 255);
  const timeoutMs = intOption(io, '--timeout', opts.timeout, 50, 60_000);
  const target = `${host}:${port} unit ${unitId}`;
  const pool = commandPool(timeoutMs);
  try {
    const client = pool.client({ transport: 'tcp', host, port }, unitId);
    const chain = await discoverSunSpec(client);
    if (chain.kind !== 'found') {
      io.stderr(`no SunSpec device at ${target}: ${chain.detail}\n`);
      throw new CliExit(1);
    }
    const commonModels = chain.models.filter((m) => m.id === 1);
    const { decoded } = decodeSunSpecModels(
      commonModels,
      await readBlocks(client, planSunSpecModelReads(commonModels)),
    );
    const common = decoded[0];
    const identity = COMMON.flatMap(([point, label]) => {
      const value = common?.points[point];
      return value?.kind === 'value' ? [[label, String(value.value)] as const] : [];
    });
    const models = chain.models.map((m) => ({
      id: m.id,
      address: m.address,
      length: m.length,
      name: getSunSpecModel(m.id)?.group.label ?? 'unknown model',
    }));
    if (opts.json) {
      io.stdout(
        `${JSON.stringify({ host, port, unitId, baseAddress: chain.baseAddress, identity: Object.fromEntries(identity), models })}\n`,
      );
      return;
    }
    io.stdout(`SunSpec device at ${target} (marker at ${chain.baseAddress})\n`);
    if (identity.length > 0) io.stdout(formatTable(identity.map(([label, value]) => [`  ${label}`, value])));
    else io.stdout('  (no common model 1)\n');
    io.stdout(`models (${models.length}):\n`);
    io.stdout(formatTable(models.map((m) => [`  ${m.id}`, `@${m.address}`, `L=${m.length}`, m.name])));
  } catch (err) {
    if (err instanceof CliExit) throw err;
    io.stderr(`scan of ${target} failed: ${describeError(err)}\n`);
    throw new CliExit(1);
  } finally {
    await pool.close();
  }
}
