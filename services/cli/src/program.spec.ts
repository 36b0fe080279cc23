import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { runCli } from './program';

const EXAMPLE = join(__dirname, '../../../docker/config/assets.example.json');

function capture(files: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      stdout: (t: string) => void out.push(t),
      stderr: (t: string) => void err.push(t),
      readFile: async (p: string) => (p in files ? (files[p] as string) : readFile(p, 'utf8')),
    },
  };
}

describe('voltimax config validate', () => {
  it('exits 0 on the shipped example and summarises it', async () => {
    const c = capture();
    expect(await runCli(['config', 'validate', EXAMPLE], c.io)).toBe(0);
    expect(c.out.join('')).toMatch(/valid — gateway gw-lorraine-01, 4 assets \(bat-1:battery, inv-1:hybrid-inverter/);
    expect(c.err).toEqual([]);
  });

  it('prints every problem with its JSON path and exits 1', async () => {
    const site = JSON.parse(await readFile(EXAMPLE, 'utf8')) as {
      assets: { id: string; connection: Record<string, unknown> }[];
      grid: Record<string, unknown>;
    };
    site.assets[0]!.connection['port'] = 99999;
    site.assets[1]!.id = 'inv.1';
    site.grid['maxImportW'] = 'lots';
    const c = capture({ 'bad.json': JSON.stringify(site) });
    expect(await runCli(['config', 'validate', 'bad.json'], c.io)).toBe(1);
    const text = c.err.join('');
    expect(text).toMatch(/^bad\.json: 3 problems\n/);
    expect(text).toContain('  $.grid.maxImportW: Invalid input: expected number, received string\n');
    expect(text).toContain('  $.assets[0].connection.port: Too big');
    expect(text).toContain('  $.assets[1].id: asset id must be');
  });

  it('reports broken JSON at the root', async () => {
    const c = capture({ 'broken.json': '{ "v": 1,' });
    expect(await runCli(['config', 'validate', 'broken.json'], c.io)).toBe(1);
    expect(c.err.join('')).toMatch(/\$: not valid JSON/);
  });

  it('exits 2 when the file cannot be read', async () => {
    const c = capture();
    expect(await runCli(['config', 'validate', '/nonexistent/assets.json'], c.io)).toBe(2);
    expect(c.err.join('')).toMatch(/cannot read \/nonexistent\/assets.json: ENOENT/);
  });

  it('offers JSON output for scripts', async () => {
    const c = capture({ 'x.json': '{}' });
    expect(await runCli(['config', 'validate', '--json', 'x.json'], c.io)).toBe(1);
    const report = JSON.parse(c.out.join('')) as { ok: boolean; problems: { path: string }[] };
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.path)).toContain('$.gatewayId');
  });

  it('an unknown command is a usage error, not a crash', async () => {
    const c = capture();
    expect(await runCli(['frobnicate'], c.io)).toBe(2);
    expect(c.err.join('')).toMatch(/unknown command 'frobnicate'/);
  });
});

describe('voltimax config validate: strategy blocks', () => {
  it('reports a typo inside a strategy block with its JSON path', async () => {
    const site = JSON.parse(await readFile(EXAMPLE, 'utf8')) as {
      strategy: { config: Record<string, Record<string, unknown>> };
    };
    site.strategy.config['self-consumption'] = { gridTargetW: 0 };
    const c = capture({ 'typo.json': JSON.stringify(site) });
    expect(await runCli(['config', 'validate', 'typo.json'], c.io)).toBe(1);
    expect(c.err.join('')).toMatch(/\$\.strategy\.config\["self-consumption"\]: .*gridTargetW/);
  });
});

