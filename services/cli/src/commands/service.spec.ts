import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { CliExit, type CliIo } from '../io';
import { runCli } from '../program';
import { registerServiceCommand, renderUnit, UNIT_NAME, type RunCommand } from './service';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: (t) => void out.push(t),
    stderr: (t) => void err.push(t),
    readFile: (p) => readFile(p, 'utf8'),
  };
  return { out, err, io };
}

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'voltimax-root-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const unitPath = () => join(root, 'etc', 'systemd', 'system', UNIT_NAME);
const recorded = () => readFileSync(join(root, 'systemctl.log'), 'utf8').trim().split('\n');

describe('voltimax service with --root (no systemctl: the calls are recorded)', () => {
  it('install writes the unit: compose up/down of the gateway folder, restart always, wanted by multi-user', async () => {
    const c = capture();
    expect(await runCli(['service', 'install', '--root', root], c.io)).toBe(0);
    const unit = readFileSync(unitPath(), 'utf8');
    expect(unit).toContain(
      'ExecStart=/usr/bin/docker compose -f /opt/voltimax/compose.yaml up --no-build --remove-orphans\n',
    );
    expect(unit).toContain('ExecStop=/usr/bin/docker compose -f /opt/voltimax/compose.yaml down\n');
    expect(unit).toContain('Restart=always\n');
    expect(unit).toContain('WantedBy=multi-user.target\n');
    expect(unit).toContain('Requires=docker.service\nAfter=docker.service network-online.target\n');
    expect(statSync(unitPath()).mode & 0o777).toBe(0o644);
    expect(recorded()).toEqual(['systemctl daemon-reload', `systemctl enable ${UNIT_NAME}`]);
    expect(c.out.join('')).toContain(`would run: systemctl enable ${UNIT_NAME}\n`);
    // Nothing was enabled: the output must not say so.
    expect(c.out.join('')).not.toContain('enabled at boot');
    expect(c.out.join('')).toContain('not enabled: with --root the systemctl calls above are only recorded');
    expect(c.err.join('')).toContain('compose.yaml does not exist yet');
  });

  it('install uses --dir, --docker and --profile, and says when the unit is already up to date', async () => {
    mkdirSync(join(root, 'srv', 'gw'), { recursive: true });
    writeFileSync(join(root, 'srv', 'gw', 'compose.yaml'), 'services: {}\n');
    const args = [
      'service',
      'install',
      '--root',
      root,
      '--dir',
      '/srv/gw',
      '--docker',
      '/usr/local/bin/docker',
      '--profile',
      'sim',
    ];
    const first = capture();
    expect(await runCli(args, first.io)).toBe(0);
    expect(readFileSync(unitPath(), 'utf8')).toContain(
      'ExecStart=/usr/local/bin/docker compose -f /srv/gw/compose.yaml --profile sim up --no-build --remove-orphans\nExecStop=/usr/local/bin/docker compose -f /srv/gw/compose.yaml --profile sim down\n',
    );
    expect(first.err).toEqual([]);
    const again = capture();
    expect(await runCli(args, again.io)).toBe(0);
    expect(again.out.join('')).toContain('is up to date');
  });

  it('start and stop refuse before install, then record systemctl start/stop', async () => {
    const before = capture();
    expect(await runCli(['service', 'start', '--root', root], before.io)).toBe(1);
    expect(before.err.join('')).toContain('not installed (run: voltimax service install)');
    await runCli(['service', 'install', '--root', root], capture().io);
    const start = capture();
    expect(await runCli(['service', 'start', '--root', root], start.io)).toBe(0);
    expect(start.out.join('')).toBe(
      `would run: systemctl start ${UNIT_NAME}\nnot started: with --root the call above is only recorded\n`,
    );
    expect(await runCli(['service', 'stop', '--root', root], capture().io)).toBe(0);
    expect(recorded().slice(2)).toEqual([`systemctl start ${UNIT_NAME}`, `systemctl stop ${UNIT_NAME}`]);
  });

  it('status exits 4 when not installed and 0 when installed', async () => {
    const missing = capture();
    expect(await runCli(['service', 'status', '--root', root], missing.io)).toBe(4);
    expect(missing.out.join('')).toContain(`${UNIT_NAME}: not installed`);
    await runCli(['service', 'install', '--root', root], capture().io);
    const present = capture();
    expect(await runCli(['service', 'status', '--root', root], present.io)).toBe(0);
    expect(present.out.join('')).toContain(`would run: systemctl status --no-pager ${UNIT_NAME}`);
  });

  it('uninstall disables and removes the unit, and is a no-op when it is not there', async () => {
    await runCli(['service', 'install', '--root', root], capture().io);
    expect(await runCli(['service', 'uninstall', '--root', root], capture().io)).toBe(0);
    expect(existsSync(unitPath())).toBe(false);
    expect(recorded().slice(2)).toEqual([`systemctl disable --now ${UNIT_NAME}`, 'systemctl daemon-reload']);
    const again = capture();
    expect(await runCli(['service', 'uninstall', '--root', root], again.io)).toBe(0);
    expect(again.out.join('')).toContain('not installed; nothing to do');
  });

  it.each([
    [['--dir', 'relative/path'], /--dir must be an absolute path/],
    [['--dir', '/opt/with space'], /--dir must be an absolute path/],
    [['--docker', 'docker'], /--docker must be an absolute path/],
    [['--profile', 'sim;rm'], /--profile must be a compose profile name/],
  ])('refuses %j with exit 2 (values go into the unit unquoted)', async (extra, message) => {
    const c = capture();
    expect(await runCli(['service', 'install', '--root', root, ...extra], c.io)).toBe(2);
    expect(c.err.join('')).toMatch(message);
    expect(existsSync(unitPath())).toBe(false);
  });
});

