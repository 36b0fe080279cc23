import { readFile } from 'node:fs/promises';
import { runCli } from './program';

runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  readFile: (path) => readFile(path, 'utf8'),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`voltimax: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
