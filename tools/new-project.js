#!/usr/bin/env node
// Scaffold an Nx project: node tools/new-project.js <libs|services> <name> <tag>
const fs = require('node:fs');
const path = require('node:path');

const [group, name, tag] = process.argv.slice(2);
if (!['libs', 'services'].includes(group) || !name || !tag) {
  process.stderr.write('usage: new-project.js <libs|services> <name> <type:tag>\n');
  process.exit(2);
}
const root = path.join(__dirname, '..', group, name);
const write = (rel, text) => {
  const file = path.join(root, rel);
  if (fs.existsSync(file)) return;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
};
const isApp = group === 'services';
write(
  'project.json',
  JSON.stringify(
    {
      name,
      $schema: '../../node_modules/nx/schemas/project-schema.json',
      sourceRoot: `${group}/${name}/src`,
      projectType: isApp ? 'application' : 'library',
      tags: [tag],
      targets: {
        lint: { executor: 'nx:run-commands', options: { command: `eslint --max-warnings=0 ${group}/${name}` } },
        test: {
          executor: 'nx:run-commands',
          options: { command: `jest --config ${group}/${name}/jest.config.cjs --testPathIgnorePatterns '\\.int\\.spec\\.ts$'` },
        },
        integration: {
          executor: 'nx:run-commands',
          options: { command: `jest --config ${group}/${name}/jest.config.cjs --testPathPatterns '\\.int\\.spec\\.ts$'` },
        },
      },
    },
    null,
    2,
  ) + '\n',
);
write(
  'tsconfig.json',
  JSON.stringify({ extends: '../../tsconfig.base.json', compilerOptions: { noEmit: true }, include: ['src/**/*.ts'] }, null, 2) + '\n',
);
write(
  'jest.config.cjs',
  `module.exports = { ...require('../../jest.preset.js'), displayName: '${name}', rootDir: __dirname };\n`,
);
write('src/index.ts', '');
write('README.md', `# ${name}\n`);
