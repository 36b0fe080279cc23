import { z } from 'zod';
import { HttpProfileSchema } from './http/http-profile';
import { PointKeySchema, type PointKey } from './keys';
import { MqttProfileSchema } from './mqtt/mqtt-profile';

/** Largest read the Modbus protocol allows for registers (FC 03/04). */
export const MODBUS_MAX_REGISTERS_PER_READ = 125;

/** Modbus data tables: holding (FC 03/06/16), input (FC 04), coil (FC 01/05/15), discrete input (FC 02). */
export const RegisterTableSchema = z.enum(['holding', 'input', 'coil', 'discrete']);
export type RegisterTable = z.infer<typeof RegisterTableSchema>;

/**
 * Wire types. 32/64-bit numbers span 2/4 registers; `string` spans `length` registers of ASCII, two
 * characters per register, first character in the high byte; `bool` is one coil or discrete input.
 */
export const RegisterTypeSchema = z.enum(['u16', 's16', 'u32', 's32', 'f32', 'u64', 's64', 'f64', 'string', 'bool']);
export type RegisterType = z.infer<typeof RegisterTypeSchema>;

/** Order of the 16-bit words of a multi-register number: `hi-lo` = most significant word first (big-endian). */
export const WordOrderSchema = z.enum(['hi-lo', 'lo-hi']);
export type WordOrder = z.infer<typeof WordOrderSchema>;

/**
 * Raw patterns a device uses for "not implemented / not available", compared on the raw words before
 * scaling: `all-ones` (0xFFFF…), `signed-min` (0x8000…), `signed-max` (0x7FFF…), `zero` (all words 0;
 * for strings: all bytes 0), `nan` (float NaN).
 */
export const SentinelSchema = z.enum(['all-ones', 'signed-min', 'signed-max', 'zero', 'nan']);
export type Sentinel = z.infer<typeof SentinelSchema>;

const AddressSchema = z.number().int().min(0).max(0xffff);
const NameSchema = z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'name must be an identifier such as W_SF');

/**
 * One register point: where a value lives and how raw words become a value in the unit named by `key`.
 * Engineering value = raw × scale × 10^(scale factor read from `scaleFrom`), negated when `invert` is true.
 */
export const RegisterPointSchema = z
  .strictObject({
    /** A contracts MeasurementKey, or a devices extra/identity/control key; the unit is in the key. */
    key: PointKeySchema,
    table: RegisterTableSchema,
    /** 0-based protocol (wire) address, never the 3xxxx/4xxxx label. */
    address: AddressSchema,
    type: RegisterTypeSchema,
    /** Registers of a `string` point (required for strings, forbidden otherwise). */
    length: z.number().int().min(1).max(MODBUS_MAX_REGISTERS_PER_READ).optional(),
    wordOrder: WordOrderSchema.default('hi-lo'),
    /** raw × scale = value in the unit named by `key` (before `scaleFrom` and `invert`). */
    scale: z
      .number()
      .finite()
      .refine((s) => s !== 0, 'scale must not be 0')
      .default(1),
    /** Name of a scale-factor register (`scaleFactors[].name`): value × 10^sf, SunSpec style. */
    scaleFrom: NameSchema.optional(),
    /** The device's sign convention is the opposite of ours (see DESIGN § Units and signs): negate. */
    invert: z.boolean().default(false),
    /** Engineering unit after scaling, for humans (must agree with the key's unit suffix). */
    unit: z.string().min(1).max(16).optional(),
    /** Plausibility range (engineering unit, our sign). A read outside is reported, never clamped. Required for writable points, where it also bounds writes. */
    min: z.number().finite().optional(),
    max: z.number().finite().optional(),
    /** Raw patterns that mean "not implemented"; the value is then absent, not zero. */
    notImplemented: z.array(SentinelSchema).default([]),
    access: z.enum(['r', 'rw']).default('r'),
    /** `poll`: read every cycle; `connect`: read once after connecting (identity, ratings). */
    readOn: z.enum(['poll', 'connect']).default('poll'),
    /** A device quirk or source remark. */
    note: z.string().max(500).optional(),
  })
  .superRefine((point, ctx) => {
    const isString = point.type === 'string';
    if (isString && point.length === undefined)
      ctx.addIssue({ code: 'custom', path: ['length'], message: 'string points need a length in registers' });
    if (!isString && point.length !== undefined)
      ctx.addIssue({ code: 'custom', path: ['length'], message: 'length is only for string points' });
    const isBitTable = point.table === 'coil' || point.table === 'discrete';
    if (isBitTable !== (point.type === 'bool')) {
      ctx.addIssue({
        code: 'custom',
        path: ['type'],
        message: 'bool goes with coil/discrete tables, and only bool does',
      });
    }
    if ((isString || point.type === 'bool') && (point.scale !== 1 || point.scaleFrom !== undefined || point.invert)) {
      ctx.addIssue({ code: 'custom', path: ['scale'], message: 'string and bool points cannot be scaled or inverted' });
    }
    if (point.access === 'rw') {
      if (point.table === 'input' || point.table === 'discrete') {
        ctx.addIssue({
          code: 'custom',
          path: ['access'],
          message: 'input registers and discrete inputs are read-only',
        });
      }
      if (point.min === undefined || point.max === undefined) {
        ctx.addIssue({ code: 'custom', path: ['min'], message: 'writable points need min and max' });
      }
    }
    if (point.min !== undefined && point.max !== undefined && point.min > point.max) {
      ctx.addIssue({ code: 'custom', path: ['min'], message: 'min must not exceed max' });
    }
    if (point.address + registerCount(point) - 1 > 0xffff) {
      ctx.addIssue({ code: 'custom', path: ['address'], message: 'point runs past register 65535' });
    }
  });
