// Home Assistant MQTT discovery: config payloads (abbreviated keys, `~` base topics, device-based discovery) parsed
// with zod and turned into MQTT candidate assets. Pure: topic + payload text in, sensors and reasons out.
import type { AssetKind, MeasurementKey } from '@voltimax/contracts';
import { z } from 'zod';
import { finishCandidate, normalizeMac, type Candidate, type CandidateSensor } from '../candidate';
import { matchMqttProfile } from './profile-match';

/** Discovery topics: `homeassistant/<component>/<object_id>/config` and `…/<node_id>/<object_id>/config`. */
export const HA_DISCOVERY_TOPICS: readonly string[] = ['homeassistant/+/+/config', 'homeassistant/+/+/+/config'];

/** The abbreviations of entity options we read (Home Assistant MQTT discovery documentation). */
const ENTITY_ABBREVIATIONS: Readonly<Record<string, string>> = {
  stat_t: 'state_topic',
  val_tpl: 'value_template',
  unit_of_meas: 'unit_of_measurement',
  dev_cla: 'device_class',
  stat_cla: 'state_class',
  uniq_id: 'unique_id',
  obj_id: 'object_id',
  dev: 'device',
  avty_t: 'availability_topic',
  json_attr_t: 'json_attributes_topic',
  p: 'platform',
  cmps: 'components',
  o: 'origin',
};

/** The abbreviations of device options. */
const DEVICE_ABBREVIATIONS: Readonly<Record<string, string>> = {
  ids: 'identifiers',
  cns: 'connections',
  mf: 'manufacturer',
  mdl: 'model',
  mdl_id: 'model_id',
  sw: 'sw_version',
  hw: 'hw_version',
  sn: 'serial_number',
  sa: 'suggested_area',
  cu: 'configuration_url',
};

function expandKeys(value: unknown, map: Readonly<Record<string, string>>): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [map[k] ?? k, v]));
}

/** `~` at the start or end of a `…_topic` value stands for the base topic. */
function expandBase(entity: Record<string, unknown>, base: string | undefined): Record<string, unknown> {
  if (base === undefined) return entity;
  return Object.fromEntries(
    Object.entries(entity).map(([k, v]) => {
      if (!k.endsWith('_topic') || typeof v !== 'string') return [k, v];
      if (v.startsWith('~')) return [k, `${base}${v.slice(1)}`];
      if (v.endsWith('~')) return [k, `${v.slice(0, -1)}${base}`];
      return [k, v];
    }),
  );
}

const text = z.string().trim().min(1).max(300);

/** The device block (after expanding abbreviations). Unknown keys are allowed and dropped: this is their format. */
export const HaDeviceSchema = z.object({
  identifiers: z.union([text, z.array(text).min(1)]).optional(),
  connections: z.array(z.tuple([z.string(), z.string()])).optional(),
  manufacturer: text.optional(),
  model: text.optional(),
  model_id: text.optional(),
  name: text.optional(),
  serial_number: text.optional(),
  sw_version: text.optional(),
});
export type HaDevice = z.infer<typeof HaDeviceSchema>;

