import { z } from 'zod';
import { PointKeySchema } from '../keys';
import { JsonProfileKindSchema, JsonSetpointSchema, PartNameSchema, profileMeta, valueRules } from '../http/common';
import { JsonFieldSchema } from '../http/json-field-schema';
import { VALUE_PLACEHOLDER } from '../http/http-profile';

/** The placeholder in a topic template that becomes the asset's `topicPrefix`. */
export const PREFIX_PLACEHOLDER = '{prefix}';

/**
 * A topic with `{prefix}` (exactly once) for the asset's `topicPrefix`, e.g. `{prefix}/status/em:0` (Shelly) or
 * `tele/{prefix}/SENSOR` (Tasmota). No wildcards: every topic is one device's.
 */
export const TopicTemplateSchema = z
  .string()
  .min(1)
  .max(200)
  .refine((t) => !/[+#\0]/.test(t), 'topic must not contain +, # or NUL')
  .refine((t) => !t.startsWith('$'), 'topics starting with $ are broker space')
  .refine((t) => t.split(PREFIX_PLACEHOLDER).length === 2, `topic must contain ${PREFIX_PLACEHOLDER} exactly once`);

/** A topic the device publishes readings on. */
export const MqttTopicSchema = z.strictObject({
  /** Name a write's `readBack.topic` refers to, e.g. `em`. */
  name: PartNameSchema,
  topic: TopicTemplateSchema,
  /** `json`: the payload is a JSON document; `text`: the payload text itself is the document (`$`), e.g. `ON`. */
  format: z.enum(['json', 'text']).default('json'),
  /** True: a reading needs a fresh message on this topic (else it is stale); false: its values join when present. */
  required: z.boolean().default(true),
  fields: z.array(JsonFieldSchema).min(1),
});
export type MqttTopic = z.output<typeof MqttTopicSchema>;

/**
 * What a write publishes. `switch`: `on` when the set-point value is ≥ `onAtOrAbove`, else `off` (a relay: an EV
 * charger behind a contactor charges at its own fixed current or not at all). `template`: the text with
 * `{{value}}` replaced by the device value (value × scale).
 */
export const MqttPayloadSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('switch'),
    on: z.string().min(1).max(200),
    off: z.string().min(1).max(200),
    onAtOrAbove: z.number().finite(),
  }),
  z.strictObject({
    kind: z.literal('template'),
    template: z
      .string()
      .max(1_000)
      .refine(
        (t) => t.split(VALUE_PLACEHOLDER).length === 2,
        `template must contain ${VALUE_PLACEHOLDER} exactly once`,
      ),
  }),
]);
export type MqttPayload = z.output<typeof MqttPayloadSchema>;

/**
 * How one set-point kind becomes an MQTT command, and how it is confirmed: after publishing, a message on
 * `readBack.topic` whose `readBack.key` equals the target (1/0 for a switch, the value in the set-point unit for a
 * template) confirms it.
 */
export const MqttWriteSchema = z.strictObject({
  setpoint: JsonSetpointSchema,
  topic: TopicTemplateSchema,
  payload: MqttPayloadSchema,
  qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(1),
  retain: z.boolean().default(false),
  readBack: z.strictObject({
    topic: PartNameSchema,
    key: PointKeySchema,
    tolerance: z.number().finite().nonnegative().default(0),
  }),
  ...valueRules,
});
export type MqttWriteInput = z.input<typeof MqttWriteSchema>;
export type MqttWrite = z.output<typeof MqttWriteSchema>;

interface Problem {
  readonly path: (string | number)[];
  readonly message: string;
}

/** Cross-field rules of an MQTT profile (run by the schema; exported for tests). */
export function mqttProfileProblems(profile: {
  readonly topics: readonly MqttTopic[];
  readonly writes: readonly MqttWrite[];
}): readonly Problem[] {
  const problems: Problem[] = [];
  const topics = new Map<string, MqttTopic>();
  const templates = new Set<string>();
  profile.topics.forEach((topic, index) => {
    if (topics.has(topic.name))
      problems.push({ path: ['topics', index, 'name'], message: `duplicate topic '${topic.name}'` });
    if (templates.has(topic.topic))
      problems.push({ path: ['topics', index, 'topic'], message: `'${topic.topic}' is listed twice` });
    topics.set(topic.name, topic);
    templates.add(topic.topic);
  });
  if (!profile.topics.some((t) => t.required))
    problems.push({ path: ['topics'], message: 'at least one topic must be required' });
  const kinds = new Set<string>();
  profile.writes.forEach((write, index) => {
    if (kinds.has(write.setpoint))
      problems.push({ path: ['writes', index], message: `two writes for '${write.setpoint}'` });
    kinds.add(write.setpoint);
    if (write.range.min > write.range.max)
      problems.push({ path: ['writes', index, 'range'], message: 'range.min must not exceed range.max' });
    if (write.safeValue < write.range.min || write.safeValue > write.range.max)
      problems.push({ path: ['writes', index, 'safeValue'], message: 'safeValue must lie in range' });
    if (templates.has(write.topic))
      problems.push({ path: ['writes', index, 'topic'], message: 'a command topic must not be a reading topic' });
    const topic = topics.get(write.readBack.topic);
    if (topic === undefined) {
      problems.push({
        path: ['writes', index, 'readBack', 'topic'],
        message: `unknown topic '${write.readBack.topic}'`,
      });
    } else if (!topic.fields.some((f) => f.key === write.readBack.key)) {
      problems.push({
        path: ['writes', index, 'readBack', 'key'],
        message: `'${write.readBack.key}' is not a field of topic '${topic.name}'`,
      });
    }
  });
  return problems;
}

/** A device that publishes its readings on MQTT topics and takes commands as MQTT messages. */
export const MqttProfileSchema = z
  .strictObject({
    ...profileMeta,
    protocol: z.literal('mqtt'),
    kind: JsonProfileKindSchema,
    mqtt: z
      .strictObject({
        /** Published when a poll interval passed without a message, so the device sends its status now. */
        statusRequest: z.strictObject({ topic: TopicTemplateSchema, payload: z.string().max(200) }).optional(),
      })
      .default({}),
    topics: z.array(MqttTopicSchema).min(1),
    writes: z.array(MqttWriteSchema).default([]),
  })
  .superRefine((profile, ctx) => {
    for (const problem of mqttProfileProblems(profile))
      ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
  });
export type MqttProfileInput = z.input<typeof MqttProfileSchema>;
export type MqttProfile = z.output<typeof MqttProfileSchema>;