export type RegisterPointInput = z.input<typeof RegisterPointSchema>;
export type RegisterPoint = z.output<typeof RegisterPointSchema>;

/** A SunSpec-style scale-factor register: signed int16 exponent, 0x8000 = not implemented. */
export const ScaleFactorSchema = z.strictObject({
  name: NameSchema,
  table: z.enum(['holding', 'input']),
  address: AddressSchema,
});
export type ScaleFactor = z.output<typeof ScaleFactorSchema>;

/** A value computed from other values: Σ sign × term (e.g. battery power = discharge − charge registers). */
export const DerivedValueSchema = z.strictObject({
  key: PointKeySchema,
  terms: z.array(z.strictObject({ key: PointKeySchema, sign: z.union([z.literal(1), z.literal(-1)]) })).min(1),
  min: z.number().finite().optional(),
  max: z.number().finite().optional(),
  note: z.string().max(500).optional(),
});
export type DerivedValue = z.output<typeof DerivedValueSchema>;

/**
 * The value one write step puts into a writable point (engineering unit of that point): a constant,
 * the converted set-point (`'setpoint'`), or a value chosen by the EV set-point's phase count (the step
 * is skipped when the set-point names no phases).
 */
export const StepValueSchema = z.union([
  z.number().finite(),
  z.literal('setpoint'),
  z.strictObject({ phases: z.strictObject({ one: z.number().finite(), three: z.number().finite() }) }),
]);
export type StepValue = z.output<typeof StepValueSchema>;

export const WriteStepSchema = z.strictObject({ key: PointKeySchema, value: StepValueSchema });
export type WriteStep = z.output<typeof WriteStepSchema>;

/** Set-point kinds a profile can execute (the contracts' `Setpoint` minus `safe`, which every control handles through `safeSteps`). */
export const ControlSetpointSchema = z.enum(['battery-power', 'ev-current', 'pv-limit']);
export type ControlSetpoint = z.infer<typeof ControlSetpointSchema>;

/**
 * How one set-point kind becomes register writes. The set-point field (battery `powerW` + = discharge,
 * EV `currentA`, PV `maxPowerW`) is converted by `scaling`, checked against `range`, and written by the
 * step whose value is `'setpoint'`; the other steps (enable/mode registers) are written in list order.
 */
