/**
 * `voltimax strategy import-history` against a real nats-server from docker/nats/nats.conf (as user cli) and the real
 * strategy-engine as a child process, which learns the readings, answers and keeps them in KV `strategy-history`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import { ensureKv } from '@voltimax/bus';
import { kvBuckets, strategyHistoryBucket } from '@voltimax/contracts';
import { connectNatsAs, NATS_CONFIG_PATH, NATS_DEV_PASSWORDS, startNats, startServiceProcess, waitFor, type NatsTestServer, type ServiceProcess } from '@voltimax/testing';
import { runCli } from '../program';
import { parsePastReadingsCsv } from './strategy-history';

jest.setTimeout(60_000);
const DAY = 86_400_000;

const SITE = {
  v: 1,
  gatewayId: 'gw-import-cli',
  siteName: 'import-history test',
  timezone: 'Europe/Paris',
  grid: { maxImportW: 17_000, maxExportW: 9_000, phases: 3, nominalVoltageV: 230 },
  assets: [
    { id: 'bat-1', name: 'Battery', kind: 'battery', profile: 'cnte.ess-cabinet', connection: { protocol: 'simulated' }, battery: { capacityWh: 10_240, maxChargePowerW: 5000, maxDischargePowerW: 5000 } },
    { id: 'grid-1', name: 'Grid', kind: 'grid-meter', profile: 'eastron.sdm630', connection: { protocol: 'simulated' } },
  ],
  strategy: { active: ['arbitrage'] },
  tariff: { kind: 'dynamic', feedIn: { rule: 'spot' }, peakDemandEurPerKw: 4 },
};

let nats: NatsTestServer;
let engine: ServiceProcess;
let dir: string;

/** Three complete UTC days before today, a quarter hour a line: 500 W, 3 kW from 18:00 to 20:00 UTC, a battery holding 2 kW. */
function exportCsv(): string {
  const today = Math.floor(Date.now() / DAY) * DAY;
  const lines = ['timestamp,net_w,grid_w'];
  for (let atMs = today - 3 * DAY; atMs < today; atMs += 900_000) {
    const hour = new Date(atMs).getUTCHours();
    const net = hour >= 18 && hour < 20 ? 3_000 : 500;
    lines.push(`${new Date(atMs).toISOString()},${net},${Math.min(net, 2_000)}`);
  }
  return `${lines.join('\n')}\n`;
}

async function voltimax(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const saved = { NATS_URL: process.env['NATS_URL'], NATS_USER: process.env['NATS_USER'], NATS_PASS: process.env['NATS_PASS'] };
  Object.assign(process.env, { NATS_URL: nats.url, NATS_USER: 'cli', NATS_PASS: NATS_DEV_PASSWORDS.cli });
  try {
    const code = await runCli(argv, {
      stdout: (t: string) => void out.push(t),
      stderr: (t: string) => void err.push(t),
      readFile: (p: string) => Promise.resolve(readFileSync(p, 'utf8')),
    });
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cli-import-history-'));
  writeFileSync(join(dir, 'assets.json'), JSON.stringify(SITE));
  writeFileSync(join(dir, 'export.csv'), exportCsv());
  writeFileSync(join(dir, 'bad.csv'), 'timestamp,net_w\n2026-01-01T00:00:00Z,500\nyesterday,400\n');
  nats = await startNats({ config: NATS_CONFIG_PATH });
  // As the cloud-bridge does on its start: the engine may not create the bucket.
  const bridge = await connectNatsAs(nats.url, 'cloud-bridge');
  await ensureKv(bridge, strategyHistoryBucket);
  await bridge.close();
  engine = startServiceProcess('strategy-engine', nats.url, { SITE_FILE: join(dir, 'assets.json'), LOG_LEVEL: 'info' });
  await engine.line('engine configuration', undefined, 30_000);
}, 60_000);

