import type { Setpoint, SetpointKind, ValueBounds } from '@voltimax/contracts';
import { decodeJsonFields, parseJsonDocument, type JsonReading } from '../http/json-fields';
import { VALUE_PLACEHOLDER } from '../http/http-profile';
import { convertSetpointValue, type JsonWriteRejection } from '../http/set-value';
import type { PointKey } from '../keys';
import { PREFIX_PLACEHOLDER, type MqttProfile, type MqttTopic, type MqttWrite } from './mqtt-profile';

/** A `topicPrefix` usable in topics: no wildcards, no NUL, no empty levels at the ends, not broker space. */
export function topicPrefixProblem(prefix: string): string | undefined {
  if (prefix.length === 0) return 'topic prefix is empty';
  if (/[+#\0]/.test(prefix)) return `topic prefix '${prefix}' contains +, # or NUL`;
  if (prefix.startsWith('$')) return `topic prefix '${prefix}' starts with $ (broker space)`;
  if (prefix.startsWith('/') || prefix.endsWith('/')) return `topic prefix '${prefix}' starts or ends with /`;
  return undefined;
}

/** The concrete topic for an asset: the template with `{prefix}` replaced. Pure. */
export function mqttTopic(template: string, prefix: string): string {
  return template.split(PREFIX_PLACEHOLDER).join(prefix);
}

/** What one MQTT message on a reading topic yields. */
export type MqttMessageOutcome =
  | { readonly kind: 'reading'; readonly reading: JsonReading }
  /** Not UTF-8, not JSON (for `json` topics), or too big: nothing in it is usable. */
  | { readonly kind: 'garbage'; readonly error: string };

/** Largest payload decoded, bytes; anything bigger is garbage for a power meter. */
export const MAX_MQTT_PAYLOAD_BYTES = 64 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Pure: a payload received on one of the profile's topics → the topic's values, or why it is garbage. */
export function decodeMqttPayload(
  topic: Pick<MqttTopic, 'format' | 'fields'>,
  payload: Uint8Array | string,
): MqttMessageOutcome {
  const size = typeof payload === 'string' ? payload.length : payload.byteLength;
  if (size > MAX_MQTT_PAYLOAD_BYTES)
    return { kind: 'garbage', error: `payload of ${size} bytes exceeds ${MAX_MQTT_PAYLOAD_BYTES}` };
  let text: string;
  try {
    text = typeof payload === 'string' ? payload : utf8.decode(payload);
  } catch {
    return { kind: 'garbage', error: 'payload is not UTF-8 text' };
  }
  if (topic.format === 'text') {
    const trimmed = text.trim();
    if (trimmed === '') return { kind: 'garbage', error: 'empty payload' };
    return { kind: 'reading', reading: decodeJsonFields(topic.fields, trimmed) };
  }
  const document = parseJsonDocument(text);
  if (!document.ok) return { kind: 'garbage', error: `payload ${document.error}` };
  return { kind: 'reading', reading: decodeJsonFields(topic.fields, document.value) };
}

/** One MQTT message that executes (part of) a set-point, and what confirms it. */
export interface MqttCommand {
  readonly write: MqttWrite;
  readonly topic: string;
  readonly payload: string;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  /** The confirmation: `key` on the profile topic named `topicName` must equal `value` (± tolerance). */
  readonly expect: {
    readonly topicName: string;
    readonly key: PointKey;
    readonly value: number;
    readonly tolerance: number;
  };
  /** The set-point value the device will hold (set-point unit), when the command carries one (templates). */
  readonly value?: number;
  readonly clamped?: { readonly requested: number; readonly applied: number };
}

/** The typed result of encoding a set-point for an MQTT device. */
export type MqttCommandOutcome =
  | { readonly kind: 'commands'; readonly setpoint: SetpointKind; readonly commands: readonly MqttCommand[] }
  | {
      readonly kind: 'rejected';
      readonly setpoint: SetpointKind;
      readonly reason: JsonWriteRejection;
      readonly detail: string;
    };

function command(
  write: MqttWrite,
  setpoint: Setpoint,
  prefix: string,
  bounds: ValueBounds | undefined,
): MqttCommand | { reason: JsonWriteRejection; detail: string } {
  const converted = convertSetpointValue(write, setpoint, bounds);
  if (converted.kind === 'rejected') return converted;
  const clamped = converted.clamped === undefined ? {} : { clamped: converted.clamped };
  const base = { write, topic: mqttTopic(write.topic, prefix), qos: write.qos, retain: write.retain, ...clamped };
  const { tolerance } = write.readBack;
  if (write.payload.kind === 'switch') {
    const on = converted.value >= write.payload.onAtOrAbove;
    return {
      ...base,
      payload: on ? write.payload.on : write.payload.off,
      expect: { topicName: write.readBack.topic, key: write.readBack.key, value: on ? 1 : 0, tolerance },
    };
  }
  return {
    ...base,
    payload: write.payload.template.split(VALUE_PLACEHOLDER).join(String(converted.deviceValue)),
    expect: { topicName: write.readBack.topic, key: write.readBack.key, value: converted.value, tolerance },
    value: converted.value,
  };
}

/**
 * Pure: a contracts set-point → the MQTT command(s) for the asset with `topicPrefix` `prefix`. `safe` sends every
 * write's `safeValue` (a switch: off when the safe value is below `onAtOrAbove`). `bounds`: the arbiter's interval
 * (DeviceWrite.bounds), for integer device values.
 */
export function encodeMqttCommand(
  profile: Pick<MqttProfile, 'writes'>,
  setpoint: Setpoint,
  prefix: string,
  bounds?: ValueBounds,
): MqttCommandOutcome {
  const writes = setpoint.kind === 'safe' ? profile.writes : profile.writes.filter((w) => w.setpoint === setpoint.kind);
  if (writes.length === 0) {
    return {
      kind: 'rejected',
      setpoint: setpoint.kind,
      reason: 'unsupported-setpoint',
      detail: `the profile has no write for '${setpoint.kind}'`,
    };
  }
  const commands: MqttCommand[] = [];
  for (const write of writes) {
    const encoded = command(write, setpoint, prefix, bounds);
    if (!('topic' in encoded)) return { kind: 'rejected', setpoint: setpoint.kind, ...encoded };
    commands.push(encoded);
  }
  return { kind: 'commands', setpoint: setpoint.kind, commands };
}

/** True when a decoded reading of the confirmation topic shows the commanded value. Pure. */
export function confirmsCommand(expect: MqttCommand['expect'], reading: JsonReading): boolean {
  const value = reading.values[expect.key];
  return typeof value === 'number' && Math.abs(value - expect.value) <= expect.tolerance + 1e-9;
}
