import { AssetReadingSchema, formatIssues, subjects, type AssetReading } from '@voltimax/contracts';
import { utf8Bytes } from './framing';

/** A stream message checked against AssetReadingSchema and its subject. */
export type DecodedReading =
  | { readonly ok: true; readonly reading: AssetReading; readonly bytes: number }
  | {
      readonly ok: false;
      readonly reason: 'not-json' | 'invalid-schema' | 'subject-mismatch';
      readonly detail: string;
    };

const decoder = new TextDecoder('utf-8', { fatal: true });
const PREFIX = subjects.telemetry.pattern.slice(0, subjects.telemetry.pattern.indexOf('{'));

/**
 * Decode one TELEMETRY message: UTF-8 JSON, an AssetReading, published on `telemetry.<its assetId>`. The reading is
 * re-encoded from the parsed value, so its byte count is exactly what the frame will carry.
 */
export function decodeReading(subject: string, data: Uint8Array): DecodedReading {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch (err) {
    return { ok: false, reason: 'not-json', detail: err instanceof Error ? err.message.slice(0, 200) : 'not JSON' };
  }
  const parsed = AssetReadingSchema.safeParse(json);
  if (!parsed.success) {
    const problems = formatIssues(parsed.error.issues)
      .slice(0, 3)
      .map((p) => `${p.path}: ${p.message}`)
      .join('; ');
    return { ok: false, reason: 'invalid-schema', detail: problems.slice(0, 300) };
  }
  const reading = parsed.data;
  if (subject !== `${PREFIX}${reading.assetId}`) {
    return { ok: false, reason: 'subject-mismatch', detail: `assetId ${reading.assetId} on ${subject.slice(0, 100)}` };
  }
  return { ok: true, reading, bytes: utf8Bytes(JSON.stringify(reading)) };
}
