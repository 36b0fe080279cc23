import {
  decodeProfile,
  decodeSunSpecModels,
  getSunSpecModel,
  isSunSpecMarker,
  planProfileReads,
  planReadBlocks,
  planSunSpecModelReads,
  registerCount,
  sunSpecMeasurements,
  type DeviceReading,
  type ModbusProfile,
  type ReadBlock,
  type ReadValues,
  type SunSpecModelLocation,
  type SunSpecProfile,
  type SunSpecRole,
} from '@voltimax/devices';
import {
  CircuitOpenError,
  discoverSunSpec,
  ModbusExceptionError,
  readBlocks,
  type BreakerState,
  type ModbusRegisterWrite,
  type RegisterReader,
} from '@voltimax/modbus';
import type { AssetDriver } from './assets';

/** What the poller needs from a Modbus unit: `ModbusUnitClient` in production, a fake register image in unit tests. */
export interface RegisterClient extends RegisterReader {
  write(write: ModbusRegisterWrite): Promise<unknown>;
  breakerState(): BreakerState;
}

/** The device answered, but it is not what the profile describes (probe mismatch, no SunSpec chain): never misread it. */
export class DeviceSetupError extends Error {
  override readonly name = 'DeviceSetupError';
  readonly retryable = true;
}

/** Reads one asset cycle by cycle, following its profile; plans its read blocks once. */
export interface DeviceReader {
  /** One poll cycle: the connect phase first when needed (probe, SunSpec discovery, identity), then the poll blocks. Throws on any read failure. */
  poll(): Promise<DeviceReading>;
  /** Identity and other connect-time values (strings such as serialNumber), from the last connect phase. */
  identity(): ReadValues;
  /** Scale-factor exponents of the last successful poll (needed to encode writes to `scaleFrom` points). */
  scaleFactors(): Readonly<Record<string, number>> | undefined;
}

/** A human-readable reason for telemetry `error` and WriteResult `error` (≤ 500 characters). */
export function describeFailure(err: unknown): string {
  const base = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const cause =
    err instanceof CircuitOpenError && err.cause instanceof Error ? ` (last failure: ${err.cause.message})` : '';
  const text = `${base}${cause}`;
  return text.length > 500 ? `${text.slice(0, 497)}...` : text;
}

/** `1@40002, 802@40070` */
export function describeChain(models: readonly SunSpecModelLocation[]): string {
  return models.map((m) => `${m.id}@${m.address}`).join(', ');
}

const sameWords = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((word, i) => word === b[i]);

const hex = (words: readonly number[]): string =>
  `[${words.map((w) => `0x${w.toString(16).padStart(4, '0')}`).join(' ')}]`;

function modbusReader(profile: ModbusProfile, client: RegisterClient): DeviceReader {
  const pollBlocks = planProfileReads(profile, 'poll');
  const connectPoints = profile.points.filter((p) => p.readOn === 'connect');
  const connectBlocks = planReadBlocks(
    connectPoints.map((p) => ({ name: p.key, table: p.table, address: p.address, count: registerCount(p) })),
    {
      maxRegistersPerRead: profile.modbus.maxRegistersPerRead,
      maxGapRegisters: profile.modbus.maxGapRegisters,
      refusedRanges: profile.modbus.refusedRanges,
    },
  );
  let connected = false;
  let identity: ReadValues = {};
  let scaleFactors: Readonly<Record<string, number>> | undefined;

  async function connect(): Promise<void> {
    for (const probe of profile.modbus.probe) {
      const words = await client.read({ table: probe.table, address: probe.address, count: probe.count });
      if (probe.expect !== undefined && !sameWords(words, probe.expect)) {
        let hint = '';
        if (probe.table === 'holding' && isSunSpecMarker(profile.modbus.probe[0]?.expect ?? [])) {
          const chain = await discoverSunSpec(client);
          hint =
            chain.kind === 'found'
              ? `; the device's SunSpec chain is ${describeChain(chain.models)} (use sunspec.generic or a matching profile)`
              : `; ${chain.detail}`;
        }
        throw new DeviceSetupError(
          `${profile.id} probe at ${probe.table} ${probe.address} expected ${hex(probe.expect)}, read ${hex(words)}${hint}`,
        );
      }
    }
    if (connectBlocks.length > 0) {
      try {
        const reading = decodeProfile(profile, await readBlocks(client, connectBlocks));
        identity = Object.fromEntries(
          connectPoints.flatMap((p) => (reading.values[p.key] === undefined ? [] : [[p.key, reading.values[p.key]]])),
        );
      } catch (err) {
        // Identity registers a device refuses are not worth losing its measurements over.
        if (!(err instanceof ModbusExceptionError)) throw err;
        identity = {};
      }
    }
    connected = true;
  }

  return {
    async poll() {
      try {
        if (!connected) await connect();
        const reading = decodeProfile(profile, await readBlocks(client, pollBlocks));
        scaleFactors = reading.scaleFactors;
        return reading;
      } catch (err) {
        connected = false;
        throw err;
      }
    },
    identity: () => identity,
    scaleFactors: () => scaleFactors,
  };
}

