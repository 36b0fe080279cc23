import { z } from 'zod';
import model1 from './models/model_1.json';
import model101 from './models/model_101.json';
import model102 from './models/model_102.json';
import model103 from './models/model_103.json';
import model111 from './models/model_111.json';
import model112 from './models/model_112.json';
import model113 from './models/model_113.json';
import model120 from './models/model_120.json';
import model121 from './models/model_121.json';
import model122 from './models/model_122.json';
import model123 from './models/model_123.json';
import model124 from './models/model_124.json';
import model160 from './models/model_160.json';
import model201 from './models/model_201.json';
import model202 from './models/model_202.json';
import model203 from './models/model_203.json';
import model204 from './models/model_204.json';
import model211 from './models/model_211.json';
import model212 from './models/model_212.json';
import model213 from './models/model_213.json';
import model214 from './models/model_214.json';
import model701 from './models/model_701.json';
import model702 from './models/model_702.json';
import model703 from './models/model_703.json';
import model704 from './models/model_704.json';
import model705 from './models/model_705.json';
import model706 from './models/model_706.json';
import model707 from './models/model_707.json';
import model708 from './models/model_708.json';
import model709 from './models/model_709.json';
import model710 from './models/model_710.json';
import model711 from './models/model_711.json';
import model712 from './models/model_712.json';
import model713 from './models/model_713.json';
import model802 from './models/model_802.json';
import model803 from './models/model_803.json';
import model804 from './models/model_804.json';

const SHIPPED: readonly unknown[] = [
  model1,
  model101,
  model102,
  model103,
  model111,
  model112,
  model113,
  model120,
  model121,
  model122,
  model123,
  model124,
  model160,
  model201,
  model202,
  model203,
  model204,
  model211,
  model212,
  model213,
  model214,
  model701,
  model702,
  model703,
  model704,
  model705,
  model706,
  model707,
  model708,
  model709,
  model710,
  model711,
  model712,
  model713,
  model802,
  model803,
  model804,
];

/** SunSpec point types (sunspec/models JSON `type`). */
export const SunSpecPointTypeSchema = z.enum([
  'uint16',
  'int16',
  'uint32',
  'int32',
  'uint64',
  'int64',
  'acc16',
  'acc32',
  'acc64',
  'bitfield16',
  'bitfield32',
  'bitfield64',
  'enum16',
  'enum32',
  'float32',
  'float64',
  'string',
  'sunssf',
  'pad',
  'count',
  'ipaddr',
  'ipv6addr',
  'eui48',
]);
export type SunSpecPointType = z.infer<typeof SunSpecPointTypeSchema>;

/** One point of a SunSpec model definition (the fields this lib uses; others are ignored). */
export interface SunSpecPointDef {
  readonly name: string;
  readonly type: SunSpecPointType;
  /** Registers. */
  readonly size: number;
  /** Scale factor: the name of a `sunssf` point in this group or an enclosing one, or a fixed exponent. */
  readonly sf?: string | number | undefined;
  readonly units?: string | undefined;
  readonly access?: 'R' | 'RW' | undefined;
  readonly mandatory?: 'M' | 'O' | undefined;
  readonly static?: 'S' | 'D' | undefined;
  readonly label?: string | undefined;
  readonly desc?: string | undefined;
  readonly symbols?: readonly { readonly name: string; readonly value: number }[] | undefined;
  readonly value?: number | string | undefined;
}

/** A group of points; nested groups repeat `count` times (a number, 0 = fill the model, or the name of a count point). */
export interface SunSpecGroupDef {
  readonly name: string;
  readonly type: 'group' | 'sync';
  readonly count?: number | string | undefined;
  readonly label?: string | undefined;
  readonly desc?: string | undefined;
  readonly points: readonly SunSpecPointDef[];
  readonly groups?: readonly SunSpecGroupDef[] | undefined;
}

/** A SunSpec model definition: its id and root group (the first two points are `ID` and `L`). */
export interface SunSpecModelDef {
  readonly id: number;
  readonly group: SunSpecGroupDef;
}

const SunSpecPointDefSchema: z.ZodType<SunSpecPointDef> = z.object({
  name: z.string().min(1),
  type: SunSpecPointTypeSchema,
  size: z.number().int().min(1),
  sf: z.union([z.string().min(1), z.number().int()]).optional(),
  units: z.string().optional(),
  access: z.enum(['R', 'RW']).optional(),
  mandatory: z.enum(['M', 'O']).optional(),
  static: z.enum(['S', 'D']).optional(),
  label: z.string().optional(),
  desc: z.string().optional(),
  symbols: z.array(z.object({ name: z.string(), value: z.number().int() })).optional(),
  value: z.union([z.number(), z.string()]).optional(),
});

const SunSpecGroupDefSchema: z.ZodType<SunSpecGroupDef> = z.lazy(() =>
  z.object({
    name: z.string().min(1),
    type: z.enum(['group', 'sync']),
    count: z.union([z.number().int().nonnegative(), z.string().min(1)]).optional(),
    label: z.string().optional(),
    desc: z.string().optional(),
    points: z.array(SunSpecPointDefSchema),
    groups: z.array(SunSpecGroupDefSchema).optional(),
  }),
);

/** Validates a SunSpec model definition (sunspec/models JSON); unknown keys are dropped. */
export const SunSpecModelDefSchema: z.ZodType<SunSpecModelDef> = z.object({
  id: z.number().int().min(1).max(0xfffe),
  group: SunSpecGroupDefSchema,
});

/** Parses one SunSpec model definition (e.g. a newer upstream JSON file a caller has read). Throws on an invalid definition. */
export function loadSunSpecModel(json: unknown): SunSpecModelDef {
  return SunSpecModelDefSchema.parse(json);
}

/**
 * Parses the shipped definitions (src/lib/sunspec/models, SunSpec Alliance, Apache-2.0) into a map by model id.
 * Called once at module load for `SUNSPEC_MODELS`; a bad shipped file fails the load.
 */
export function loadSunSpecModels(): ReadonlyMap<number, SunSpecModelDef> {
  return new Map(
    SHIPPED.map((json) => {
      const model = loadSunSpecModel(json);
      return [model.id, model] as const;
    }),
  );
}

/** Every shipped SunSpec model definition by id. */
export const SUNSPEC_MODELS: ReadonlyMap<number, SunSpecModelDef> = loadSunSpecModels();

/** The shipped definition of a SunSpec model, or undefined for a model we do not ship. */
export function getSunSpecModel(id: number): SunSpecModelDef | undefined {
  return SUNSPEC_MODELS.get(id);
}

/** Registers a model occupies including `ID` and `L`, when its root group has no repeating groups; else undefined. */
export function fixedModelSize(model: SunSpecModelDef): number | undefined {
  return groupSize(model.group);
}

/** Registers of one instance of a group, or undefined when it contains a group with a variable count. */
export function groupSize(group: SunSpecGroupDef): number | undefined {
  let size = group.points.reduce((sum, p) => sum + p.size, 0);
  for (const child of group.groups ?? []) {
    if (child.count !== undefined) return undefined;
    const childSize = groupSize(child);
    if (childSize === undefined) return undefined;
    size += childSize;
  }
  return size;
}
