import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');

const IO_IMPORT = "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n";
const CASES = {
  contractsNodeFs: ['libs/contracts/src/lib/fixture.ts', IO_IMPORT],
  safetyFs: ['libs/safety/src/lib/fixture.ts', "import { readFileSync } from 'fs';\nexport const x = readFileSync;\n"],
  simNats: ['libs/sim/src/lib/fixture.ts', "import { connect } from '@nats-io/transport-node';\nexport const x = connect;\n"],
  dateNow: ['libs/safety/src/lib/fixture.ts', 'export const t = Date.now();\n'],
  newDate: ['libs/safety/src/lib/fixture.ts', 'export const t = new Date();\n'],
  mathRandom: ['libs/safety/src/lib/fixture.ts', 'export const r = Math.random();\n'],
  processEnv: ['libs/safety/src/lib/fixture.ts', 'export const e = process.env;\n'],
  setTimeout: ['libs/safety/src/lib/fixture.ts', 'export const s = setTimeout;\n'],
  consoleLog: ['libs/safety/src/lib/fixture.ts', "export const f = (): void => console.log('x');\n"],
  epochDate: ['libs/safety/src/lib/fixture.ts', 'export const epoch = new Date(0);\n'],
  ioLibNodeFs: ['libs/bus/src/lib/fixture.ts', IO_IMPORT],
  contractsImportsTesting: ['libs/contracts/src/lib/fixture.ts', "import { waitFor } from '@voltimax/testing';\nexport const x = waitFor;\n"],
  domainImportsIo: ['libs/devices/src/lib/fixture.ts', "import { createBus } from '@voltimax/bus';\nexport const x = createBus;\n"],
  ioImportsTesting: ['libs/bus/src/lib/fixture.ts', "import { waitFor } from '@voltimax/testing';\nexport const x = waitFor;\n"],
  specImportsTesting: ['libs/bus/src/lib/fixture.spec.ts', "import { waitFor } from '@voltimax/testing';\nexport const x = waitFor;\n"],
} as const;
type CaseName = keyof typeof CASES;

let messages: Record<CaseName, string[]>;

describe('lint makes purity and layering mechanical (STYLE §1.2, §1.4)', () => {
  beforeAll(() => {
    const env = { ...process.env, NX_DAEMON: 'false' };
    // @nx/enforce-module-boundaries silently skips itself without a project graph; build it first.
    execFileSync(process.execPath, [require.resolve('nx/bin/nx.js'), 'show', 'projects'], { cwd: ROOT, env, stdio: 'ignore' });
    const names = Object.keys(CASES) as CaseName[];
    const input = names.map((name) => ({ filePath: join(ROOT, CASES[name][0]), code: CASES[name][1] }));
    // ESLint's config is ESM, which Jest's VM cannot load: lint in a child process, all cases at once.
    const output = execFileSync(process.execPath, [join(__dirname, 'lint-texts.mjs')], { cwd: ROOT, env, input: JSON.stringify(input), encoding: 'utf8' });
    const results = JSON.parse(output) as string[][];
    messages = Object.fromEntries(names.map((name, i) => [name, results[i] ?? []])) as Record<CaseName, string[]>;
  }, 120_000);

  const hasRule = (name: CaseName, rule: string) => messages[name].some((m) => m.startsWith(`${rule}:`));

  it.each(['contractsNodeFs', 'safetyFs', 'simNats'] as const)('%s: importing an I/O module in a pure lib fails', (name) => {
    expect(messages[name]).toEqual(expect.arrayContaining([expect.stringMatching(/^no-restricted-imports: .*Pure libs do no I\/O/)]));
  });

  it.each([
    ['dateNow', 'no-restricted-properties'],
    ['newDate', 'no-restricted-syntax'],
    ['mathRandom', 'no-restricted-properties'],
    ['processEnv', 'no-restricted-globals'],
    ['setTimeout', 'no-restricted-globals'],
    ['consoleLog', 'no-console'],
  ] as const)('a pure lib using %s fails with %s', (name, rule) => {
    expect(hasRule(name, rule)).toBe(true);
  });

  it('new Date(0) stays allowed (a value, not the clock)', () => expect(messages.epochDate).toEqual([]));
  it('node:fs is fine in an I/O lib', () => expect(messages.ioLibNodeFs).toEqual([]));

  it('contracts may not depend on another lib', () => {
    // Refused either by the tag rule or, since libs/testing itself imports contracts, as a circular dependency.
    expect(messages.contractsImportsTesting).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^@nx\/enforce-module-boundaries: (.*type:contracts|Circular dependency between "contracts" and "testing")/),
      ]),
    );
  });

  it('a pure lib may not depend on an I/O lib', () => {
    expect(messages.domainImportsIo).toEqual(expect.arrayContaining([expect.stringMatching(/^@nx\/enforce-module-boundaries: .*type:domain/)]));
  });

  it('production code may not use the testing lib; specs may', () => {
    expect(hasRule('ioImportsTesting', '@nx/enforce-module-boundaries')).toBe(true);
    expect(messages.specImportsTesting).toEqual([]);
  });
});
