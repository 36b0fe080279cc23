// All projects in one Jest run (what `npm test` uses); `nx test <project>` runs one project's config.
const fs = require('node:fs');
const path = require('node:path');

const projects = ['libs', 'services', 'tools'].flatMap((group) =>
  fs
    .readdirSync(path.join(__dirname, group))
    .filter((name) => fs.existsSync(path.join(__dirname, group, name, 'jest.config.cjs')))
    .sort()
    .map((name) => `<rootDir>/${group}/${name}/jest.config.cjs`),
);
module.exports = { projects, testTimeout: 30_000 };