export const ControlSchema = z
  .strictObject({
    setpoint: ControlSetpointSchema,
    /**
     * `value`: the field as is; `percent-of-rated`: field ÷ rated power × 100; `abs-percent-of-rated`:
     * |field| ÷ rated power × 100 (devices with separate charge/discharge rate registers). The rated power
     * comes from the encode context (catalogue or site config), never from the profile.
     */
    scaling: z.enum(['value', 'percent-of-rated', 'abs-percent-of-rated']).default('value'),
    /** Allowed converted value, in the unit of the point the `'setpoint'` step writes (our sign). */
    range: z.strictObject({ min: z.number().finite(), max: z.number().finite() }),
    /** Outside `range`: reject (default), or clamp and say so in the outcome. */
    clampToRange: z.boolean().default(false),
    /** Writes for every value, in order. Exactly one of `steps` and `bySign`. */
    steps: z.array(WriteStepSchema).min(1).optional(),
    /** Writes chosen by the sign of the set-point field (mode-register devices without a signed set-point). */
    bySign: z
      .strictObject({
        negative: z.array(WriteStepSchema).min(1),
        zero: z.array(WriteStepSchema).min(1),
        positive: z.array(WriteStepSchema).min(1),
      })
      .optional(),
    /** |field| ≤ idleBand counts as zero for `bySign` (set-point field unit). */
    idleBand: z.number().finite().nonnegative().default(0),
    /** Constant writes for the contracts' `safe` set-point: hand control back to the device's own safe default. */
    safeSteps: z.array(WriteStepSchema).min(1),
    /** False when the device cannot follow the value exactly (mode registers, % steps): read-back will differ. */
    exact: z.boolean().default(true),
    /** The device drops the set-point unless it is rewritten at least this often (watchdog / revert timer). */
    keepAliveMs: z.number().int().positive().optional(),
    note: z.string().max(500).optional(),
  })
  .superRefine((control, ctx) => {
    if ((control.steps === undefined) === (control.bySign === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['steps'], message: 'give exactly one of steps and bySign' });
    }
    if (control.range.min > control.range.max)
      ctx.addIssue({ code: 'custom', path: ['range'], message: 'range.min must not exceed range.max' });
    for (const [index, step] of control.safeSteps.entries()) {
      if (typeof step.value !== 'number')
        ctx.addIssue({ code: 'custom', path: ['safeSteps', index, 'value'], message: 'safe steps write constants' });
    }
  });
export type ControlInput = z.input<typeof ControlSchema>;
export type Control = z.output<typeof ControlSchema>;

/** An address range the device refuses inside a read (exception 02): blocks never touch it. Inclusive. */
export const RefusedRangeSchema = z
  .strictObject({
    table: RegisterTableSchema,
    start: AddressSchema,
    end: AddressSchema,
    note: z.string().max(300).optional(),
  })
  .refine((r) => r.start <= r.end, { message: 'start must not exceed end', path: ['start'] });
export type RefusedRange = z.output<typeof RefusedRangeSchema>;

/** A read that identifies the device: it must succeed and, when `expect` is given, return exactly these words. */
export const ProbeSchema = z.strictObject({
  table: RegisterTableSchema,
  address: AddressSchema,
  count: z.number().int().min(1).max(MODBUS_MAX_REGISTERS_PER_READ),
  expect: z.array(z.number().int().min(0).max(0xffff)).min(1).optional(),
  note: z.string().max(300).optional(),
});
export type Probe = z.output<typeof ProbeSchema>;

/** Modbus transport facts and hints for the one generic reader in libs/modbus. */
export const ModbusSettingsSchema = z.strictObject({
  defaultUnitId: z.number().int().min(0).max(255),
  /** Physical transports the device offers (`rtu` also covers RTU frames through an RS-485 gateway). */
  transports: z.array(z.enum(['tcp', 'rtu'])).min(1),
  /** Largest read the device accepts, registers (≤ 125, the protocol limit). */
  maxRegistersPerRead: z.number().int().min(1).max(MODBUS_MAX_REGISTERS_PER_READ).default(100),
  /** Largest unused gap (registers) the planner may read through to merge two blocks. */
  maxGapRegisters: z
    .number()
    .int()
    .min(0)
    .max(MODBUS_MAX_REGISTERS_PER_READ - 2)
    .default(8),
  refusedRanges: z.array(RefusedRangeSchema).default([]),
  /** RS-485: silence to keep between a response and the next request, ms. */
  interFrameGapMs: z.number().int().min(0).max(5_000).optional(),
  /** Serial line defaults when the datasheet states them. */
  serialDefaults: z
    .strictObject({
      baudRate: z.number().int().positive(),
      parity: z.enum(['none', 'even', 'odd']),
      stopBits: z.union([z.literal(1), z.literal(2)]),
    })
    .optional(),
  probe: z.array(ProbeSchema).default([]),
});
export type ModbusSettings = z.output<typeof ModbusSettingsSchema>;

