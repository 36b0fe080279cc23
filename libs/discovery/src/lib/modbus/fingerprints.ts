// Read-only fingerprints of the non-SunSpec Modbus devices we have profiles for. Each one reads a few registers the
// profile (and its reference sheet) names and checks that the values are physically plausible; two independent
// quantities per device (a voltage or status AND the grid frequency, or a storage register) keep random data from
// matching. Order matters: the more specific fingerprint of a family comes first.
import type { AssetKind } from '@voltimax/contracts';
import { decodeRaw, getProfile } from '@voltimax/devices';
import { ModbusExceptionError, type RegisterReader } from '@voltimax/modbus';

/** One read and the range its value must fall in. */
export interface FingerprintCheck {
  readonly table: 'holding' | 'input';
  /** 0-based wire address. */
  readonly address: number;
  readonly type: 'u16' | 's16' | 'u32' | 'f32';
  /** raw × scale = value in the unit of `what`. */
  readonly scale: number;
  readonly min: number;
  readonly max: number;
  readonly what: string;
}

/** A read the device must refuse with a Modbus exception (tells apart families that share a block). */
export interface FingerprintRefusal {
  readonly table: 'holding' | 'input';
  readonly address: number;
  readonly what: string;
}

/** How to recognise a profile's device. */
export interface Fingerprint {
  readonly profileId: string;
  readonly label: string;
  readonly checks: readonly FingerprintCheck[];
  readonly refusals?: readonly FingerprintRefusal[];
  /** Confidence when every check passes (0..1); below SunSpec's, which is self-describing. */
  readonly confidence: number;
}

const HZ_U16_001 = { type: 'u16', scale: 0.01, min: 45, max: 65, what: 'grid frequency (Hz)' } as const;
const VOLTS_F32 = { type: 'f32', scale: 1, min: 80, max: 300, what: 'L1 voltage (V)' } as const;
const HZ_F32 = { type: 'f32', scale: 1, min: 45, max: 65, what: 'grid frequency (Hz)' } as const;

/**
 * The fingerprints, tried in this order (see the README for the register facts each relies on):
 * - `growatt.tl-xh`: input 3025 frequency (u16 × 0.01 Hz) and input 3171 battery SoC (0–100 %): the TL-XH block.
 * - `growatt.sph`: input 37 frequency, input 1000 system work mode (0–20) and input 1014 SoC (0–100 %): the storage
 *   block only SPH/SPA models answer.
 * - `growatt.pv-tl-x`: input 0 status (0–10) and input 37 frequency, and input 1000 refused (no storage block).
 * - `eastron.sdm630`: input 0x0000 L1 voltage (float32, 80–300 V) and input 0x0046 frequency (float32).
 * - `siemens.pac2200`: holding 1 L1 voltage (float32) and holding 55 frequency (float32; one source says 46).
 * - `abb.b23-b24`: holding 0x5B00 L1 voltage (u32 × 0.1 V) and holding 0x5B2C frequency (u16 × 0.01 Hz).
 */
