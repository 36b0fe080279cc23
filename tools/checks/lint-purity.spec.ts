import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');

/** Lint source text as if it were a file at `relPath` in the workspace (the file need not exist). */
async function lint(relPath: string, code: string): Promise<string[]> {
  // The real eslint CLI (its config is ESM, which Jest's VM cannot load), fed the code on stdin.
  const eslintBin = join(ROOT, 'node_modules/eslint/bin/eslint.js');
  const args = [eslintBin, '--format', 'json', '--stdin', '--stdin-filename', join(ROOT, relPath)];
  const result = spawnSync(process.execPath, args, { cwd: ROOT, input: code, encoding: 'utf8', env: { ...process.env, NX_DAEMON: 'false' } });
  const report = JSON.parse(result.stdout) as { messages: { ruleId: string | null; message: string }[] }[];
  return (report[0]?.messages ?? []).map((m) => `${m.ruleId ?? 'fatal'}: ${m.message}`);
}

describe('lint makes purity and layering mechanical (STYLE §1.2, §1.4)', () => {
  beforeAll(() => {
    // @nx/enforce-module-boundaries silently skips itself without a project graph; build it first.
    execFileSync(process.execPath, [require.resolve('nx/bin/nx.js'), 'show', 'projects'], {
      cwd: ROOT,
      env: { ...process.env, NX_DAEMON: 'false' },
      stdio: 'ignore',
    });
  });

  it.each([
    ['libs/contracts/src/lib/fixture.ts', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n"],
    ['libs/safety/src/lib/fixture.ts', "import { readFileSync } from 'fs';\nexport const x = readFileSync;\n"],
    ['libs/sim/src/lib/fixture.ts', "import { connect } from '@nats-io/transport-node';\nexport const x = connect;\n"],
  ])('%s: importing an I/O module fails', async (file, code) => {
    expect(await lint(file, code)).toEqual(expect.arrayContaining([expect.stringMatching(/^no-restricted-imports: .*Pure libs do no I\/O/)]));
  });

  it.each([
    ['Date.now()', 'export const t = Date.now();\n', 'no-restricted-properties'],
    ['new Date()', 'export const t = new Date();\n', 'no-restricted-syntax'],
    ['Math.random()', 'export const r = Math.random();\n', 'no-restricted-properties'],
    ['process.env', 'export const e = process.env;\n', 'no-restricted-globals'],
    ['setTimeout', 'export const s = setTimeout;\n', 'no-restricted-globals'],
    ['console.log', "export const f = (): void => console.log('x');\n", 'no-console'],
  ])('a pure lib reading %s fails', async (_what, code, rule) => {
    expect((await lint('libs/safety/src/lib/fixture.ts', code)).some((m) => m.startsWith(`${rule}:`))).toBe(true);
  });

  it('new Date(0) stays allowed (a value, not the clock)', async () => {
    expect(await lint('libs/safety/src/lib/fixture.ts', 'export const epoch = new Date(0);\n')).toEqual([]);
  });

  it('the same code is fine in an I/O lib', async () => {
    expect(await lint('libs/bus/src/lib/fixture.ts', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n")).toEqual([]);
  });

  it('contracts may not depend on an I/O lib', async () => {
    const messages = await lint('libs/contracts/src/lib/fixture.ts', "import { testingOnly } from '@voltimax/testing';\nexport const x = testingOnly;\n");
    expect(messages).toEqual(expect.arrayContaining([expect.stringMatching(/^@nx\/enforce-module-boundaries: .*type:contracts/)]));
  });

  it('a pure lib may not depend on an I/O lib', async () => {
    const messages = await lint('libs/safety/src/lib/fixture.ts', "import { createBus } from '@voltimax/bus';\nexport const x = createBus;\n");
    expect(messages).toEqual(expect.arrayContaining([expect.stringMatching(/^@nx\/enforce-module-boundaries: .*type:domain/)]));
  });

  it('production code may not use the testing lib; specs may', async () => {
    const code = "import { waitFor } from '@voltimax/testing';\nexport const x = waitFor;\n";
    expect((await lint('libs/bus/src/lib/fixture.ts', code)).some((m) => m.startsWith('@nx/enforce-module-boundaries'))).toBe(true);
    expect(await lint('libs/bus/src/lib/fixture.spec.ts', code)).toEqual([]);
  });
});
