import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, resolve, sep } from 'node:path';
import type { Logger } from 'pino';

/** One file of the built UI, held in memory. */
export interface UiFile {
  readonly body: Buffer;
  readonly contentType: string;
  /** Vite's hashed assets never change under their name; index.html must always be revalidated. */
  readonly cacheControl: string;
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** The script that builds the UI with Vite (also run by the root `prepare` script at `npm ci`). */
export const BUILD_SCRIPT = resolve(__dirname, '..', 'build-ui.mjs');

/** Reads every file of the built UI (a few hundred kB) into memory, keyed by URL path (`/`, `/assets/x.js`). */
export function loadUiFiles(dir: string): Map<string, UiFile> {
  const files = new Map<string, UiFile>();
  const walk = (folder: string): void => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) {
        walk(path);
        continue;
      }
      const type = TYPES[extname(name).toLowerCase()];
      if (type === undefined) continue;
      const url = `/${relative(dir, path).split(sep).join('/')}`;
      files.set(url, {
        body: readFileSync(path),
        contentType: type,
        cacheControl: url.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      });
    }
  };
  walk(dir);
  const index = files.get('/index.html');
  if (index !== undefined) files.set('/', index);
  return files;
}

/** Whether `dir` holds a built UI. */
export function isUiBuilt(dir: string): boolean {
  return existsSync(join(dir, 'index.html'));
}

/**
 * Builds the UI into `dir` with the build script (Vite, a child process), when it is missing. Resolves with whether
 * a built UI is there afterwards; the build's output goes to the log.
 */
export async function ensureUiBuilt(dir: string, log: Logger, timeoutMs = 180_000): Promise<boolean> {
  if (isUiBuilt(dir)) return true;
  log.warn({ dir, script: BUILD_SCRIPT }, 'UI not built; building it now');
  const output: string[] = [];
  const code = await new Promise<number | string>((done) => {
    const child = spawn(process.execPath, [BUILD_SCRIPT, '--out', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer) => output.push(chunk.toString());
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      done(err.message);
    });
    child.once('exit', (exitCode, signal) => {
      clearTimeout(timer);
      done(signal ?? exitCode ?? 1);
    });
  });
  const built = isUiBuilt(dir);
  if (built) log.info({ dir }, 'UI built');
  else
    log.error(
      { dir, exit: code, output: output.join('').slice(-2_000) },
      'UI build failed; the web server answers 503',
    );
  return built;
}
