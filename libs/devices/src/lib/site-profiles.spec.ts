import type { SiteConfig } from '@voltimax/contracts';
import { siteProfileProblems } from './site-profiles';

type Asset = SiteConfig['assets'][number];
const tcp = { protocol: 'modbus-tcp', host: '127.0.0.1', port: 502, unitId: 1 } as const;
const asset = (patch: Partial<Asset> & Pick<Asset, 'kind' | 'profile'>): Asset =>
  ({ id: 'a-1', name: 'a', connection: tcp, pollIntervalMs: 1000, enabled: true, ...patch }) as Asset;

describe('siteProfileProblems', () => {
  it('accepts assets whose profile exists, serves the kind and speaks the protocol', () => {
    expect(siteProfileProblems({ assets: [asset({ kind: 'grid-meter', profile: 'eastron.sdm630' })] })).toEqual([]);
  });

  it('names an unknown profile and lists the known ones', () => {
    const [problem] = siteProfileProblems({ assets: [asset({ kind: 'grid-meter', profile: 'acme.pm3' })] });
    expect(problem?.path).toBe('$.assets[0].profile');
    expect(problem?.message).toMatch(/unknown profile 'acme\.pm3' \(known: .*eastron\.sdm630/);
  });

  it('refuses a meter profile for an EV charger', () => {
    const problems = siteProfileProblems({ assets: [asset({ kind: 'ev-charger', profile: 'eastron.sdm630' } as Partial<Asset> & Pick<Asset, 'kind' | 'profile'>)] });
    expect(problems.map((p) => p.message)).toContain("profile 'eastron.sdm630' is a meter profile and cannot serve a ev-charger");
  });

  it('refuses an OCPP-only charger on a Modbus connection', () => {
    const problems = siteProfileProblems({ assets: [asset({ kind: 'ev-charger', profile: 'autel.maxicharger-ac' } as Partial<Asset> & Pick<Asset, 'kind' | 'profile'>)] });
    expect(problems).toContainEqual({ path: '$.assets[0].connection.protocol', message: "profile 'autel.maxicharger-ac' speaks ocpp, not modbus-tcp" });
  });
});
