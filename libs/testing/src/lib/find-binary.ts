import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** Where Debian and hand installs put server binaries, searched after `PATH` (sbin is often not on a user's PATH). */
export const SERVER_BINARY_DIRS: readonly string[] = ['/usr/sbin', '/usr/bin', '/usr/local/bin'];

/** Options of {@link findBinary}. */
export interface FindBinaryOptions {
  /** A `PATH`-style list; default `process.env.PATH`. */
  readonly pathEnv?: string | undefined;
  /** Searched after `pathEnv`; default {@link SERVER_BINARY_DIRS}. */
  readonly extraDirs?: readonly string[];
}

/** The absolute path of the first executable regular file called `name`, or `undefined`. */
export function findBinary(name: string, opts: FindBinaryOptions = {}): string | undefined {
  const pathDirs = (opts.pathEnv ?? process.env['PATH'] ?? '').split(delimiter);
  const dirs = [...pathDirs, ...(opts.extraDirs ?? SERVER_BINARY_DIRS)].filter((dir) => dir !== '' && isAbsolute(dir));
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