afterAll(async () => {
  await engine?.stop();
  await nats?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('voltimax strategy import-history', () => {
  it('hands three days of an export to the running engine, which keeps them in KV strategy-history', async () => {
    const run = await voltimax('strategy', 'import-history', join(dir, 'export.csv'));
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/imported 288 readings: the planners now know 3 complete days and a peak of 2\.00 kW in \d{4}-\d{2}\n/);

    const nc = await connectNatsAs(nats.url, 'strategy-engine');
    try {
      const stored = await waitFor(async () => (await (await new Kvm(nc).open(kvBuckets.strategyHistory)).get(SITE.gatewayId)) ?? undefined);
      expect(JSON.parse(stored.string())).toMatchObject({ v: 1, monthPeakW: 2_000 });
    } finally {
      await nc.close();
    }
  });

  it('refuses to overwrite what the engine holds unless --replace, and says why', async () => {
    const again = await voltimax('strategy', 'import-history', join(dir, 'export.csv'), '--json');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/refused: the engine already holds 3 complete days of readings; set replace/);
    expect(again.stderr).toMatch(/\nto overwrite them: voltimax strategy import-history \S+ --replace\n$/);
    expect(JSON.parse(again.stdout)).toMatchObject({ outcome: 'refused', days: 3 });
    expect(await voltimax('strategy', 'import-history', join(dir, 'export.csv'), '--replace')).toMatchObject({ code: 0 });
  });

  it('refuses values the contract does not take before it connects', async () => {
    writeFileSync(join(dir, 'huge.csv'), 'timestamp,net_w\n2026-01-01T00:00:00Z,500\n2026-01-01T00:15:00Z,20000000\n');
    const run = await voltimax('strategy', 'import-history', join(dir, 'huge.csv'));
    expect(run).toMatchObject({ code: 2, stdout: '' });
    expect(run.stderr).toMatch(/huge\.csv: line 3: net_w 20000000 W is beyond ±10 MW/);
  });

  it('names the line of a bad file and sends nothing', async () => {
    const run = await voltimax('strategy', 'import-history', join(dir, 'bad.csv'));
    expect(run).toMatchObject({ code: 2, stdout: '' });
    expect(run.stderr).toMatch(/bad\.csv: line 3: timestamp 'yesterday' is not an ISO-8601 time/);
  });
});

describe('parsePastReadingsCsv', () => {
  it('reads the backtest series format as net demand, and refuses an unknown header', () => {
    expect(parsePastReadingsCsv('timestamp,load_w,pv_w,price_eur_per_mwh\n2024-04-01T00:00:00Z,900,300,50\n2024-04-01T00:30:00Z,200,0,50\n')).toEqual([
      { atMs: Date.parse('2024-04-01T00:00:00Z'), netW: 600 },
      { atMs: Date.parse('2024-04-01T00:30:00Z'), netW: 200 },
    ]);
    // A gap and an empty PV cell are left out (not invented); an empty price does not matter here.
    const gappy = [
      'timestamp,load_w,pv_w,price_eur_per_mwh',
      '2024-04-01T00:00:00Z,900,300,50',
      '2024-04-01T00:30:00Z,200,,50',
      '2024-04-01T01:00:00Z,300,0,',
      '2024-04-01T02:30:00Z,400,0,50',
      '2024-04-01T03:00:00Z,500,0,50',
    ].join('\n');
    expect(parsePastReadingsCsv(gappy).map((r) => [new Date(r.atMs).toISOString().slice(11, 16), r.netW])).toEqual([
      ['00:00', 600],
      ['01:00', 300],
      ['02:30', 400],
      ['03:00', 500],
    ]);
    // Read row by row: a gap of weeks and a price column left empty change nothing; a bad power is refused.
    const sparse = ['\uFEFFtimestamp,load_w,pv_w,price_eur_per_mwh', '2024-04-01T00:00:00Z,900,300,', '2024-05-01T00:00:00Z,100,0,'];
    expect(parsePastReadingsCsv(sparse.join('\r\n')).map((r) => r.netW)).toEqual([600, 100]);
    expect(() => parsePastReadingsCsv(`${sparse.join('\n')}\n2024-05-01T00:30:00Z,-5,0,1`)).toThrow(/line 4: load_w '-5' is not a power/);
    expect(() => parsePastReadingsCsv('time,power\n')).toThrow(/line 1: expected the header/);
    expect(() => parsePastReadingsCsv('timestamp,net_w,grid_w\n2024-04-01T00:00:00Z,5,x\n')).toThrow(/line 2: grid_w 'x' is not a number/);
  });
});
