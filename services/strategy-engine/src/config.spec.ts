import { ConfigError, parseEnv } from '@voltimax/service-kit';
import { engineEnvSchema, intentTtlMs, parseEngineConfig } from './config';
import { buildSite } from './testing';

const files: Record<string, string> = {
  'good.json': JSON.stringify(buildSite()),
  'typo.json': JSON.stringify(buildSite({ strategy: { active: ['self-consumption'], tickMs: 1_000, config: { 'self-consumption': { gridTargetW: 0 } } } })),
  'broken.json': '{ "v": 1,',
};
const read = (path: string): string => {
  const text = files[path];
  if (text === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
  return text;
};
const parse = (env: Record<string, string | undefined>) => parseEnv('strategy-engine', engineEnvSchema(read), env).service;

describe('engine environment', () => {
  it('reads and validates SITE_FILE, with defaults for the rest', () => {
    const env = parse({ SITE_FILE: 'good.json' });
    expect(env).toMatchObject({ SITE_FILE: 'good.json', MAX_TELEMETRY_AGE_MS: 15_000, CONFIG_KV_KEY: 'site' });
    expect(env.REDIS_URL).toBeUndefined();
    expect(env.INTENT_TTL_MS).toBeUndefined();
    expect(env.engineConfig.site.gatewayId).toBe('gw-test');
  });

  it.each([
    { name: 'a missing file', env: { SITE_FILE: 'nope.json' }, message: /SITE_FILE: \$: cannot read nope\.json: ENOENT/ },
    { name: 'broken JSON', env: { SITE_FILE: 'broken.json' }, message: /SITE_FILE: \$: broken\.json is not valid JSON/ },
    {
      name: 'a typo in a strategy block',
      env: { SITE_FILE: 'typo.json' },
      message: /SITE_FILE: \$\.strategy\.config\["self-consumption"\]: Unrecognized key: "gridTargetW"/,
    },
    { name: 'a bad REDIS_URL', env: { SITE_FILE: 'good.json', REDIS_URL: 'localhost:6379' }, message: /REDIS_URL: must start with redis:\/\// },
    { name: 'a tiny INTENT_TTL_MS', env: { SITE_FILE: 'good.json', INTENT_TTL_MS: '5' }, message: /INTENT_TTL_MS: Too small/ },
  ])('refuses $name (exit 78 through service-kit)', ({ env, message }) => {
    expect(() => parse(env)).toThrow(ConfigError);
    expect(() => parse(env)).toThrow(message);
  });
});

describe('parseEngineConfig', () => {
  it('parses the block of every strategy that may run: active, rule-activated and configured', () => {
    const outcome = parseEngineConfig(
      buildSite({
        rules: [{ id: 'night', when: { type: 'time', from: '02:00', to: '05:00' }, then: { type: 'activate-strategy', strategy: 'charge' } }],
        strategy: { active: ['self-consumption'], tickMs: 1_000, config: { 'net-zero': { kp: 0.2 } } },
      }),
    );
    if (!outcome.ok) throw new Error('expected ok');
    expect(Object.keys(outcome.config.configs).sort()).toEqual(['charge', 'net-zero', 'self-consumption']);
    expect(outcome.config.configs['net-zero']?.kp).toBe(0.2);
  });

  it('takes each rule\'s source, hold time and intent lifetime from the rule itself', () => {
    const outcome = parseEngineConfig(
      buildSite({
        rules: [
          { id: 'reserve', source: 'safety', forMs: 30_000, ttlMs: 5_000, when: { type: 'grid-import-above', powerW: 9_000 }, then: { type: 'activate-strategy', strategy: 'null' } },
          { id: 'plain', when: { type: 'grid-import-above', powerW: 9_000 }, then: { type: 'activate-strategy', strategy: 'null' } },
        ],
      }),
    );
    if (!outcome.ok) throw new Error(JSON.stringify(outcome.problems));
    expect(outcome.config.automation.rules).toEqual({
      reserve: { source: 'safety', forMs: 30_000, ttlMs: 5_000 },
      // Without its own lifetime a rule's intents live as long as the engine's (3 ticks; the engine fills it in).
      plain: { source: 'scheduled', forMs: 0 },
    });
  });

  it('refuses a rule-activated strategy whose defaults do not parse (peak-shaving needs thresholdW)', () => {
    const outcome = parseEngineConfig(
      buildSite({ rules: [{ id: 'peak', when: { type: 'grid-import-above', powerW: 9_000 }, then: { type: 'activate-strategy', strategy: 'peak-shaving' } }] }),
    );
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && outcome.problems.map((p) => p.path)).toEqual(['$.strategy.config["peak-shaving"].thresholdW']);
  });

  it('gives the same hash to the same configuration and another to a different one', () => {
    const a = parseEngineConfig(buildSite());
    const b = parseEngineConfig(JSON.parse(JSON.stringify(buildSite())));
    const c = parseEngineConfig(buildSite({ siteName: 'Other' }));
    if (!a.ok || !b.ok || !c.ok) throw new Error('expected ok');
    expect(a.config.hash).toBe(b.config.hash);
    expect(a.config.hash).not.toBe(c.config.hash);
    expect(a.config.configHashes['self-consumption']).toBe(c.config.configHashes['self-consumption']);
  });

  it('defaults the intent TTL to three ticks', () => {
    expect(intentTtlMs({ INTENT_TTL_MS: undefined }, 1_000)).toBe(3_000);
    expect(intentTtlMs({ INTENT_TTL_MS: 7_000 }, 1_000)).toBe(7_000);
    // Never under two ticks: 300 ms with 1-s ticks let every intent lapse between ticks.
    expect(intentTtlMs({ INTENT_TTL_MS: 300 }, 1_000)).toBe(2_000);
    expect(intentTtlMs({ INTENT_TTL_MS: 7_000 }, 60_000)).toBe(120_000);
  });
});