/** What a profile's device is; `meter` serves both grid-meter and sub-meter assets. */
export const ProfileKindSchema = z.enum(['meter', 'battery', 'pv-inverter', 'hybrid-inverter', 'ev-charger']);
export type ProfileKind = z.infer<typeof ProfileKindSchema>;

const ProfileIdSchema = z.string().regex(/^[a-z0-9-]+\.[a-z0-9-]+$/, 'profile id must be vendor.model in lower case');
const meta = {
  /** `vendor.model`, lower case; site config refers to it. */
  id: ProfileIdSchema,
  vendor: z.string().min(1).max(100),
  model: z.string().min(1).max(200),
  /** The reference the register facts come from (file under libs/devices/docs/devices/, datasheet, revision). */
  source: z.string().min(1).max(500),
  notes: z.string().max(2_000).optional(),
};

/** A device read and written through fixed Modbus register addresses. */
export const ModbusProfileSchema = z
  .strictObject({
    ...meta,
    protocol: z.literal('modbus'),
    kind: ProfileKindSchema,
    modbus: ModbusSettingsSchema,
    points: z.array(RegisterPointSchema).min(1),
    scaleFactors: z.array(ScaleFactorSchema).default([]),
    derived: z.array(DerivedValueSchema).default([]),
    controls: z.array(ControlSchema).default([]),
  })
  .superRefine((profile, ctx) => {
    for (const problem of modbusProfileProblems(profile))
      ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
  });
export type ModbusProfile = z.output<typeof ModbusProfileSchema>;

/** How SunSpec meter models (201–204, 211–214) report the sign of real power. */
export const SunSpecMeterSignSchema = z.enum(['import-positive', 'export-positive']);
export type SunSpecMeterSign = z.infer<typeof SunSpecMeterSignSchema>;

/** A device found and decoded through the SunSpec model chain (no fixed addresses). */
export const SunSpecProfileSchema = z.strictObject({
  ...meta,
  protocol: z.literal('sunspec'),
  /** Asset kinds this profile can serve; the site config's asset kind picks the mapping role. */
  kinds: z.array(ProfileKindSchema).min(1),
  sunspec: z.strictObject({
    defaultUnitId: z.number().int().min(0).max(255),
    transports: z.array(z.enum(['tcp', 'rtu'])).min(1),
    baseAddresses: z.array(AddressSchema).min(1),
    /** Models the device must expose to be usable with this profile. */
    requiredModels: z.array(z.number().int().min(1).max(0xfffe)).default([1]),
    meterSign: SunSpecMeterSignSchema.default('import-positive'),
    maxRegistersPerRead: z.number().int().min(1).max(MODBUS_MAX_REGISTERS_PER_READ).default(100),
  }),
});
export type SunSpecProfile = z.output<typeof SunSpecProfileSchema>;

/** A charger reachable only through OCPP: no registers; the ocpp-csms service drives it. */
export const OcppProfileSchema = z.strictObject({
  ...meta,
  protocol: z.literal('ocpp'),
  kind: z.literal('ev-charger'),
  ocpp: z.strictObject({
    versions: z.array(z.enum(['1.6-j', '2.0.1'])).min(1),
    /** How the current limit is set. */
    currentControl: z.enum(['set-charging-profile']),
    /** Smallest current the charger (IEC 61851) accepts when not paused, A. */
    minCurrentA: z.number().finite().nonnegative(),
    /** MeterValues measurands to request via MeterValuesSampledData. */
    measurands: z.array(z.string().min(1).max(64)).default([]),
    /** Identity the charger reports in BootNotification. */
    bootNotification: z.strictObject({ vendor: z.string().min(1), model: z.string().min(1) }).optional(),
  }),
});
export type OcppProfile = z.output<typeof OcppProfileSchema>;

/** Any device profile; `protocol` decides which fields exist. Profiles are data: see the README. */
export const DeviceProfileSchema = z.discriminatedUnion('protocol', [
  ModbusProfileSchema,
  SunSpecProfileSchema,
  OcppProfileSchema,
  HttpProfileSchema,
  MqttProfileSchema,
]);
export type DeviceProfileInput = z.input<typeof DeviceProfileSchema>;
export type DeviceProfile = z.output<typeof DeviceProfileSchema>;

