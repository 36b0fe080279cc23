/**
 * The atomic writer against the real file system: a full disk (ENOSPC injected at the fs boundary), an unwritable
 * directory (a real one: as root the writer runs as user `nobody`), and `kill -9` of a writer process between write
 * and rename and at random instants of a write loop. In every case the target is the old file or the new one, whole.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@voltimax/testing';
import { AtomicWriteError, NODE_FS, removeStaleTemps, writeFileAtomic, type AtomicFs } from './atomic-file';

const ROOT = join(__dirname, '..', '..', '..');
const WRITER = join(__dirname, '__fixtures__', 'atomic-writer.ts');
const OLD = '{"version":"old"}\n';
const NEW = '{"version":"new"}\n';

jest.setTimeout(60_000);

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cloud-bridge-atomic-'));
  file = join(dir, 'assets.json');
  writeFileSync(file, OLD);
});
afterEach(() => {
  chmodSync(dir, 0o700);
  rmSync(dir, { recursive: true, force: true });
});

const temps = () => readdirSync(dir).filter((name) => name.endsWith('.tmp'));

function enospc(syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOSPC: no space left on device, ${syscall}`), { code: 'ENOSPC', syscall });
}

interface Writer {
  readonly lines: string[];
  readonly exited: Promise<number | null>;
  kill(): void;
}

function startWriter(args: readonly string[]): Writer {
  const child = spawn(process.execPath, [join(ROOT, 'tools', 'run-ts.js'), WRITER, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/tmp' },
  });
  const lines: string[] = [];
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  process.once('exit', () => child.kill('SIGKILL'));
  void exited.then((code) => {
    if (code !== 0 && code !== null && stderr !== '') process.stderr.write(`writer: ${stderr}\n`);
  });
  return { lines, exited, kill: () => void child.kill('SIGKILL') };
}

describe('writeFileAtomic', () => {
  it('replaces the file, keeps the previous one as .prev and leaves no temp file', async () => {
    await writeFileAtomic(file, NEW);
    expect(readFileSync(file, 'utf8')).toBe(NEW);
    expect(readFileSync(`${file}.prev`, 'utf8')).toBe(OLD);
    expect(temps()).toEqual([]);
  });

  it('writes a first file without a .prev', async () => {
    rmSync(file);
    await writeFileAtomic(file, NEW);
    expect(readFileSync(file, 'utf8')).toBe(NEW);
    expect(existsSync(`${file}.prev`)).toBe(false);
  });

  it('disk full (ENOSPC while writing the temp file): the old file and .prev are intact, the temp file is gone', async () => {
    await writeFileAtomic(file, NEW); // .prev = OLD, file = NEW
    const full: AtomicFs = {
      ...NODE_FS,
      async openForWrite(path, flags, mode) {
        const handle = await NODE_FS.openForWrite(path, flags, mode);
        return {
          // Half the bytes reach the disk, then it is full: a torn temp file must never become the target.
          writeFile: async (data) => {
            await handle.writeFile(data.slice(0, data.length / 2));
            throw enospc('write');
          },
          sync: () => handle.sync(),
          close: () => handle.close(),
        };
      },
    };
    const failure = await writeFileAtomic(file, '{"version":"newer"}\n', { fs: full }).catch((err: unknown) => err);

    expect(failure).toBeInstanceOf(AtomicWriteError);
    expect(failure).toMatchObject({ code: 'ENOSPC', step: 'write-temp', retryable: false });
    expect(readFileSync(file, 'utf8')).toBe(NEW);
    expect(readFileSync(`${file}.prev`, 'utf8')).toBe(OLD);
    expect(temps()).toEqual([]);
  });

  it('a failing rename leaves the old file and removes the temp file', async () => {
    const failing: AtomicFs = {
      ...NODE_FS,
      rename: (from, to) =>
        to === file ? Promise.reject(Object.assign(new Error('EIO'), { code: 'EIO' })) : NODE_FS.rename(from, to),
    };
    await expect(writeFileAtomic(file, NEW, { fs: failing })).rejects.toMatchObject({ code: 'EIO', step: 'rename' });
    expect(readFileSync(file, 'utf8')).toBe(OLD);
    expect(temps()).toEqual([]);
  });

  it('an unwritable directory: the write fails with EACCES and the old file is intact', async () => {
    chmodSync(dir, 0o555);
    // Root ignores directory permissions: as root, this process writes with the effective user nobody for the call
    // (glibc switches every thread, libuv's file threads too). A child process as nobody could not even start where
    // nobody cannot reach the checkout (a clone in a `mktemp -d` folder, mode 0700).
    const seteuid = process.getuid?.() === 0 ? process.seteuid : undefined;
    seteuid?.(65534);
    try {
      await expect(writeFileAtomic(file, NEW)).rejects.toMatchObject({ code: 'EACCES', step: 'write-temp' });
    } finally {
      seteuid?.(0);
    }
    expect(readFileSync(file, 'utf8')).toBe(OLD);
    expect(temps()).toEqual([]);
  });

  it('kill -9 between the durable temp file and the rename: the old file is intact; the next start removes the temp file', async () => {
    const writer = startWriter(['pause', file, NEW]);
    await waitFor(() => writer.lines.includes('PAUSED'), {
      timeoutMs: 20_000,
      message: 'the writer to reach the rename',
    });
    writer.kill();
    await writer.exited;

    expect(readFileSync(file, 'utf8')).toBe(OLD);
    expect(readFileSync(`${file}.prev`, 'utf8')).toBe(OLD);
    const [temp] = temps();
    expect(temp).toBeDefined();
    expect(readFileSync(join(dir, temp ?? ''), 'utf8')).toBe(NEW); // fsynced before the pause, whole
    expect(await removeStaleTemps(file)).toEqual([temp]);
    expect(temps()).toEqual([]);
  });

  it('kill -9 at random instants of a write loop never leaves a torn file', async () => {
    const bytes = 512 * 1024;
    for (let trial = 0; trial < 6; trial += 1) {
      writeFileSync(file, OLD);
      const writer = startWriter(['loop', file, String(bytes)]);
      const target = 1 + Math.floor(Math.random() * 4);
      await waitFor(() => writer.lines.filter((l) => l.startsWith('WROTE')).length >= target, {
        timeoutMs: 20_000,
        message: `write ${target}`,
      });
      writer.kill();
      await writer.exited;

      const text = readFileSync(file, 'utf8');
      const parsed = JSON.parse(text) as { letter: string; n: number; fill: string };
      expect(parsed.fill).toBe(parsed.letter.repeat(bytes));
      expect(parsed.letter).toBe(parsed.n % 2 === 0 ? 'a' : 'b');
      await removeStaleTemps(file);
    }
  });
});
