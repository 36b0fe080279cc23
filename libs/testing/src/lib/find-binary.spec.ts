import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary } from './find-binary';

describe('findBinary', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'find-binary-'));
    for (const dir of ['a', 'b', 'sbin']) mkdirSync(join(root, dir));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const put = (dir: string, name: string, mode: number): string => {
    const path = join(root, dir, name);
    writeFileSync(path, '#!/bin/sh\n');
    chmodSync(path, mode);
    return path;
  };

  it('takes the first executable on PATH', () => {
    put('a', 'srv', 0o755);
    put('b', 'srv', 0o755);
    expect(findBinary('srv', { pathEnv: `${join(root, 'a')}:${join(root, 'b')}`, extraDirs: [] })).toBe(
      join(root, 'a', 'srv'),
    );
  });

  it('skips files that are not executable, and directories', () => {
    put('a', 'srv', 0o644);
    mkdirSync(join(root, 'b', 'srv'));
    const found = put('sbin', 'srv', 0o755);
    expect(
      findBinary('srv', { pathEnv: `${join(root, 'a')}:${join(root, 'b')}`, extraDirs: [join(root, 'sbin')] }),
    ).toBe(found);
  });

  it('searches the extra dirs after PATH and ignores relative PATH entries', () => {
    const found = put('sbin', 'srv', 0o755);
    expect(findBinary('srv', { pathEnv: `.:relative:${join(root, 'a')}`, extraDirs: [join(root, 'sbin')] })).toBe(
      found,
    );
  });

  it('returns undefined when nothing is found', () => {
    expect(findBinary('srv', { pathEnv: '', extraDirs: [join(root, 'a')] })).toBeUndefined();
  });
});