export const FINGERPRINTS: readonly Fingerprint[] = [
  {
    profileId: 'growatt.tl-xh',
    label: 'Growatt MIN/MOD TL-XH hybrid inverter',
    checks: [
      { table: 'input', address: 3025, ...HZ_U16_001 },
      { table: 'input', address: 3171, type: 'u16', scale: 1, min: 0, max: 100, what: 'battery SoC (%)' },
    ],
    confidence: 0.75,
  },
  {
    profileId: 'growatt.sph',
    label: 'Growatt SPH/SPA hybrid inverter',
    checks: [
      { table: 'input', address: 37, ...HZ_U16_001 },
      { table: 'input', address: 1000, type: 'u16', scale: 1, min: 0, max: 20, what: 'system work mode' },
      { table: 'input', address: 1014, type: 'u16', scale: 1, min: 0, max: 100, what: 'battery SoC (%)' },
    ],
    confidence: 0.75,
  },
  {
    profileId: 'growatt.pv-tl-x',
    label: 'Growatt PV inverter (MIN/MOD TL-X)',
    checks: [
      { table: 'input', address: 0, type: 'u16', scale: 1, min: 0, max: 10, what: 'inverter status' },
      { table: 'input', address: 37, ...HZ_U16_001 },
    ],
    refusals: [{ table: 'input', address: 1000, what: 'storage block (SPH only)' }],
    confidence: 0.65,
  },
  {
    profileId: 'eastron.sdm630',
    label: 'Eastron SDM630 meter',
    checks: [
      { table: 'input', address: 0x0000, ...VOLTS_F32 },
      { table: 'input', address: 0x0046, ...HZ_F32 },
    ],
    confidence: 0.7,
  },
  {
    profileId: 'siemens.pac2200',
    label: 'Siemens SENTRON PAC2200 meter',
    checks: [
      { table: 'holding', address: 1, ...VOLTS_F32 },
      { table: 'holding', address: 55, ...HZ_F32 },
    ],
    confidence: 0.7,
  },
  {
    profileId: 'abb.b23-b24',
    label: 'ABB B23/B24 meter',
    checks: [
      { table: 'holding', address: 0x5b00, type: 'u32', scale: 0.1, min: 80, max: 300, what: 'L1 voltage (V)' },
      { table: 'holding', address: 0x5b2c, ...HZ_U16_001 },
    ],
    confidence: 0.7,
  },
];

const REGISTERS: Readonly<Record<FingerprintCheck['type'], number>> = { u16: 1, s16: 1, u32: 2, f32: 2 };

/** The outcome of one fingerprint. */
export type FingerprintResult =
  | {
      readonly matched: true;
      readonly fingerprint: Fingerprint;
      readonly evidence: readonly string[];
      readonly words: readonly number[];
    }
  | { readonly matched: false; readonly fingerprint: Fingerprint; readonly failed: string };

const hex = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;

/**
 * Runs one fingerprint with reads only. A Modbus exception or an implausible value fails the fingerprint; a timeout
 * or a lost connection is thrown (the unit is gone, not "something else").
 */
export async function tryFingerprint(reader: RegisterReader, fingerprint: Fingerprint): Promise<FingerprintResult> {
  const evidence: string[] = [];
  const words: number[] = [];
  for (const check of fingerprint.checks) {
    let raw: number[];
    try {
      raw = await reader.read({ table: check.table, address: check.address, count: REGISTERS[check.type] });
    } catch (err) {
      if (err instanceof ModbusExceptionError) {
        return { matched: false, fingerprint, failed: `${check.table} ${hex(check.address)} refused (${err.message})` };
      }
      throw err;
    }
    const value = Number(decodeRaw(check.type, raw)) * check.scale;
    if (!Number.isFinite(value) || value < check.min || value > check.max) {
      return {
        matched: false,
        fingerprint,
        failed: `${check.what} at ${check.table} ${hex(check.address)} = ${value} not in ${check.min}..${check.max}`,
      };
    }
    words.push(...raw);
    evidence.push(`${check.table} ${hex(check.address)} ${check.what} = ${Number(value.toPrecision(6))}`);
  }
  for (const refusal of fingerprint.refusals ?? []) {
    try {
      await reader.read({ table: refusal.table, address: refusal.address, count: 1 });
      return {
        matched: false,
        fingerprint,
        failed: `${refusal.table} ${hex(refusal.address)} answered (${refusal.what})`,
      };
    } catch (err) {
      if (!(err instanceof ModbusExceptionError)) throw err;
      evidence.push(`${refusal.table} ${hex(refusal.address)} refused: no ${refusal.what}`);
    }
  }
  return { matched: true, fingerprint, evidence, words };
}

/** The asset kind a profile's device is offered as (`meter` profiles as `meter`: grid or sub-meter is the installer's call). */
export function assetKindOfProfile(profileId: string): AssetKind {
  const profile = getProfile(profileId);
  if (!profile) return 'meter';
  const kind = profile.protocol === 'sunspec' ? profile.kinds[0] : profile.kind;
  return kind ?? 'meter';
}
