// The driver template (libs/driver-sdk/template) typechecks, builds to one JavaScript file with its own build command,
// and that file runs in driver-host: readings of a stand-in device reach NATS, the arbiter's write is read back.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '@voltimax/testing';
import {
  pluginAsset,
  runDriverHost,
  sendDeviceWrite,
  siteJson,
  startBusStack,
  waitForReading,
  writeSite,
  type BusClient,
  type BusStack,
  type RunningHost,
} from './testing/harness';

jest.setTimeout(180_000);

const TEMPLATE = join(REPO_ROOT, 'libs', 'driver-sdk', 'template');
const device = { power_kw: -0.8, soc: 71, setpoint_kw: 0 };

let stack: BusStack;
let server: Server;
let observer: BusClient;
let arbiter: BusClient;
let host: RunningHost | undefined;
let site: ReturnType<typeof writeSite> | undefined;
let out: string;

beforeAll(async () => {
  stack = await startBusStack();
  ({ observer, arbiter } = stack);
  out = mkdtempSync(join(tmpdir(), 'driver-template-'));
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/status')
        res.setHeader('content-type', 'application/json').end(JSON.stringify(device));
      else if (req.method === 'PUT' && req.url === '/setpoint') {
        device.setpoint_kw = (JSON.parse(body) as { setpoint_kw: number }).setpoint_kw;
        res.writeHead(204).end();
      } else res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  await host?.stop();
  site?.remove();
  await new Promise((resolve) => server.close(resolve));
  await stack?.stop();
  rmSync(out, { recursive: true, force: true });
});

describe('libs/driver-sdk/template', () => {
  it('typechecks with its own tsconfig', () => {
    const tsc = spawnSync(
      process.execPath,
      [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(TEMPLATE, 'tsconfig.json')],
      { encoding: 'utf8' },
    );
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  });

  it('passes its own test (a driver copied from it starts green)', () => {
    const jest = spawnSync(
      process.execPath,
      [
        join(REPO_ROOT, 'node_modules', 'jest', 'bin', 'jest.js'),
        '--config',
        join(TEMPLATE, 'jest.config.cjs'),
        '--maxWorkers=1',
      ],
      {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp' },
      },
    );
    expect(jest.stderr).toMatch(/Tests: +4 passed, 4 total/);
    expect(jest.status).toBe(0);
  });

  it('builds with the command of its package.json and runs in driver-host', async () => {
    // The package's "build" script with the output moved to a temp folder (npm run build writes dist/ in the package).
    const manifest = JSON.parse(readFileSync(join(TEMPLATE, 'package.json'), 'utf8')) as { scripts: { build: string } };
    const args = manifest.scripts.build
      .split(' ')
      .slice(1)
      .map((arg) => (arg.startsWith('--outfile=') ? `--outfile=${join(out, 'index.js')}` : arg));
    const built = spawnSync(join(REPO_ROOT, 'node_modules', '.bin', 'esbuild'), [...args, '--log-level=error'], {
      cwd: TEMPLATE,
      encoding: 'utf8',
    });
    expect(built.stderr).toBe('');
    expect(built.status).toBe(0);

    const { port } = server.address() as AddressInfo;
    site = writeSite(
      siteJson(
        [pluginAsset('bat-tpl', 'my-protocol', { baseUrl: `http://127.0.0.1:${port}` })],
        [{ name: 'my-protocol', module: join(out, 'index.js') }],
      ),
    );
    host = await runDriverHost({ natsUrl: stack.nats.url, siteFile: site.path });
    const reading = await waitForReading(observer, 'bat-tpl', (r) => r.quality === 'good');
    // The device's -0.8 kW (discharging, device sign) is +800 W in the gateway's battery sign.
    expect(reading.values).toEqual({ powerW: 800, socPct: 71, setpointW: 0 });
    const result = await sendDeviceWrite(arbiter.bus, 'bat-tpl', { kind: 'battery-power', powerW: -1_200 });
    expect(result).toMatchObject({ status: 'applied', readBack: -1_200 });
    expect(device.setpoint_kw).toBe(1.2);
  });
});
