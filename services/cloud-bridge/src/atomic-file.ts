import { constants, promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** An open file, as much of node's FileHandle as the writer uses. */
export interface WritableFile {
  writeFile(data: string): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The file-system calls of {@link writeFileAtomic}: node's by default ({@link NODE_FS}); a test injects one that fails
 * (ENOSPC on write) at exactly this boundary.
 */
export interface AtomicFs {
  /** Open for writing with `flags` ('wx': create, fail if it exists). */
  openForWrite(path: string, flags: string, mode: number): Promise<WritableFile>;
  /** fsync a directory, so a rename in it is durable. */
  syncDir(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  copyFile(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  exists(path: string): Promise<boolean>;
  readdir(path: string): Promise<string[]>;
}

export const NODE_FS: AtomicFs = {
  openForWrite: (path, flags, mode) => fsp.open(path, flags, mode),
  async syncDir(path) {
    const dir = await fsp.open(path, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  },
  rename: (from, to) => fsp.rename(from, to),
  copyFile: (from, to) => fsp.copyFile(from, to),
  unlink: (path) => fsp.unlink(path),
  exists: (path) =>
    fsp.access(path).then(
      () => true,
      () => false,
    ),
  readdir: (path) => fsp.readdir(path),
};

/** The write did not happen; the previous file is untouched. `code` is the system error code (ENOSPC, EACCES, …). */
export class AtomicWriteError extends Error {
  override readonly name = 'AtomicWriteError';
  readonly retryable: boolean;
  constructor(
    readonly path: string,
    readonly step: 'write-temp' | 'keep-previous' | 'rename',
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(`cannot write ${path} (${step}): ${code}`, options);
    // A full disk or a permission problem needs a human; anything else may pass.
    this.retryable = !['ENOSPC', 'EACCES', 'EPERM', 'EROFS', 'EDQUOT'].includes(code);
  }
}

export interface AtomicWriteOptions {
  readonly fs?: AtomicFs;
  /** Keep the file being replaced as `<path>.prev` (default true). */
  readonly keepPrevious?: boolean;
  /** Called after the temp file is durable and before the rename (tests stop the process here). */
  readonly beforeRename?: () => Promise<void>;
  /** Distinguishes temp files of concurrent writers (default: pid and a counter). */
  readonly tempSuffix?: string;
}

let sequence = 0;

function codeOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : err instanceof Error ? err.message : String(err);
}

/** Prefix of the temp files next to `path` (dot files, so a directory listing of configs stays clean). */
export function tempPrefix(path: string): string {
  return `.${basename(path)}.`;
}

/**
 * Replace `path` with `text` so that a reader — or the next start after a crash or `kill -9` at any instant — sees the
 * old file or the new one, never a mix: write a temp file in the same directory, fsync it, (keep the old file as
 * `<path>.prev`, itself written through a temp file and renamed), rename the temp file over `path`, fsync the
 * directory. On failure the temp file is removed and {@link AtomicWriteError} thrown; `path` is untouched. Resolves
 * once `path` holds the new text; `dirSynced` is false when the directory fsync failed (the rename is done, only its
 * durability across a power cut is not confirmed).
 */
export async function writeFileAtomic(
  path: string,
  text: string,
  opts: AtomicWriteOptions = {},
): Promise<{ readonly dirSynced: boolean }> {
  const fs = opts.fs ?? NODE_FS;
  const dir = dirname(path);
  const suffix = opts.tempSuffix ?? `${process.pid}.${++sequence}`;
  const temp = join(dir, `${tempPrefix(path)}${suffix}.tmp`);
  const prevTemp = join(dir, `${tempPrefix(path)}prev.${suffix}.tmp`);

  const removeTemps = async (): Promise<void> => {
    await fs.unlink(temp).catch(() => undefined);
    await fs.unlink(prevTemp).catch(() => undefined);
  };

  try {
    const file = await fs.openForWrite(temp, 'wx', 0o644);
    try {
      await file.writeFile(text);
      await file.sync();
    } finally {
      await file.close().catch(() => undefined);
    }
  } catch (err) {
    await removeTemps();
    throw new AtomicWriteError(path, 'write-temp', codeOf(err), { cause: err });
  }

  if (opts.keepPrevious ?? true) {
    try {
      if (await fs.exists(path)) {
        await fs.copyFile(path, prevTemp);
        const copy = await fs.openForWrite(prevTemp, 'r+', 0o644);
        try {
          await copy.sync();
        } finally {
          await copy.close().catch(() => undefined);
        }
        await fs.rename(prevTemp, `${path}.prev`);
      }
    } catch (err) {
      await removeTemps();
      throw new AtomicWriteError(path, 'keep-previous', codeOf(err), { cause: err });
    }
  }

  await opts.beforeRename?.();

  try {
    await fs.rename(temp, path);
  } catch (err) {
    await removeTemps();
    throw new AtomicWriteError(path, 'rename', codeOf(err), { cause: err });
  }
  try {
    await fs.syncDir(dir);
    return { dirSynced: true };
  } catch {
    return { dirSynced: false };
  }
}

/** Removes temp files a killed writer left next to `path`; returns their names. */
export async function removeStaleTemps(path: string, fs: AtomicFs = NODE_FS): Promise<string[]> {
  const prefix = tempPrefix(path);
  const names = (await fs.readdir(dirname(path)).catch(() => [] as string[])).filter(
    (name) => name.startsWith(prefix) && name.endsWith('.tmp'),
  );
  for (const name of names) await fs.unlink(join(dirname(path), name)).catch(() => undefined);
  return names;
}
