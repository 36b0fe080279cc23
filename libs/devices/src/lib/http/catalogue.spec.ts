// The catalogue suite for HTTP and MQTT profiles (the register profiles have theirs in src/profiles.spec.ts).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { SiteConfig } from '@voltimax/contracts';
import { allProfiles, getProfile } from '../registry';
import { siteProfileProblems } from '../site-profiles';
import { getHttpProfile, getMqttProfile, JSON_REQUIRED_KEYS, JSON_REQUIRED_WRITES } from './catalogue';
import type { JsonField } from './json-fields';

const repoRoot = join(__dirname, '..', '..', '..', '..', '..');
const jsonProfiles = allProfiles.flatMap((p) => (p.protocol === 'http' || p.protocol === 'mqtt' ? [p] : []));
const fieldsOf = (profile: (typeof jsonProfiles)[number]): readonly JsonField[] =>
  profile.protocol === 'http' ? profile.reads.flatMap((r) => r.fields) : profile.topics.flatMap((t) => t.fields);

const UNIT_OF_SUFFIX: readonly [RegExp, string][] = [
  [/Wh$/, 'Wh'],
  [/W$/, 'W'],
  [/Pct$/, '%'],
  [/Hz$/, 'Hz'],
  [/V$/, 'V'],
  [/A$/, 'A'],
];

describe('HTTP and MQTT profiles in the catalogue', () => {
  it('holds the five JSON profiles, each found by its getter', () => {
    expect(jsonProfiles.map((p) => p.id).sort()).toEqual(
      ['homewizard.p1', 'peblar.rest', 'shelly.plus-1pm', 'shelly.pro-3em', 'tasmota.energy'].sort(),
    );
    expect(getHttpProfile('peblar.rest')?.protocol).toBe('http');
    expect(getHttpProfile('shelly.pro-3em')).toBeUndefined();
    expect(getMqttProfile('shelly.pro-3em')?.protocol).toBe('mqtt');
    expect(getMqttProfile('peblar.home')).toBeUndefined();
  });

  describe.each(jsonProfiles.map((p) => [p.id, p] as const))('%s', (_id, profile) => {
    it('reads the keys its kind requires', () => {
      expect(fieldsOf(profile).map((f) => f.key)).toEqual(
        expect.arrayContaining([...JSON_REQUIRED_KEYS[profile.kind]]),
      );
    });

    it('writes the set-points its kind requires', () => {
      expect(profile.writes.map((w) => w.setpoint)).toEqual(
        expect.arrayContaining([...JSON_REQUIRED_WRITES[profile.kind]]),
      );
    });

    it('states units that agree with the key suffix', () => {
      for (const field of fieldsOf(profile).filter((f) => f.unit !== undefined)) {
        expect([field.key, field.unit]).toEqual([field.key, UNIT_OF_SUFFIX.find(([re]) => re.test(field.key))?.[1]]);
      }
    });

    it('names a source file that exists', () => {
      const path = /^(libs\/devices\/\S+\.md)/.exec(profile.source)?.[1];
      expect(path !== undefined && existsSync(join(repoRoot, path))).toBe(true);
    });
  });
});

describe('siteProfileProblems with HTTP and MQTT assets', () => {
  type Asset = SiteConfig['assets'][number];
  const asset = (fields: Record<string, unknown>): Asset =>
    ({ id: 'a-1', name: 'A', pollIntervalMs: 1000, enabled: true, ...fields }) as unknown as Asset;

  it('accepts JSON profiles on their own protocol (and on simulated)', () => {
    const assets = [
      asset({
        kind: 'ev-charger',
        profile: 'peblar.rest',
        connection: { protocol: 'http', baseUrl: 'http://192.0.2.30' },
      }),
      asset({
        kind: 'grid-meter',
        profile: 'homewizard.p1',
        connection: { protocol: 'http', baseUrl: 'http://192.0.2.40' },
      }),
      asset({
        kind: 'grid-meter',
        profile: 'shelly.pro-3em',
        connection: { protocol: 'mqtt', topicPrefix: 'shelly-1' },
      }),
      asset({ kind: 'meter', profile: 'tasmota.energy', connection: { protocol: 'mqtt', topicPrefix: 'plug' } }),
      asset({ kind: 'ev-charger', profile: 'peblar.rest', connection: { protocol: 'simulated' } }),
    ];
    expect(siteProfileProblems({ assets })).toEqual([]);
    expect(getProfile('peblar.rest')).toBeDefined();
  });

  it('refuses a JSON profile on another protocol, and a Modbus profile on http', () => {
    const problems = siteProfileProblems({
      assets: [
        asset({
          kind: 'ev-charger',
          profile: 'peblar.rest',
          connection: { protocol: 'modbus-tcp', host: 'h', port: 502, unitId: 1 },
        }),
        asset({ kind: 'grid-meter', profile: 'shelly.pro-3em', connection: { protocol: 'http', baseUrl: 'http://h' } }),
        asset({ kind: 'ev-charger', profile: 'peblar.home', connection: { protocol: 'http', baseUrl: 'http://h' } }),
        asset({ kind: 'battery', profile: 'homewizard.p1', connection: { protocol: 'http', baseUrl: 'http://h' } }),
      ],
    });
    expect(problems.map((p) => p.message)).toEqual([
      "profile 'peblar.rest' speaks http, not modbus-tcp",
      "profile 'shelly.pro-3em' speaks mqtt, not http",
      "profile 'peblar.home' speaks modbus, not http",
      "profile 'homewizard.p1' is a meter profile and cannot serve a battery",
    ]);
  });
});
