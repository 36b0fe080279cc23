import { parseControlRequest } from './control';
import { createSiteFaults } from './control-site';
import { flatProfile } from './testing/harness';
import type { SiteSnapshot } from './site';

describe('parseControlRequest', () => {
  it.each([
    { method: 'GET', path: '/state', body: '', expected: { action: 'state' } },
    { method: 'POST', path: '/assets/grid-1/freeze', body: '', expected: { action: 'freeze', assetId: 'grid-1' } },
    { method: 'POST', path: '/assets/grid-1/unfreeze', body: '{}', expected: { action: 'unfreeze', assetId: 'grid-1' } },
    { method: 'POST', path: '/assets/bat-1/disconnect', body: ' ', expected: { action: 'disconnect', assetId: 'bat-1' } },
    { method: 'POST', path: '/assets/bat-1/reconnect/', body: '', expected: { action: 'reconnect', assetId: 'bat-1' } },
    { method: 'POST', path: '/ev/ev-1/plug', body: '', expected: { action: 'plug', assetId: 'ev-1' } },
    { method: 'POST', path: '/ev/ev-1/unplug', body: '{}', expected: { action: 'unplug', assetId: 'ev-1' } },
    { method: 'POST', path: '/load', body: '{"extraW":2500}', expected: { action: 'load', extraW: 2_500 } },
    { method: 'POST', path: '/load', body: '{"extraW":-300.5}', expected: { action: 'load', extraW: -300.5 } },
    { method: 'POST', path: '/pv', body: '{"scale":0}', expected: { action: 'pv', scale: 0 } },
  ])('$method $path $body → $expected.action', ({ method, path, body, expected }) => {
    expect(parseControlRequest(method, path, body)).toEqual(expected);
  });

  it.each([
    { name: 'a load without extraW', path: '/load', body: '{}', status: 400, reason: /extraW/ },
    { name: 'extraW as text', path: '/load', body: '{"extraW":"2000"}', status: 400, reason: /extraW: .*number/ },
    { name: 'an unknown key next to extraW', path: '/load', body: '{"extraW":1,"x":2}', status: 400, reason: /x/ },
    { name: 'a load beyond 100 kW', path: '/load', body: '{"extraW":200000}', status: 400, reason: /extraW/ },
    { name: 'a negative PV scale', path: '/pv', body: '{"scale":-1}', status: 400, reason: /scale/ },
    { name: 'a body that is not JSON', path: '/pv', body: 'scale=1', status: 400, reason: /not JSON/ },
    { name: 'a body on freeze', path: '/assets/grid-1/freeze', body: '{"now":true}', status: 400, reason: /now/ },
    { name: 'an asset id with a dot', path: '/assets/grid.1/freeze', body: '', status: 400, reason: /asset id/ },
    { name: 'an asset id in upper case', path: '/ev/EV-1/plug', body: '', status: 400, reason: /asset id/ },
    { name: 'an unknown action', path: '/assets/grid-1/explode', body: '', status: 404, reason: /no such endpoint/ },
    { name: 'plug on the asset route', path: '/assets/ev-1/plug', body: '', status: 404, reason: /no such endpoint/ },
    { name: 'an unknown path', path: '/faults', body: '', status: 404, reason: /no such endpoint/ },
  ])('refuses $name with $status', ({ path, body, status, reason }) => {
    const result = parseControlRequest('POST', path, body);
    expect(result).toMatchObject({ status });
    expect('reason' in result ? result.reason : '').toMatch(reason);
  });

  it.each([
    { method: 'POST', path: '/state' },
    { method: 'GET', path: '/load' },
    { method: 'PUT', path: '/assets/grid-1/freeze' },
  ])('answers 405 to $method $path', ({ method, path }) => {
    expect(parseControlRequest(method, path, '')).toMatchObject({ status: 405 });
  });
});

describe('createSiteFaults', () => {
  const snapshot = (step: number) => ({ step }) as unknown as SiteSnapshot;

  it('passes the profile through unchanged until a control changes it', () => {
    const faults = createSiteFaults();
    expect(faults.wrap(flatProfile(1_000, 2_000)).at(0)).toEqual({ loadW: 1_000, pvW: 2_000 });
  });

  it('adds the load step and scales the PV from the next call on, never below 0 W', () => {
    const faults = createSiteFaults();
    const profile = faults.wrap(flatProfile(1_000, 2_000));
    faults.extraLoadW = 3_000;
    faults.pvScale = 0.25;
    expect(profile.at(0)).toEqual({ loadW: 4_000, pvW: 500 });
    faults.extraLoadW = -5_000;
    expect(profile.at(0)).toEqual({ loadW: 0, pvW: 500 });
  });

  it('keeps the snapshot an asset froze with until it is unfrozen, per asset', () => {
    const faults = createSiteFaults();
    faults.freeze('grid-1', snapshot(3));
    faults.freeze('grid-1', snapshot(7));
    expect(faults.isFrozen('grid-1')).toBe(true);
    expect(faults.isFrozen('bat-1')).toBe(false);
    expect(faults.frozenAt('grid-1')?.step).toBe(3);
    faults.unfreeze('grid-1');
    expect(faults.isFrozen('grid-1')).toBe(false);
    expect(faults.frozenAt('grid-1')).toBeUndefined();
  });
});