describe('voltimax config validate: notes', () => {
  it('notes ToU periods that leave the week uncovered or overlap at different prices, and still exits 0', async () => {
    const site = JSON.parse(await readFile(EXAMPLE, 'utf8')) as { tariff: Record<string, unknown> };
    site.tariff['touPeriods'] = [
      { from: '22:00', to: '06:00', eurPerMwh: 60 },
      { from: '06:00', to: '22:00', days: [1, 2, 3, 4, 5], eurPerMwh: 140 },
      { from: '21:00', to: '22:00', days: [1], eurPerMwh: 200 },
    ];
    const c = capture({ 'tou.json': JSON.stringify(site) });
    expect(await runCli(['config', 'validate', 'tou.json'], c.io)).toBe(0);
    const text = c.out.join('');
    expect(text).toContain(
      '  note: $.tariff.touPeriods: no period covers Sun 06:00–22:00, Sat 06:00–22:00: time-of-use falls back',
    );
    expect(text).toContain(
      '  note: $.tariff.touPeriods: periods with different prices overlap on Mon 21:00–22:00: the first listed applies\n',
    );
    const json = capture({ 'tou.json': JSON.stringify(site) });
    expect(await runCli(['config', 'validate', '--json', 'tou.json'], json.io)).toBe(0);
    expect((JSON.parse(json.out.join('')) as { notes: unknown[] }).notes).toHaveLength(2);
  });

  it('notes a peak threshold the import never reaches', async () => {
    const site = JSON.parse(await readFile(EXAMPLE, 'utf8')) as {
      grid: { maxImportW: number };
      strategy: { config: Record<string, unknown> };
    };
    site.strategy.config['peak-shaving'] = { thresholdW: 1e300 };
    const c = capture({ 'peak.json': JSON.stringify(site) });
    expect(await runCli(['config', 'validate', 'peak.json'], c.io)).toBe(0);
    expect(c.out.join('')).toContain(
      `note: $.strategy.config["peak-shaving"].thresholdW: 1e+300 W is at or above grid.maxImportW (${site.grid.maxImportW} W): peak-shaving never shaves`,
    );
  });

  it('notes an asset the arbiter checks polled too slowly for its staleness limit, and none for the shipped sites', async () => {
    const site = JSON.parse(await readFile(EXAMPLE, 'utf8')) as { assets: { kind: string; pollIntervalMs: number }[] };
    const index = site.assets.findIndex((a) => a.kind === 'battery');
    site.assets[index]!.pollIntervalMs = 5_000;
    const c = capture({ 'slow.json': JSON.stringify(site) });
    expect(await runCli(['config', 'validate', 'slow.json'], c.io)).toBe(0);
    expect(c.out.join('')).toMatch(
      new RegExp(
        `note: \\$\\.assets\\[${index}\\]\\.pollIntervalMs: \\S+ is polled every 5000 ms, .* poll it at most every 3333 ms`,
      ),
    );
    for (const name of ['assets.example.json', 'assets.sim.json', 'assets.sim-ocpp.json', 'assets.sim-devices.json']) {
      const shipped = capture({ [name]: await readFile(join(dirname(EXAMPLE), name), 'utf8') });
      expect(await runCli(['config', 'validate', '--json', name], shipped.io)).toBe(0);
      expect({ name, ...(JSON.parse(shipped.out.join('')) as object) }).toEqual({ name, ok: true });
    }
  });

  it('notes a time-of-use tariff without periods', async () => {
    const site = JSON.parse(await readFile(EXAMPLE, 'utf8')) as { tariff: Record<string, unknown> };
    site.tariff = { kind: 'time-of-use', fixedEurPerMwh: 200 };
    const c = capture({ 'tou.json': JSON.stringify(site) });
    expect(await runCli(['config', 'validate', 'tou.json'], c.io)).toBe(0);
    expect(c.out.join('')).toContain('note: $.tariff.touPeriods: a time-of-use tariff without periods');
  });
});

describe('voltimax config validate: profiles', () => {
  it('reports an asset whose profile does not exist', async () => {
    const site = JSON.parse(await readFile(EXAMPLE, 'utf8')) as { assets: { profile: string }[] };
    site.assets[0]!.profile = 'cnte.storage';
    const c = capture({ 'profile.json': JSON.stringify(site) });
    expect(await runCli(['config', 'validate', 'profile.json'], c.io)).toBe(1);
    expect(c.err.join('')).toMatch(/\$\.assets\[0\]\.profile: unknown profile 'cnte\.storage'/);
  });
});
