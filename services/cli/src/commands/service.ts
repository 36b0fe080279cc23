import { execFile } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type { Command } from 'commander';
import { CliExit, type CliIo } from '../io';

/** The systemd unit that runs the gateway's compose project. */
export const UNIT_NAME = 'voltimax-gateway.service';

/** Where the gateway lives on the machine by default (docker/deploy/deploy.sh copies compose.yaml there). */
export const DEFAULT_GATEWAY_DIR = '/opt/voltimax';

/** Options of `voltimax service <action>`. */
export interface ServiceOptions {
  /** Install under this root instead of `/`, and record the systemctl calls instead of making them. */
  readonly root?: string;
  /** Folder holding compose.yaml (and .env) on the gateway. */
  readonly dir: string;
  /** The docker binary systemd runs. */
  readonly docker: string;
  /** Compose profiles to enable, e.g. `sim`. */
  readonly profile?: readonly string[];
}

export type ServiceAction = 'install' | 'start' | 'stop' | 'status' | 'uninstall';

/** Outcome of one external command. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program with arguments (no shell). Injectable so tests never call the real systemctl. */
export type RunCommand = (command: string, args: readonly string[]) => Promise<CommandResult>;

export const runCommand: RunCommand = (command, args) =>
  new Promise((resolve) => {
    execFile(command, [...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 127;
      resolve({
        code,
        stdout,
        stderr: err !== null && typeof err.code !== 'number' ? `${stderr}${err.message}\n` : stderr,
      });
    });
  });

/** What the command needs from the machine: the systemctl runner and where `/` is (a temp dir in tests). */
export interface ServiceDeps {
  readonly run: RunCommand;
  readonly systemRoot: string;
}

const SYSTEM: ServiceDeps = { run: runCommand, systemRoot: '/' };

/** Paths systemd reads, and no spaces or quotes: they go into ExecStart unquoted. */
const SAFE_PATH = /^\/[A-Za-z0-9._/+-]*$/;
const SAFE_PROFILE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** The unit file for a gateway in `dir`. `compose up` in the foreground, so systemd sees the stack and restarts it. */
export function renderUnit(opts: Pick<ServiceOptions, 'dir' | 'docker' | 'profile'>): string {
  const compose = [
    opts.docker,
    'compose',
    '-f',
    `${opts.dir}/compose.yaml`,
    ...(opts.profile ?? []).flatMap((p) => ['--profile', p]),
  ].join(' ');
  return [
    '# Written by `voltimax service install`; `voltimax service uninstall` removes it.',
    '[Unit]',
    'Description=Voltimax Edge Gateway (docker compose)',
    'Requires=docker.service',
    'After=docker.service network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `WorkingDirectory=${opts.dir}`,
    // Images come from deploy.sh (docker load), never from a build on the gateway.
    `ExecStart=${compose} up --no-build --remove-orphans`,
    `ExecStop=${compose} down`,
    'Restart=always',
    'RestartSec=10',
    'TimeoutStopSec=120',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

function writeFileAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, text, { mode: 0o644 });
  renameSync(temporary, path);
}

function fail(io: CliIo, message: string, exitCode: number): never {
  io.stderr(`${message}\n`);
  throw new CliExit(exitCode);
}

function checkOptions(io: CliIo, opts: ServiceOptions): void {
  if (!isAbsolute(opts.dir) || !SAFE_PATH.test(opts.dir)) {
    fail(io, `--dir must be an absolute path without spaces or quotes, got '${opts.dir}'`, 2);
  }
  if (!isAbsolute(opts.docker) || !SAFE_PATH.test(opts.docker)) {
    fail(io, `--docker must be an absolute path without spaces or quotes, got '${opts.docker}'`, 2);
  }
  for (const profile of opts.profile ?? []) {
    if (!SAFE_PROFILE.test(profile)) fail(io, `--profile must be a compose profile name, got '${profile}'`, 2);
  }
}

/**
 * `voltimax service install|start|stop|status|uninstall`: manages the systemd unit `voltimax-gateway.service`
 * (compose up/down of the gateway folder). With `--root <dir>` the unit is written under `<dir>` and every
 * systemctl call is printed and appended to `<dir>/systemctl.log` instead of being made.
 * Exit 0 on success, 1 when systemctl or the file system fails, 2 for usage problems; `status` passes on
 * systemctl's code (3 = not running) and gives 4 when the unit is not installed.
 */
