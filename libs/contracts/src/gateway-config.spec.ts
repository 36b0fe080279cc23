import {
  GatewayConfigApplyReplySchema,
  GatewayConfigApplyRequestSchema,
  SiteConfigSchema,
  formatIssues,
  subjects,
} from './index';
import { exampleConfigApplyRequest, exampleSiteConfig } from './testing';

const paths = (result: { error?: { issues: Parameters<typeof formatIssues>[0] } }) =>
  result.error ? formatIssues(result.error.issues).map((p) => p.path) : [];

describe('gateway.config.apply', () => {
  it('is a request on gateway.config.apply, answered by the cloud-bridge', () => {
    expect(subjects.gatewayConfigApply.pattern).toBe('gateway.config.apply');
    expect(subjects.gatewayConfigApply.format({})).toBe('gateway.config.apply');
  });

  it('carries a whole site configuration that SiteConfigSchema accepts', () => {
    expect(SiteConfigSchema.safeParse(exampleSiteConfig).error).toBeUndefined();
    const parsed = GatewayConfigApplyRequestSchema.parse(exampleConfigApplyRequest);
    expect(parsed.config.gatewayId).toBe('gw-lorraine-01');
  });

  it('accepts its own output (the bus sends the parsed payload)', () => {
    const once = GatewayConfigApplyRequestSchema.parse(exampleConfigApplyRequest);
    expect(GatewayConfigApplyRequestSchema.parse(JSON.parse(JSON.stringify(once)))).toEqual(once);
  });

  it.each([
    [
      'an invalid configuration',
      { config: { ...exampleSiteConfig, grid: { maxImportW: -1, maxExportW: 0 } } },
      '$.config.grid.maxImportW',
    ],
    ['a base hash that is not SHA-256 hex', { baseHash: 'ABC' }, '$.baseHash'],
    ['no reason', { reason: '' }, '$.reason'],
    ['an unknown key', { force: true }, '$'],
  ])('refuses %s', (_name, patch, path) => {
    expect(paths(GatewayConfigApplyRequestSchema.safeParse({ ...exampleConfigApplyRequest, ...patch }))).toContain(
      path,
    );
  });

  it.each([
    ['an unknown outcome', { outcome: 'maybe' }, '$.outcome'],
    ['a problem without a message', { problems: [{ path: '$' }] }, '$.problems[0].message'],
    ['a missing problem list', { problems: undefined }, '$.problems'],
  ])('the reply refuses %s', (_name, patch, path) => {
    const reply = { v: 1, outcome: 'applied', problems: [], atMs: 0, ...patch };
    expect(paths(GatewayConfigApplyReplySchema.safeParse(reply))).toContain(path);
  });
});