/** Registers (or coils) a point occupies. */
export function registerCount(point: Pick<RegisterPoint, 'type' | 'length'>): number {
  switch (point.type) {
    case 'u16':
    case 's16':
    case 'bool':
      return 1;
    case 'u32':
    case 's32':
    case 'f32':
      return 2;
    case 'u64':
    case 's64':
    case 'f64':
      return 4;
    case 'string':
      return point.length ?? 1;
  }
}

/** The asset kinds a profile can serve. */
export function profileKinds(profile: DeviceProfile): readonly ProfileKind[] {
  return profile.protocol === 'sunspec' ? profile.kinds : [profile.kind];
}

/**
 * The set-points the gateway's own drivers can execute with a profile: a register profile's controls, an HTTP or MQTT
 * profile's writes, an OCPP charger's current (ocpp-csms). None for SunSpec: its writes are not generic, the
 * modbus-poller refuses every one (a device that needs control gets its own register profile). `safe` is not listed.
 */
export function profileSetpoints(profile: DeviceProfile): readonly ControlSetpoint[] {
  switch (profile.protocol) {
    case 'modbus':
      return [...new Set(profile.controls.map((c) => c.setpoint))];
    case 'http':
    case 'mqtt':
      return [...new Set(profile.writes.map((w) => w.setpoint))];
    case 'ocpp':
      return ['ev-current'];
    case 'sunspec':
      return [];
  }
}

/** One register span of a profile (a point or a scale-factor register). */
export interface RegisterSpan {
  readonly name: string;
  readonly table: RegisterTable;
  readonly address: number;
  readonly count: number;
}

/** Every register span a Modbus profile reads or writes: its points and its scale-factor registers. */
export function profileSpans(profile: Pick<ModbusProfile, 'points' | 'scaleFactors'>): readonly RegisterSpan[] {
  return [
    ...profile.points.map((p) => ({ name: p.key, table: p.table, address: p.address, count: registerCount(p) })),
    ...profile.scaleFactors.map((sf) => ({ name: sf.name, table: sf.table, address: sf.address, count: 1 })),
  ];
}

/** Pairs of spans in the same table that share a register; `[]` for a good profile. */
export function overlappingPoints(
  profile: Pick<ModbusProfile, 'points' | 'scaleFactors'>,
): readonly (readonly [string, string])[] {
  const spans = [...profileSpans(profile)].sort((a, b) => a.table.localeCompare(b.table) || a.address - b.address);
  const overlaps: (readonly [string, string])[] = [];
  for (let i = 0; i < spans.length; i += 1) {
    const a = spans[i];
    if (a === undefined) continue;
    for (let j = i + 1; j < spans.length; j += 1) {
      const b = spans[j];
      if (b === undefined || b.table !== a.table || b.address > a.address + a.count - 1) break;
      overlaps.push([a.name, b.name]);
    }
  }
  return overlaps;
}

/** True when [address, address + count − 1] in `table` touches a refused range. */
export function touchesRefusedRange(
  refused: readonly RefusedRange[],
  table: RegisterTable,
  address: number,
  count: number,
): boolean {
  const end = address + count - 1;
  return refused.some((r) => r.table === table && r.start <= end && address <= r.end);
}

interface Problem {
  readonly path: (string | number)[];
  readonly message: string;
}

function stepLists(control: Control): readonly (readonly WriteStep[])[] {
  return control.bySign
    ? [control.bySign.negative, control.bySign.zero, control.bySign.positive]
    : [control.steps ?? []];
}

