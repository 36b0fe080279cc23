// Which MQTT profile of the catalogue a Home Assistant device's sensors fit: a profile topic template
// (`{prefix}/status/em:0`) that a sensor's state topic matches, with the sensor's JSON path equal to one of that
// topic's field paths. Pure.
import { allProfiles, parseJsonPath, PREFIX_PLACEHOLDER, type MqttProfile } from '@voltimax/devices';
import type { CandidateSensor } from '../candidate';

/** A profile the sensors fit, with the topic prefix they imply. */
export interface MqttProfileMatch {
  readonly profile: MqttProfile;
  readonly prefix: string;
  /** Sensors whose topic and JSON path are one of the profile's fields. */
  readonly matched: number;
  readonly evidence: string;
}

/** `$.a.b[0]` → `a.b.0` (the form of a sensor's `jsonPath`); undefined for the root or a bad path. */
function dotted(path: string): string | undefined {
  const parsed = parseJsonPath(path);
  if (!parsed.ok || parsed.path.segments.length === 0) return undefined;
  return parsed.path.segments.map((s) => (s.kind === 'member' ? s.name : String(s.index))).join('.');
}

function mqttProfiles(): MqttProfile[] {
  return allProfiles.filter((p): p is MqttProfile => p.protocol === 'mqtt');
}

/**
 * The catalogue MQTT profile the sensors fit best: every matching sensor must imply the same prefix, at least one
 * of the profile's required topics must be among them, and at least two sensors must match (one when the device
 * has only one). Undefined when none fits.
 */
export function matchMqttProfile(sensors: readonly CandidateSensor[]): MqttProfileMatch | undefined {
  let best: MqttProfileMatch | undefined;
  for (const profile of mqttProfiles()) {
    const prefixes = new Set<string>();
    const topicsHit = new Set<string>();
    let matched = 0;
    for (const sensor of sensors) {
      for (const topic of profile.topics) {
        const [before = '', after = ''] = topic.topic.split(PREFIX_PLACEHOLDER);
        const t = sensor.stateTopic;
        if (t.length <= before.length + after.length || !t.startsWith(before) || !t.endsWith(after)) continue;
        const prefix = t.slice(before.length, t.length - after.length);
        const fits = topic.fields.some((f) => sensor.jsonPath !== undefined && dotted(f.path) === sensor.jsonPath);
        if (!fits || prefix.includes('+') || prefix.includes('#')) continue;
        prefixes.add(prefix);
        topicsHit.add(topic.name);
        matched += 1;
        break;
      }
    }
    const [prefix] = [...prefixes];
    const requiredHit = profile.topics.some((t) => t.required && topicsHit.has(t.name));
    const enough = matched >= Math.min(2, sensors.length);
    if (prefix === undefined || prefixes.size !== 1 || !requiredHit || !enough) continue;
    if (best === undefined || matched > best.matched) {
      best = {
        profile,
        prefix,
        matched,
        evidence: `${profile.id}: ${matched} of ${sensors.length} sensors are its fields on ${[...topicsHit].map((n) => profile.topics.find((t) => t.name === n)?.topic).join(', ')} with prefix '${prefix}'`,
      };
    }
  }
  return best;
}