describe('voltimax service without --root (systemctl is called)', () => {
  /** The command tree with a fake systemctl and `/` at the test's temporary root. */
  function cli(results: Record<string, { code: number; stdout?: string; stderr?: string }> = {}) {
    const calls: string[] = [];
    const run: RunCommand = async (command, args) => {
      const line = [command, ...args].join(' ');
      calls.push(line);
      const result = results[args[0] ?? ''] ?? { code: 0 };
      return { code: result.code, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
    };
    const c = capture();
    const program = new Command('voltimax')
      .exitOverride()
      .configureOutput({ writeOut: c.io.stdout, writeErr: c.io.stderr });
    registerServiceCommand(program, c.io, { run, systemRoot: root });
    const exec = async (...argv: string[]): Promise<number> => {
      try {
        await program.parseAsync(['service', ...argv], { from: 'user' });
        return 0;
      } catch (err) {
        if (err instanceof CliExit) return err.exitCode;
        throw err;
      }
    };
    return { ...c, calls, exec };
  }

  it('install writes the unit under / and reloads and enables it', async () => {
    const c = cli();
    expect(await c.exec('install')).toBe(0);
    expect(existsSync(unitPath())).toBe(true);
    expect(c.calls).toEqual(['systemctl daemon-reload', `systemctl enable ${UNIT_NAME}`]);
    expect(existsSync(join(root, 'systemctl.log'))).toBe(false);
    expect(c.out.join('')).toContain('enabled at boot; start it now with: voltimax service start\n');
  });

  it('start, stop and uninstall call systemctl', async () => {
    const c = cli();
    await c.exec('install');
    expect(await c.exec('start')).toBe(0);
    expect(await c.exec('stop')).toBe(0);
    expect(await c.exec('uninstall')).toBe(0);
    expect(c.calls.slice(2)).toEqual([
      `systemctl start ${UNIT_NAME}`,
      `systemctl stop ${UNIT_NAME}`,
      `systemctl disable --now ${UNIT_NAME}`,
      'systemctl daemon-reload',
    ]);
    expect(existsSync(unitPath())).toBe(false);
  });

  it('status passes systemctl output and exit code through (3 = not running)', async () => {
    const c = cli({ status: { code: 3, stdout: '○ voltimax-gateway.service - inactive (dead)\n' } });
    await c.exec('install');
    expect(await c.exec('status')).toBe(3);
    expect(c.out.join('')).toContain('inactive (dead)');
  });

  it('reports a failing systemctl with its message and exit 1', async () => {
    const c = cli({ 'daemon-reload': { code: 1, stderr: 'Failed to connect to bus: No such file or directory\n' } });
    expect(await c.exec('install')).toBe(1);
    expect(c.err.join('')).toContain(
      'systemctl daemon-reload failed (exit 1): Failed to connect to bus: No such file or directory',
    );
  });

  it('reports a unit file it cannot write, with exit 1', async () => {
    mkdirSync(join(root, 'etc', 'systemd'), { recursive: true });
    writeFileSync(join(root, 'etc', 'systemd', 'system'), 'not a folder');
    const c = cli();
    expect(await c.exec('install')).toBe(1);
    expect(c.err.join('')).toMatch(/cannot write .*voltimax-gateway\.service: (ENOTDIR|EEXIST)/);
  });
});

describe('renderUnit', () => {
  it('is the documented unit', () => {
    expect(renderUnit({ dir: '/opt/voltimax', docker: '/usr/bin/docker' })).toMatchInlineSnapshot(`
"# Written by \`voltimax service install\`; \`voltimax service uninstall\` removes it.
[Unit]
Description=Voltimax Edge Gateway (docker compose)
Requires=docker.service
After=docker.service network-online.target
Wants=network-online.target

[Service]
Type=simple
WorkingDirectory=/opt/voltimax
ExecStart=/usr/bin/docker compose -f /opt/voltimax/compose.yaml up --no-build --remove-orphans
ExecStop=/usr/bin/docker compose -f /opt/voltimax/compose.yaml down
Restart=always
RestartSec=10
TimeoutStopSec=120

[Install]
WantedBy=multi-user.target
"
`);
  });
});