/** Cross-field rules of a Modbus profile (run by the schema; exported for the profile suite). */
export function modbusProfileProblems(
  profile: Omit<ModbusProfile, 'id' | 'vendor' | 'model' | 'source' | 'protocol'>,
): readonly Problem[] {
  const problems: Problem[] = [];
  const byKey = new Map<PointKey, RegisterPoint>();
  profile.points.forEach((point, index) => {
    if (byKey.has(point.key))
      problems.push({ path: ['points', index, 'key'], message: `duplicate key '${point.key}'` });
    byKey.set(point.key, point);
    const count = registerCount(point);
    if (count > profile.modbus.maxRegistersPerRead) {
      problems.push({
        path: ['points', index],
        message: `'${point.key}' spans ${count} registers, more than maxRegistersPerRead`,
      });
    }
    if (touchesRefusedRange(profile.modbus.refusedRanges, point.table, point.address, count)) {
      problems.push({ path: ['points', index], message: `'${point.key}' lies in a refused range` });
    }
    if (point.scaleFrom !== undefined && !profile.scaleFactors.some((sf) => sf.name === point.scaleFrom)) {
      problems.push({ path: ['points', index, 'scaleFrom'], message: `unknown scale factor '${point.scaleFrom}'` });
    }
  });
  const sfNames = new Set<string>();
  profile.scaleFactors.forEach((sf, index) => {
    if (sfNames.has(sf.name))
      problems.push({ path: ['scaleFactors', index, 'name'], message: `duplicate scale factor '${sf.name}'` });
    sfNames.add(sf.name);
    if (touchesRefusedRange(profile.modbus.refusedRanges, sf.table, sf.address, 1)) {
      problems.push({ path: ['scaleFactors', index], message: `'${sf.name}' lies in a refused range` });
    }
  });
  for (const [a, b] of overlappingPoints(profile))
    problems.push({ path: ['points'], message: `'${a}' and '${b}' share registers` });
  profile.modbus.probe.forEach((probe, index) => {
    if (touchesRefusedRange(profile.modbus.refusedRanges, probe.table, probe.address, probe.count)) {
      problems.push({ path: ['modbus', 'probe', index], message: 'probe reads a refused range' });
    }
    if (probe.expect !== undefined && probe.expect.length !== probe.count) {
      problems.push({ path: ['modbus', 'probe', index, 'expect'], message: 'expect must have count words' });
    }
  });
  const known = new Set<string>(byKey.keys());
  profile.derived.forEach((derived, index) => {
    if (known.has(derived.key))
      problems.push({ path: ['derived', index, 'key'], message: `'${derived.key}' is already a point or derived key` });
    derived.terms.forEach((term, t) => {
      if (!known.has(term.key))
        problems.push({ path: ['derived', index, 'terms', t], message: `unknown term '${term.key}'` });
    });
    known.add(derived.key);
  });
  const kinds = new Set<ControlSetpoint>();
  profile.controls.forEach((control, index) => {
    if (kinds.has(control.setpoint))
      problems.push({ path: ['controls', index], message: `two controls for '${control.setpoint}'` });
    kinds.add(control.setpoint);
    const lists = stepLists(control);
    const setpointSteps = lists.flatMap((list) => list.filter((s) => s.value === 'setpoint'));
    if (lists.some((list) => list.filter((s) => s.value === 'setpoint').length > 1)) {
      problems.push({ path: ['controls', index], message: 'at most one setpoint step per list' });
    }
    if (control.steps !== undefined && setpointSteps.length !== 1) {
      problems.push({ path: ['controls', index, 'steps'], message: 'steps need exactly one setpoint step' });
    }
    for (const step of setpointSteps) {
      const point = byKey.get(step.key);
      if (
        point &&
        ((point.min !== undefined && control.range.min < point.min) ||
          (point.max !== undefined && control.range.max > point.max))
      ) {
        problems.push({ path: ['controls', index, 'range'], message: `range exceeds the min/max of '${step.key}'` });
      }
    }
    for (const [listIndex, list] of [...lists, control.safeSteps].entries()) {
      for (const step of list) {
        const point = byKey.get(step.key);
        if (point === undefined || point.access !== 'rw') {
          problems.push({
            path: ['controls', index],
            message: `step key '${step.key}' is not a writable point (list ${listIndex})`,
          });
          continue;
        }
        if (typeof step.value === 'object' && control.setpoint !== 'ev-current') {
          problems.push({ path: ['controls', index], message: 'phase-dependent steps only exist for ev-current' });
        }
        const constants =
          typeof step.value === 'number'
            ? [step.value]
            : typeof step.value === 'object'
              ? [step.value.phases.one, step.value.phases.three]
              : [];
        for (const value of constants) {
          if ((point.min !== undefined && value < point.min) || (point.max !== undefined && value > point.max)) {
            problems.push({
              path: ['controls', index],
              message: `constant ${value} for '${step.key}' is outside its min/max`,
            });
          }
        }
      }
    }
  });
  return problems;
}