/** A sensor entity (after expanding abbreviations and `~`). */
export const HaSensorSchema = z.object({
  state_topic: z
    .string()
    .min(1)
    .max(300)
    .refine((t) => !/[+#]/.test(t), 'state_topic must not contain wildcards'),
  name: z.union([text, z.null()]).optional(),
  unique_id: text.optional(),
  object_id: text.optional(),
  device_class: text.optional(),
  state_class: text.optional(),
  unit_of_measurement: z.string().trim().max(16).optional(),
  value_template: z.string().max(1_000).optional(),
  device: HaDeviceSchema.optional(),
});
export type HaSensor = z.infer<typeof HaSensorSchema>;

/** What one discovery message gave. */
export type HaConfigOutcome =
  | { readonly kind: 'sensors'; readonly sensors: readonly ParsedSensor[] }
  | { readonly kind: 'ignored'; readonly reason: string }
  | { readonly kind: 'rejected'; readonly reason: string };

/** One energy sensor of a device. */
export interface ParsedSensor {
  readonly deviceKey: string;
  readonly device: HaDevice | undefined;
  readonly configTopic: string;
  readonly name: string;
  readonly sensor: CandidateSensor;
  readonly deviceClass: string;
}

const SIMPLE_PATH =
  /^\{\{\s*value_json((?:\.[A-Za-z_][A-Za-z0-9_]*|\[\s*(?:'[^']*'|"[^"]*"|\d+)\s*\])+)\s*((?:\|\s*(?:float|int|round)(?:\(\s*[\d.]*\s*\))?\s*)*)\}\}$/;
const RAW_VALUE = /^\{\{\s*value\s*((?:\|\s*(?:float|int|round)(?:\(\s*[\d.]*\s*\))?\s*)*)\}\}$/;

/**
 * The JSON path of a simple value template (`{{ value_json.ENERGY.Power }}`, `{{ value_json['apower'] | float }}`
 * → `ENERGY.Power`, `apower`), `null` for the raw payload (`{{ value }}` or no template), undefined when the
 * template does more than select a value (arithmetic, conditions): such a sensor is not taken.
 */
export function simpleJsonPath(template: string | undefined): string | null | undefined {
  if (template === undefined || template.trim() === '') return null;
  const t = template.trim();
  if (RAW_VALUE.test(t)) return null;
  const match = SIMPLE_PATH.exec(t);
  if (!match?.[1]) return undefined;
  const parts = [...match[1].matchAll(/\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*(?:'([^']*)'|"([^"]*)"|(\d+))\s*\]/g)].map(
    (m) => m[1] ?? m[2] ?? m[3] ?? m[4] ?? '',
  );
  if (parts.some((p) => p === '' || p.includes('.'))) return undefined;
  return parts.join('.');
}

const UNIT_SCALES: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  power: { W: 1, kW: 1_000, MW: 1_000_000 },
  energy: { Wh: 1, kWh: 1_000, MWh: 1_000_000 },
  battery: { '%': 1 },
  current: { A: 1, mA: 0.001 },
  voltage: { V: 1, mV: 0.001, kV: 1_000 },
};

/** A device class from the unit when the integration left it out. */
function classFromUnit(unit: string | undefined): string | undefined {
  return Object.entries(UNIT_SCALES).find(
    ([cls, units]) => cls !== 'battery' && unit !== undefined && unit in units,
  )?.[0];
}

/** The phase a sensor names (`l2`, `phase_b`, `Phase 3`), if any. */
function explicitPhase(hint: string): 1 | 2 | 3 | undefined {
  for (const [phase, pattern] of [
    [1, /(^|[^a-z0-9])(l1|phase[ _-]?(1|a))([^a-z0-9]|$)/i],
    [2, /(^|[^a-z0-9])(l2|phase[ _-]?(2|b))([^a-z0-9]|$)/i],
    [3, /(^|[^a-z0-9])(l3|phase[ _-]?(3|c))([^a-z0-9]|$)/i],
  ] as const) {
    if (pattern.test(hint)) return phase;
  }
  return undefined;
}

function measurementKey(deviceClass: string, hint: string): MeasurementKey | undefined {
  const phase = explicitPhase(hint);
  switch (deviceClass) {
    case 'power':
      return phase === undefined ? 'powerW' : `powerL${phase}W`;
    case 'energy':
      return /return|export|produc|inject|feed|to_grid|reverse/i.test(hint) ? 'exportEnergyWh' : 'importEnergyWh';
    case 'battery':
      return 'socPct';
    case 'current':
      return `currentL${phase ?? 1}A`;
    case 'voltage':
      return `voltageL${phase ?? 1}V`;
    default:
      return undefined;
  }
}

function deviceKeyOf(device: HaDevice | undefined, sensor: HaSensor, configTopic: string): string {
  const ids = device?.identifiers;
  const first = Array.isArray(ids) ? ids[0] : ids;
  if (first) return first;
  const mac = device?.connections?.find(([type]) => type === 'mac')?.[1];
  if (mac) return `mac-${mac.toLowerCase()}`;
  return sensor.unique_id ?? configTopic;
}

function toSensor(configTopic: string, raw: Record<string, unknown>, sharedDevice: unknown): HaConfigOutcome {
  const entity = { ...raw };
  if (entity['device'] === undefined && sharedDevice !== undefined) entity['device'] = sharedDevice;
  entity['device'] = expandKeys(entity['device'], DEVICE_ABBREVIATIONS);
  const parsed = HaSensorSchema.safeParse(entity);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      kind: 'rejected',
      reason: `invalid sensor config: ${issue ? `${issue.path.join('.') || '$'}: ${issue.message}` : 'schema'}`,
    };
  }
  const sensor = parsed.data;
  const unit = sensor.unit_of_measurement;
  const deviceClass = sensor.device_class ?? classFromUnit(unit);
  const scales = deviceClass === undefined ? undefined : UNIT_SCALES[deviceClass];
  if (deviceClass === undefined || scales === undefined) {
    return { kind: 'ignored', reason: `not an energy sensor (device_class ${sensor.device_class ?? 'none'})` };
  }
  const scale = unit === undefined ? (deviceClass === 'power' ? 1 : undefined) : scales[unit];
  if (scale === undefined)
    return {
      kind: 'rejected',
      reason: `unit '${unit ?? ''}' is not one of ${deviceClass}'s (${Object.keys(scales).join(', ')})`,
    };
  const jsonPath = simpleJsonPath(sensor.value_template);
  if (jsonPath === undefined) return { kind: 'rejected', reason: 'value_template is not a simple JSON path' };
  const hint = [
    sensor.name ?? '',
    sensor.unique_id ?? '',
    sensor.object_id ?? '',
    sensor.state_topic,
    jsonPath ?? '',
  ].join(' ');
  const key = measurementKey(deviceClass, hint);
  if (key === undefined) return { kind: 'ignored', reason: `device_class ${deviceClass} has no measurement` };
  const device = sensor.device;
  return {
    kind: 'sensors',
    sensors: [
      {
        deviceKey: deviceKeyOf(device, sensor, configTopic),
        device,
        configTopic,
        name: sensor.name ?? sensor.object_id ?? sensor.unique_id ?? sensor.state_topic,
        deviceClass,
        sensor: {
          key,
          stateTopic: sensor.state_topic,
          ...(jsonPath === null ? {} : { jsonPath }),
          ...(unit === undefined ? {} : { unit }),
          scale,
        },
      },
    ],
  };
}

const ObjectSchema = z.record(z.string(), z.unknown());

/**
 * Parses one retained discovery message. Components other than `sensor` (and `device`, the device-based format
 * with `cmps`) are ignored; an empty payload is a removal; anything that is not a JSON object or misses what a
 * sensor needs is rejected with the reason.
 */
export function parseHaConfig(topic: string, payload: string): HaConfigOutcome {
  const levels = topic.split('/');
  if (levels[0] !== 'homeassistant' || levels.at(-1) !== 'config' || (levels.length !== 4 && levels.length !== 5)) {
    return { kind: 'rejected', reason: 'not a discovery topic' };
  }
  const component = levels[1] ?? '';
  if (component !== 'sensor' && component !== 'device') return { kind: 'ignored', reason: `component ${component}` };
  if (payload.trim() === '') return { kind: 'ignored', reason: 'removed (empty payload)' };
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch {
    return { kind: 'rejected', reason: 'payload is not JSON' };
  }
  const object = ObjectSchema.safeParse(json);
  if (!object.success || Array.isArray(json)) return { kind: 'rejected', reason: 'payload is not a JSON object' };
  const top = expandKeys(object.data, ENTITY_ABBREVIATIONS) as Record<string, unknown>;
  const base = typeof top['~'] === 'string' ? top['~'] : undefined;
  if (component === 'sensor') return toSensor(topic, expandBase(top, base), undefined);

  // device-based discovery: shared options at the top, one entry per entity under `components`
  const components = ObjectSchema.safeParse(top['components']);
  if (!components.success) return { kind: 'rejected', reason: 'device discovery without components' };
  const { components: _components, device: sharedDevice, origin: _origin, ...shared } = top;
  const sensors: ParsedSensor[] = [];
  const reasons: string[] = [];
  for (const [id, value] of Object.entries(components.data)) {
    const entity = ObjectSchema.safeParse(value);
    if (!entity.success) {
      reasons.push(`component ${id}: not an object`);
      continue;
    }
    const expanded = expandKeys(entity.data, ENTITY_ABBREVIATIONS) as Record<string, unknown>;
    if (expanded['platform'] !== 'sensor') continue;
    const entityBase = typeof expanded['~'] === 'string' ? expanded['~'] : base;
    const outcome = toSensor(`${topic}#${id}`, expandBase({ ...shared, ...expanded }, entityBase), sharedDevice);
    if (outcome.kind === 'sensors') sensors.push(...outcome.sensors);
    else reasons.push(`component ${id}: ${outcome.reason}`);
  }
  if (sensors.length > 0) return { kind: 'sensors', sensors };
  return { kind: 'ignored', reason: reasons[0] ?? 'device discovery without energy sensors' };
}

/** The longest topic prefix (whole levels) shared by all topics; the first level at least. */
export function commonTopicPrefix(topics: readonly string[]): string {
  const split = topics.map((t) => t.split('/'));
  const first = split[0] ?? [];
  let n = 0;
  while (n < first.length - 1 && split.every((levels) => levels[n] === first[n] && levels.length > n + 1)) n += 1;
  return first.slice(0, Math.max(1, n)).join('/');
}

function kindOf(keys: ReadonlySet<MeasurementKey>, label: string): AssetKind | undefined {
  const hasSoc = keys.has('socPct');
  const hasFlow = [...keys].some((k) => k !== 'socPct');
  if (hasSoc && !hasFlow) return undefined;
  if (hasSoc) return 'battery';
  if (/\b(grid|p1|smart ?meter|netz|dsmr)\b/i.test(label)) return 'grid-meter';
  if (/\b(pv|solar|inverter|wechselrichter)\b/i.test(label)) return 'pv-inverter';
  return 'meter';
}

/** Candidates from the energy sensors of one broker, one per Home Assistant device. */
export function haCandidates(
  sensors: readonly ParsedSensor[],
  brokerUrl: string,
): { readonly candidates: readonly Candidate[]; readonly skipped: readonly { device: string; reason: string }[] } {
  const byDevice = new Map<string, ParsedSensor[]>();
  for (const s of sensors) byDevice.set(s.deviceKey, [...(byDevice.get(s.deviceKey) ?? []), s]);
  const candidates: Candidate[] = [];
  const skipped: { device: string; reason: string }[] = [];
  for (const [deviceKey, list] of byDevice) {
    // one sensor per key: the first announced wins (a later duplicate is usually a second unit of the same value)
    const unique = [...new Map(list.map((s) => [s.sensor.key, s])).values()];
    const device = unique.find((s) => s.device)?.device;
    const label =
      [device?.manufacturer, device?.model ?? device?.name].filter(Boolean).join(' ') || device?.name || deviceKey;
    const keys = new Set(unique.map((s) => s.sensor.key));
    const kind = kindOf(keys, `${label} ${device?.name ?? ''}`);
    if (kind === undefined) {
      skipped.push({
        device: deviceKey,
        reason: 'only a battery level: a battery-powered gadget, not an energy asset',
      });
      continue;
    }
    const mac = normalizeMac(device?.connections?.find(([type]) => type === 'mac')?.[1]);
    const topics = unique.map((s) => s.sensor.stateTopic);
    const match = matchMqttProfile(unique.map((s) => s.sensor));
    let confidence = 0.5;
    if (device?.manufacturer) confidence += 0.1;
    if (keys.has('powerW') || keys.has('powerL1W')) confidence += 0.1;
    if (unique.length >= 2) confidence += 0.1;
    if (match) confidence = Math.max(confidence, 0.85);
    // a meter profile serves grid and sub-meters alike: keep what the names say; other profiles decide the kind
    const assetKind: AssetKind = match && match.profile.kind !== 'meter' ? match.profile.kind : kind;
    candidates.push(
      finishCandidate({
        source: 'mqtt',
        kind: assetKind,
        ...(match ? { profileId: match.profile.id } : {}),
        connection: { protocol: 'mqtt', topicPrefix: match?.prefix ?? commonTopicPrefix(topics), brokerUrl },
        identity: {
          ...(device?.manufacturer ? { manufacturer: device.manufacturer } : {}),
          ...(device?.model ? { model: device.model } : {}),
          ...(device?.serial_number ? { serial: device.serial_number } : {}),
          ...(mac ? { mac } : {}),
          deviceId: deviceKey,
        },
        confidence,
        evidence: [
          ...unique.map(
            (s) =>
              `${s.configTopic}: ${s.deviceClass}${s.sensor.unit ? ` in ${s.sensor.unit}` : ''} → ${s.sensor.key} from ${s.sensor.stateTopic}${s.sensor.jsonPath ? ` (${s.sensor.jsonPath})` : ''}`,
          ),
          match
            ? match.evidence
            : 'no MQTT profile of the catalogue fits: the sensors above are what an MQTT driver would have to read',
        ],
        sensors: unique.map((s) => s.sensor),
        label: device?.name ? `${device.name}${label !== device.name ? ` (${label})` : ''}` : label,
      }),
    );
  }
  return { candidates, skipped };
}