const COMMON_MODEL_ID = 1;
const IDENTITY_POINTS: Readonly<Record<string, string>> = {
  Mn: 'manufacturer',
  Md: 'modelName',
  Vr: 'firmwareVersion',
  SN: 'serialNumber',
};

function sunSpecReader(profile: SunSpecProfile, role: SunSpecRole, client: RegisterClient): DeviceReader {
  let chain: { readonly models: readonly SunSpecModelLocation[]; readonly blocks: readonly ReadBlock[] } | undefined;
  let identity: ReadValues = {};

  async function connect(): Promise<NonNullable<typeof chain>> {
    const found = await discoverSunSpec(client, profile.sunspec.baseAddresses);
    if (found.kind !== 'found') throw new DeviceSetupError(`${profile.id}: ${found.detail}`);
    const missing = profile.sunspec.requiredModels.filter((id) => !found.models.some((m) => m.id === id));
    if (missing.length > 0) {
      throw new DeviceSetupError(
        `${profile.id}: required SunSpec models ${missing.join(', ')} missing (chain ${describeChain(found.models)})`,
      );
    }
    const common = found.models.filter((m) => m.id === COMMON_MODEL_ID);
    const max = profile.sunspec.maxRegistersPerRead;
    const commonWords = await readBlocks(client, planSunSpecModelReads(common, max));
    const model = decodeSunSpecModels(common, commonWords).decoded[0];
    identity = Object.fromEntries(
      Object.entries(IDENTITY_POINTS).flatMap(([point, key]) => {
        const decoded = model?.points[point];
        return decoded?.kind === 'value' ? [[key, decoded.value]] : [];
      }),
    );
    // Poll only the models we can decode; the common model does not change.
    const models = found.models.filter((m) => m.id !== COMMON_MODEL_ID && getSunSpecModel(m.id) !== undefined);
    return { models, blocks: planSunSpecModelReads(models, max) };
  }

  return {
    async poll() {
      try {
        chain ??= await connect();
        const { decoded } = decodeSunSpecModels(chain.models, await readBlocks(client, chain.blocks));
        return sunSpecMeasurements(decoded, role, profile.sunspec.meterSign);
      } catch (err) {
        chain = undefined;
        throw err;
      }
    },
    identity: () => identity,
    scaleFactors: () => undefined,
  };
}

/** A reader for an asset's driver; `undefined` for an unusable driver (nothing to read). */
export function createDeviceReader(driver: AssetDriver, client: RegisterClient): DeviceReader | undefined {
  switch (driver.kind) {
    case 'modbus':
      return modbusReader(driver.profile, client);
    case 'sunspec':
      return sunSpecReader(driver.profile, driver.role, client);
    case 'unusable':
      return undefined;
  }
}
