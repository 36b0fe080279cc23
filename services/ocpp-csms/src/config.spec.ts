import { SiteConfigSchema, type SiteConfigInput } from '@voltimax/contracts';
import { parseEnv } from '@voltimax/service-kit';
import { planChargers } from './chargers';
import { csmsEnvSchema } from './config';
import { transactionIds, TRANSACTION_EPOCH_MS } from './ids';
import { testSite } from './testing/harness';

const files = (site: SiteConfigInput, extra: Record<string, string> = {}) => {
  const contents: Record<string, string> = { '/site.json': JSON.stringify(site), ...extra };
  return (path: string) => {
    const text = contents[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return text;
  };
};

function parse(env: Record<string, string>, site: SiteConfigInput = testSite(), extra: Record<string, string> = {}) {
  return parseEnv('ocpp-csms', csmsEnvSchema(files(site, extra)), { SITE_FILE: '/site.json', ...env }).service;
}

describe('planChargers', () => {
  it('groups connectors by charge point and collects the profile measurands', () => {
    const plan = planChargers(SiteConfigSchema.parse(testSite()));
    expect([...plan.chargePoints.keys()]).toEqual(['CP-1', 'CP-2']);
    expect([...(plan.chargePoints.get('CP-2')?.connectors.keys() ?? [])]).toEqual([1, 2]);
    expect(plan.chargePoints.get('CP-1')?.measurands).toEqual(['Current.Import', 'Energy.Active.Import.Register', 'Power.Active.Import']);
    expect(plan.notOcpp).toEqual(['grid-1']);
    expect(plan.problems).toEqual([]);
  });

  it('keeps a charger with an unusable profile (error readings) and names why', () => {
    const site = testSite();
    const assets = site.assets.map((a) => (a.id === 'ev-1' ? { ...a, profile: 'eastron.sdm630' } : a));
    const charger = planChargers(SiteConfigSchema.parse({ ...site, assets })).assets.find((a) => a.assetId === 'ev-1');
    expect(charger?.profile).toEqual({ ok: false, reason: "profile 'eastron.sdm630' speaks modbus, not OCPP" });
  });

  it('disabled chargers are not driven', () => {
    const site = testSite();
    const assets = site.assets.map((a) => (a.id === 'ev-1' ? { ...a, enabled: false } : a));
    const plan = planChargers(SiteConfigSchema.parse({ ...site, assets }));
    expect(plan.chargePoints.has('CP-1')).toBe(false);
    expect(plan.notOcpp).toContain('ev-1');
  });
});

describe('environment', () => {
  it('defaults: port 8887, security profile 1 … which needs passwords', () => {
    expect(() => parse({})).toThrow(/OCPP_SECURITY_PROFILE: security profile 1 needs a password for charge point 'CP-1'/);
    const env = parse({ OCPP_SECURITY_PROFILE: '0' });
    expect(env).toMatchObject({ port: 8887, host: '0.0.0.0', securityProfile: 0, authorize: 'accept-all', meterIntervalS: 10, remoteIdTag: 'voltimax' });
  });

  it('reads each charge point’s password from the variable assets.json names, never from the file', () => {
    const env = parse({ OCPP_PW_CP_1: 'one', OCPP_PW_CP_2: 'two' }, testSite({ passwordEnv: 'OCPP_PW' }));
    expect(env.passwords.get('CP-1')?.toString()).toBe('one');
    expect(env.passwords.get('CP-2')?.toString()).toBe('two');
  });

  it('lists every problem at once, without values', () => {
    let message = '';
    try {
      parse({ OCPP_SECURITY_PROFILE: '3', OCPP_PORT: '70000', OCPP_AUTHORIZE: 'local-list', OCPP_REMOTE_ID_TAG: 'x'.repeat(21) });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/OCPP_SECURITY_PROFILE:/);
    expect(message).toMatch(/OCPP_PORT:/);
    expect(message).toMatch(/OCPP_REMOTE_ID_TAG:/);
  });

  it('local-list authorization needs id tags', () => {
    expect(() => parse({ OCPP_SECURITY_PROFILE: '0', OCPP_AUTHORIZE: 'local-list' })).toThrow(/OCPP_ID_TAGS: local-list authorization needs at least one id tag/);
    expect(parse({ OCPP_SECURITY_PROFILE: '0', OCPP_AUTHORIZE: 'local-list', OCPP_ID_TAGS: 'A, B' }).idTags).toEqual(new Set(['A', 'B']));
  });

  it('profile 2 reads the PEM files', () => {
    const env = parse(
      { OCPP_SECURITY_PROFILE: '2', OCPP_TLS_CERT_FILE: '/c.pem', OCPP_TLS_KEY_FILE: '/k.pem', OCPP_PW_CP_1: 'a', OCPP_PW_CP_2: 'b' },
      testSite({ passwordEnv: 'OCPP_PW' }),
      { '/c.pem': 'CERT', '/k.pem': 'KEY' },
    );
    expect(env.tls).toEqual({ cert: 'CERT', key: 'KEY' });
  });
});

describe('transaction ids', () => {
  it('start above the current second, grow by one, and skip ids charge points report', () => {
    let now = TRANSACTION_EPOCH_MS + 1_000_500;
    const ids = transactionIds(() => now);
    expect(ids.next()).toBe(1_001);
    expect(ids.next()).toBe(1_002);
    ids.seen(5_000);
    expect(ids.next()).toBe(5_001);
    now += 10_000_000;
    expect(ids.next()).toBe(11_000);
    ids.seen(-3);
    ids.seen(2 ** 40);
    expect(ids.next()).toBe(11_001);
  });

  it('a restart within the same second never repeats an id of the earlier run', () => {
    const now = TRANSACTION_EPOCH_MS + 77_000_100;
    const first = transactionIds(() => now).next();
    const second = transactionIds(() => now).next();
    expect(first).toBe(second); // both "now + 1": unique only if the earlier run did not start a session this second…
    const run = transactionIds(() => now);
    run.seen(first); // …which the restarted run learns from the charger's reports
    expect(run.next()).toBeGreaterThan(first);
  });
});
