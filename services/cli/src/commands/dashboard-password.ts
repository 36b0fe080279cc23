import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { hashPassword, MIN_PASSWORD_LENGTH } from '@voltimax/service-kit';
import type { Command } from 'commander';
import { CliExit, type CliIo } from '../io';

/** Where the dashboard reads its password hash when DASHBOARD_PASSWORD_FILE is not set (services/dashboard). */
export const DEFAULT_DASHBOARD_PASSWORD_FILE = '/etc/voltimax/dashboard-password';

/** The outside world of `voltimax dashboard set-password`, injectable for tests. */
export interface DashboardPasswordDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Whether stdin is a terminal (then the password is asked twice, without echo). */
  readonly isTty: boolean;
  /** Asks on the terminal without echoing what is typed. */
  readonly promptHidden: (question: string) => Promise<string>;
  /** All of stdin (when it is not a terminal). */
  readonly readStdin: () => Promise<string>;
  /** Writes `text` to `path` atomically with mode 0600, creating the folder. */
  readonly writeSecretFile: (path: string, text: string) => Promise<void>;
}

function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const input = process.stdin;
    process.stderr.write(question);
    input.setRawMode(true);
    input.setEncoding('utf8');
    input.resume();
    let value = '';
    const cleanup = () => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
    };
    function onData(chunk: string): void {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          cleanup();
          resolve(value);
          return;
        }
        if (ch === '\u0003' || ch === '\u0004') {
          cleanup();
          reject(new Error('cancelled'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    }
    input.on('data', onData);
  });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function writeSecretFile(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, text, { mode: 0o600, flag: 'wx' });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export function defaultDashboardPasswordDeps(): DashboardPasswordDeps {
  return { env: process.env, isTty: process.stdin.isTTY === true, promptHidden, readStdin, writeSecretFile };
}

/** Options of `voltimax dashboard set-password`. */
export interface SetPasswordOptions {
  readonly file?: string;
}

/**
 * `voltimax dashboard set-password [--file <path>]`: asks for the dashboard's password twice on a terminal (or reads
 * the first line of stdin), hashes it with scrypt (`@voltimax/service-kit`) and writes the hash, mode 0600, to
 * `--file`, else DASHBOARD_PASSWORD_FILE, else /etc/voltimax/dashboard-password. The dashboard reads the file at
 * every login, so no restart is needed. Exit 1 for a refused password, 2 when the file cannot be written.
 */
export async function setDashboardPassword(
  io: CliIo,
  opts: SetPasswordOptions,
  deps: DashboardPasswordDeps = defaultDashboardPasswordDeps(),
): Promise<void> {
  const file = opts.file ?? (deps.env['DASHBOARD_PASSWORD_FILE'] || DEFAULT_DASHBOARD_PASSWORD_FILE);
  let password: string;
  if (deps.isTty) {
    password = await deps.promptHidden('New dashboard password: ');
    const again = await deps.promptHidden('Repeat it: ');
    if (again !== password) {
      io.stderr('voltimax dashboard set-password: the two passwords differ; nothing changed\n');
      throw new CliExit(1);
    }
  } else {
    password = (await deps.readStdin()).split(/\r?\n/, 1)[0] ?? '';
  }
  if ([...password].length < MIN_PASSWORD_LENGTH) {
    io.stderr(
      `voltimax dashboard set-password: a password needs at least ${MIN_PASSWORD_LENGTH} characters; nothing changed\n`,
    );
    throw new CliExit(1);
  }
  const hash = await hashPassword(password);
  try {
    await deps.writeSecretFile(file, `${hash}\n`);
  } catch (err) {
    io.stderr(
      `voltimax dashboard set-password: cannot write ${file}: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    throw new CliExit(2);
  }
  io.stdout(`dashboard password set (scrypt hash in ${file}, mode 0600); it applies at the next login\n`);
}

/** Adds `dashboard set-password` to the program. */
export function registerDashboardCommand(program: Command, io: CliIo, deps?: DashboardPasswordDeps): void {
  program
    .command('dashboard')
    .description('the local web dashboard (services/dashboard)')
    .command('set-password')
    .description(
      'set the dashboard password: asked twice on a terminal, else the first line of stdin; stored as an scrypt hash',
    )
    .option('--file <path>', `hash file (default: DASHBOARD_PASSWORD_FILE, else ${DEFAULT_DASHBOARD_PASSWORD_FILE})`)
    .action((opts: SetPasswordOptions) => setDashboardPassword(io, opts, deps));
}
