import { finishCandidate } from '@voltimax/discovery';
import { assetFromCandidate, assetIdFor } from './discover-apply';
import { formatRun, progressPrinter } from './discover-format';

const meter = finishCandidate({
  source: 'modbus',
  kind: 'meter',
  profileId: 'eastron.sdm630',
  connection: { protocol: 'modbus-tcp', host: '10.0.0.5', port: 502, unitId: 1 },
  identity: { host: '10.0.0.5' },
  confidence: 0.7,
  evidence: [],
  label: 'Eastron SDM630 meter at 10.0.0.5:502/1',
});

describe('progressPrinter', () => {
  it('redraws one bar on a terminal and ends it with a newline', () => {
    const out: string[] = [];
    const p = progressPrinter((t) => void out.push(t), true);
    p.update({ hostsDone: 1, hostsTotal: 2, found: 0, host: 'a' });
    p.update({ hostsDone: 2, hostsTotal: 2, found: 1, host: 'b' });
    p.done();
    expect(out).toEqual([
      `\r[${'#'.repeat(15)}${'.'.repeat(15)}] 1/2 hosts, 0 found`,
      `\r[${'#'.repeat(30)}] 2/2 hosts, 1 found`,
      '\n',
    ]);
  });

  it('prints a plain line at each tenth otherwise', () => {
    const out: string[] = [];
    const p = progressPrinter((t) => void out.push(t), false);
    for (let i = 1; i <= 254; i += 1) p.update({ hostsDone: i, hostsTotal: 254, found: 0, host: 'h' });
    p.done();
    expect(out).toHaveLength(10);
    expect(out.at(-1)).toBe('scanned 254/254 hosts, 0 found\n');
  });
});

describe('formatRun', () => {
  it('prints a table of findings and the source problems', () => {
    const text = formatRun({ candidates: [meter], errors: [{ source: 'mqtt', message: 'no broker' }] });
    expect(text.split('\n')[0]).toMatch(/^id +found by +kind +profile +where +device +confidence$/);
    expect(text).toMatch(
      new RegExp(
        `^${meter.id} +modbus +meter +eastron\\.sdm630 +modbus 10\\.0\\.0\\.5:502 unit 1 +Eastron SDM630 meter at 10\\.0\\.0\\.5:502/1 +70 %$`,
        'm',
      ),
    );
    expect(text).toMatch(/^mqtt failed: no broker$/m);
    expect(formatRun({ candidates: [], errors: [] })).toBe('no devices found\n');
  });
});

describe('assetIdFor / assetFromCandidate', () => {
  it('names the asset after the profile model, unique in the site', () => {
    expect(assetIdFor(meter, new Set(['sdm630-1', 'sdm630-2']))).toBe('sdm630-3');
    expect(assetFromCandidate(meter, 'sdm630-1')).toEqual({
      id: 'sdm630-1',
      name: 'Eastron SDM630 meter at 10.0.0.5:502/1',
      kind: 'meter',
      profile: 'eastron.sdm630',
      connection: { protocol: 'modbus-tcp', host: '10.0.0.5', port: 502, unitId: 1 },
    });
  });
});
