import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SiteConfigSchema } from '@voltimax/contracts';
import { runCli } from '../program';
import { closedPort } from '@voltimax/modbus/testing';

const EXAMPLE = join(__dirname, '../../../../docker/config/assets.example.json');

let dir: string;
let site: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'voltimax-assets-'));
  site = join(dir, 'assets.json');
  writeFileSync(site, readFileSync(EXAMPLE, 'utf8'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, {
    stdout: (t) => void out.push(t),
    stderr: (t) => void err.push(t),
    readFile: (p) => readFile(p, 'utf8'),
  });
  return { code, out: out.join(''), err: err.join('') };
}

const onDisk = () => JSON.parse(readFileSync(site, 'utf8')) as { assets: Record<string, unknown>[] };
const ids = () => onDisk().assets.map((a) => a['id']);

describe('voltimax assets list', () => {
  it('prints one line per asset with its connection', async () => {
    const { code, out } = await cli('assets', 'list', '--site', site);
    expect(code).toBe(0);
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^id +kind +profile +connection +poll +enabled +name$/);
    expect(lines).toHaveLength(5);
    expect(out).toMatch(/^bat-1 +battery +\S+ +modbus-tcp 192\.0\.2\.10:502 unit 1 +\d+ ms +yes /m);
    expect(out).toMatch(/^grid-1 +grid-meter +\S+ +modbus-rtu-tcp 192\.0\.2\.11:8899 unit 2 /m);
  });

  it('gives the validated assets as JSON', async () => {
    const { code, out } = await cli('assets', 'list', '--site', site, '--json');
    expect(code).toBe(0);
    expect((JSON.parse(out) as { id: string }[]).map((a) => a.id)).toEqual(['bat-1', 'inv-1', 'grid-1', 'ev-1']);
  });

  it('exits 2 for a missing file and 1 for an invalid one', async () => {
    expect((await cli('assets', 'list', '--site', join(dir, 'nope.json'))).code).toBe(2);
    writeFileSync(site, '{"v": 2}');
    const invalid = await cli('assets', 'list', '--site', site);
    expect(invalid.code).toBe(1);
    expect(invalid.err).toContain('is not a valid site configuration');
  });
});

