import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyPassword } from '@voltimax/service-kit';
import { Command } from 'commander';
import { CliExit, type CliIo } from '../io';
import {
  defaultDashboardPasswordDeps,
  registerDashboardCommand,
  setDashboardPassword,
  type DashboardPasswordDeps,
} from './dashboard-password';

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

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'voltimax-dashpw-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The real file writer; the password comes from `answers` (terminal) or `stdin`. */
function deps(opts: { tty?: readonly string[]; stdin?: string; env?: Record<string, string> }): DashboardPasswordDeps {
  const answers = [...(opts.tty ?? [])];
  return {
    ...defaultDashboardPasswordDeps(),
    env: opts.env ?? {},
    isTty: opts.tty !== undefined,
    promptHidden: async () => answers.shift() ?? '',
    readStdin: async () => opts.stdin ?? '',
  };
}

async function exitCode(run: Promise<void>): Promise<number> {
  try {
    await run;
    return 0;
  } catch (err) {
    if (err instanceof CliExit) return err.exitCode;
    throw err;
  }
}

describe('voltimax dashboard set-password', () => {
  it('writes an scrypt hash of the typed password, mode 0600, in a new folder', async () => {
    const c = capture();
    const file = join(dir, 'etc', 'voltimax', 'dashboard-password');
    await setDashboardPassword(c.io, { file }, deps({ tty: ['correct horse battery', 'correct horse battery'] }));

    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^\$scrypt\$ln=15,r=8,p=1\$\S+\$\S+\n$/);
    expect(text).not.toContain('correct horse');
    await expect(verifyPassword('correct horse battery', text)).resolves.toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(c.out.join('')).toContain(`scrypt hash in ${file}, mode 0600`);
  });

  it('reads the first line of stdin when it is not a terminal, and uses DASHBOARD_PASSWORD_FILE', async () => {
    const file = join(dir, 'pw');
    await setDashboardPassword(
      capture().io,
      {},
      deps({ stdin: 'from a pipe 12345\nignored\n', env: { DASHBOARD_PASSWORD_FILE: file } }),
    );
    await expect(verifyPassword('from a pipe 12345', readFileSync(file, 'utf8'))).resolves.toBe(true);
  });

  it.each([
    ['two different answers', { tty: ['correct horse battery', 'correct horse batterY'] }, /differ/],
    ['a short password', { stdin: 'short\n' }, /at least 10 characters/],
    ['an empty stdin', { stdin: '' }, /at least 10 characters/],
  ])('refuses %s with exit 1 and leaves the file alone', async (_name, input, message) => {
    const c = capture();
    const file = join(dir, 'pw');
    expect(await exitCode(setDashboardPassword(c.io, { file }, deps(input)))).toBe(1);
    expect(c.err.join('')).toMatch(message);
    expect(() => statSync(file)).toThrow(/ENOENT/);
  });

  it('exits 2 when the file cannot be written', async () => {
    const c = capture();
    const blocker = join(dir, 'not-a-folder');
    await setDashboardPassword(capture().io, { file: blocker }, deps({ stdin: 'a long enough one\n' }));
    expect(
      await exitCode(setDashboardPassword(c.io, { file: join(blocker, 'pw') }, deps({ stdin: 'a long enough one\n' }))),
    ).toBe(2);
    expect(c.err.join('')).toMatch(/cannot write/);
  });

  it('is registered as `dashboard set-password --file`', async () => {
    const c = capture();
    const program = new Command('voltimax').exitOverride();
    const file = join(dir, 'pw');
    registerDashboardCommand(program, c.io, deps({ stdin: 'via commander 123\n' }));
    await program.parseAsync(['dashboard', 'set-password', '--file', file], { from: 'user' });
    await expect(verifyPassword('via commander 123', readFileSync(file, 'utf8'))).resolves.toBe(true);
  });
});