export async function serviceCommand(
  io: CliIo,
  action: ServiceAction,
  opts: ServiceOptions,
  deps: ServiceDeps = SYSTEM,
): Promise<void> {
  checkOptions(io, opts);
  const root = opts.root ?? deps.systemRoot;
  const unitPath = join(root, 'etc', 'systemd', 'system', UNIT_NAME);

  const systemctl = async (args: readonly string[], passOutput = false): Promise<number> => {
    if (opts.root !== undefined) {
      const line = ['systemctl', ...args].join(' ');
      io.stdout(`would run: ${line}\n`);
      appendFileSync(join(opts.root, 'systemctl.log'), `${line}\n`);
      return 0;
    }
    const result = await deps.run('systemctl', args);
    if (passOutput) io.stdout(result.stdout);
    if (result.code !== 0 && !passOutput) {
      fail(io, `systemctl ${args.join(' ')} failed (exit ${result.code}): ${result.stderr.trim()}`, 1);
    }
    return result.code;
  };

  const guard = <T>(what: string, op: () => T): T => {
    try {
      return op();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const hint = code === 'EACCES' || code === 'EPERM' ? ' (run as root, e.g. sudo voltimax service …)' : '';
      return fail(io, `cannot ${what}: ${code ?? (err as Error).message}${hint}`, 1);
    }
  };

  switch (action) {
    case 'install': {
      const unit = renderUnit(opts);
      const before = existsSync(unitPath) ? readFileSync(unitPath, 'utf8') : undefined;
      if (before === unit) {
        io.stdout(`${unitPath} is up to date\n`);
      } else {
        guard(`write ${unitPath}`, () => writeFileAtomic(unitPath, unit));
        io.stdout(`${before === undefined ? 'installed' : 'updated'} ${unitPath}\n`);
      }
      const composeFile = join(root, opts.dir, 'compose.yaml');
      if (!existsSync(composeFile)) {
        io.stderr(`note: ${composeFile} does not exist yet; docker/deploy/deploy.sh copies it there\n`);
      }
      await systemctl(['daemon-reload']);
      await systemctl(['enable', UNIT_NAME]);
      io.stdout(
        opts.root === undefined
          ? `enabled at boot; start it now with: voltimax service start\n`
          : `not enabled: with --root the systemctl calls above are only recorded (${join(opts.root, 'systemctl.log')})\n`,
      );
      return;
    }
    case 'start':
    case 'stop': {
      if (!existsSync(unitPath)) fail(io, `${UNIT_NAME} is not installed (run: voltimax service install)`, 1);
      await systemctl([action, UNIT_NAME]);
      io.stdout(
        opts.root === undefined
          ? `${action === 'start' ? 'started' : 'stopped'} ${UNIT_NAME}\n`
          : `not ${action === 'start' ? 'started' : 'stopped'}: with --root the call above is only recorded\n`,
      );
      return;
    }
    case 'status': {
      if (!existsSync(unitPath)) {
        io.stdout(`${UNIT_NAME}: not installed (${unitPath})\n`);
        throw new CliExit(4);
      }
      io.stdout(`${UNIT_NAME}: installed (${unitPath})\n`);
      const code = await systemctl(['status', '--no-pager', UNIT_NAME], true);
      if (code !== 0) throw new CliExit(code);
      return;
    }
    case 'uninstall': {
      if (!existsSync(unitPath)) {
        io.stdout(`${UNIT_NAME} is not installed; nothing to do\n`);
        return;
      }
      await systemctl(['disable', '--now', UNIT_NAME]);
      guard(`remove ${unitPath}`, () => rmSync(unitPath));
      await systemctl(['daemon-reload']);
      io.stdout(`removed ${unitPath}\n`);
      return;
    }
  }
}

const collect = (value: string, previous: readonly string[] = []): string[] => [...previous, value];

/** Registers `voltimax service install|start|stop|status|uninstall`. */
export function registerServiceCommand(program: Command, io: CliIo, deps: ServiceDeps = SYSTEM): void {
  const service = program
    .command('service')
    .description(`run the gateway at boot: systemd unit ${UNIT_NAME} (docker compose up/down of the gateway folder)`);
  const actions: readonly [ServiceAction, string][] = [
    ['install', 'write the unit and enable it at boot'],
    ['start', 'start the gateway now'],
    ['stop', 'stop the gateway (compose down)'],
    ['status', 'is the unit installed, and systemctl status (exit 3 = not running, 4 = not installed)'],
    ['uninstall', 'stop and disable the unit, then remove it'],
  ];
  for (const [action, description] of actions) {
    service
      .command(action)
      .description(description)
      .option(
        '--root <dir>',
        'write under this root instead of /, and print the systemctl calls instead of making them',
      )
      .option('--dir <dir>', 'folder with compose.yaml and .env on the gateway', DEFAULT_GATEWAY_DIR)
      .option('--docker <path>', 'docker binary for the unit', '/usr/bin/docker')
      .option('--profile <name>', 'compose profile to enable (repeatable), e.g. sim', collect)
      .action((opts: ServiceOptions) => serviceCommand(io, action, opts, deps));
  }
}