describe('voltimax assets add', () => {
  it('adds a meter from flags, writing only the keys given (defaults stay implicit)', async () => {
    const before = statSync(site).mode;
    const { code, out, err } = await cli(
      'assets',
      'add',
      '--site',
      site,
      '--id',
      'meter-2',
      '--kind',
      'meter',
      '--profile',
      'eastron.sdm630',
      '--measures',
      'load',
      '--protocol',
      'modbus-tcp',
      '--host',
      '192.0.2.30',
      '--unit-id',
      '4',
      '--poll-interval-ms',
      '2000',
    );
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toContain('added meter-2 (meter, eastron.sdm630)');
    expect(onDisk().assets.at(-1)).toEqual({
      id: 'meter-2',
      name: 'meter-2',
      kind: 'meter',
      profile: 'eastron.sdm630',
      connection: { protocol: 'modbus-tcp', host: '192.0.2.30', unitId: 4 },
      pollIntervalMs: 2000,
      measures: 'load',
    });
    expect(SiteConfigSchema.safeParse(onDisk()).success).toBe(true);
    expect(statSync(site).mode).toBe(before);
    expect(readdirSync(dir)).toEqual(['assets.json']);
  });

  it('adds a battery with its limits from flags', async () => {
    const { code } = await cli(
      'assets',
      'add',
      '--site',
      site,
      '--id',
      'bat-2',
      '--name',
      'Second battery',
      '--kind',
      'battery',
      '--profile',
      'cnte.ess-cabinet',
      '--protocol',
      'modbus-tcp',
      '--host',
      '192.0.2.40',
      '--unit-id',
      '1',
      '--capacity-wh',
      '10240',
      '--max-charge-w',
      '5000',
      '--max-discharge-w',
      '5000',
      '--reserve-soc-pct',
      '20',
    );
    expect(code).toBe(0);
    expect(onDisk().assets.at(-1)).toMatchObject({
      id: 'bat-2',
      name: 'Second battery',
      battery: { capacityWh: 10240, maxChargePowerW: 5000, maxDischargePowerW: 5000, reserveSocPct: 20 },
    });
  });

  it('adds an asset given as JSON, inline or from a file', async () => {
    const asset = {
      id: 'load-1',
      name: 'Heat pump',
      kind: 'load',
      profile: 'eastron.sdm630',
      connection: { protocol: 'modbus-tcp', host: '192.0.2.50', unitId: 1 },
    };
    expect((await cli('assets', 'add', '--site', site, '--asset', JSON.stringify(asset))).code).toBe(0);
    writeFileSync(
      join(dir, 'pv.json'),
      JSON.stringify({
        ...asset,
        id: 'pv-2',
        kind: 'pv-inverter',
        profile: 'sunspec.generic',
        pv: { ratedPowerW: 8000 },
      }),
    );
    expect((await cli('assets', 'add', '--site', site, '--asset', `@${join(dir, 'pv.json')}`)).code).toBe(0);
    expect(ids()).toEqual(['bat-1', 'inv-1', 'grid-1', 'ev-1', 'load-1', 'pv-2']);
  });

  it('refuses an asset the site schema rejects, names the problem with its path, and leaves the file untouched', async () => {
    const original = readFileSync(site, 'utf8');
    const duplicate = await cli(
      'assets',
      'add',
      '--site',
      site,
      '--id',
      'bat-1',
      '--kind',
      'grid-meter',
      '--profile',
      'eastron.sdm630',
      '--protocol',
      'modbus-tcp',
      '--host',
      'h',
      '--unit-id',
      '1',
    );
    expect(duplicate.code).toBe(1);
    expect(duplicate.err).toContain("$.assets[4].id: duplicate asset id 'bat-1'");
    const noLimits = await cli(
      'assets',
      'add',
      '--site',
      site,
      '--id',
      'bat-9',
      '--kind',
      'battery',
      '--profile',
      'cnte.ess-cabinet',
      '--protocol',
      'modbus-tcp',
      '--host',
      'h',
      '--unit-id',
      '300',
    );
    expect(noLimits.code).toBe(1);
    expect(noLimits.err).toMatch(/\$\.assets\[4\]\.connection\.unitId: Too big/);
    expect(noLimits.err).toMatch(/\$\.assets\[4\]\.battery: /);
    expect(readFileSync(site, 'utf8')).toBe(original);
  });

  it.each([
    [['--id', 'x'], /missing --kind, --profile, --protocol/],
    [
      ['--id', 'x', '--kind', 'meter', '--profile', 'a.b', '--protocol', 'modbus-tcp', '--port', 'five'],
      /--port must be a number/,
    ],
    [['--asset', '{not json'], /--asset is not valid JSON/],
    [['--asset', '[1]'], /--asset must be one JSON object/],
  ])('exits 2 for usage problems: %j', async (args, message) => {
    const { code, err } = await cli('assets', 'add', '--site', site, ...args);
    expect(code).toBe(2);
    expect(err).toMatch(message);
  });

  it('reports a file it cannot write, with exit 1, and leaves the old one in place', async () => {
    const original = readFileSync(site, 'utf8');
    // The temporary file of the atomic write cannot be created where a folder of that name stands.
    mkdirSync(join(dir, `.assets.json.${process.pid}.tmp`));
    const asset = {
      id: 'l-1',
      name: 'l',
      kind: 'load',
      profile: 'eastron.sdm630',
      connection: { protocol: 'simulated' },
    };
    const { code, err } = await cli('assets', 'add', '--site', site, '--asset', JSON.stringify(asset));
    expect(code).toBe(1);
    expect(err).toMatch(/cannot write .*assets\.json: EISDIR/);
    expect(readFileSync(site, 'utf8')).toBe(original);
  });
});

describe('voltimax assets remove', () => {
  it('removes an asset no rule uses', async () => {
    const { code, out } = await cli('assets', 'remove', 'inv-1', '--site', site);
    expect(code).toBe(0);
    expect(out).toContain('removed inv-1');
    expect(ids()).toEqual(['bat-1', 'grid-1', 'ev-1']);
  });

  it('refuses to remove an asset that automation rules reference, naming the rules', async () => {
    const original = readFileSync(site, 'utf8');
    const { code, err } = await cli('assets', 'remove', 'bat-1', '--site', site);
    expect(code).toBe(1);
    expect(err).toContain('refused: bat-1 is used by rule protect-reserve');
    expect(readFileSync(site, 'utf8')).toBe(original);
  });

  it('exits 2 for an unknown id', async () => {
    const { code, err } = await cli('assets', 'remove', 'nope', '--site', site);
    expect(code).toBe(2);
    expect(err).toContain("unknown asset 'nope'; assets: bat-1, inv-1, grid-1, ev-1");
  });
});

describe('voltimax assets test', () => {
  it('reads the device like device read: a device that does not answer exits 1', async () => {
    const port = await closedPort();
    await cli(
      'assets',
      'add',
      '--site',
      site,
      '--id',
      'meter-9',
      '--kind',
      'meter',
      '--profile',
      'eastron.sdm630',
      '--protocol',
      'modbus-tcp',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--unit-id',
      '1',
    );
    const { code, err } = await cli('assets', 'test', 'meter-9', '--site', site, '--timeout', '300');
    expect(code).toBe(1);
    expect(err).toContain(`meter-9: read failed (modbus-tcp 127.0.0.1:${port} unit 1)`);
  });

  it('exits 2 for an unknown asset', async () => {
    const { code, err } = await cli('assets', 'test', 'nope', '--site', site);
    expect(code).toBe(2);
    expect(err).toContain("unknown asset 'nope'");
  });
});
