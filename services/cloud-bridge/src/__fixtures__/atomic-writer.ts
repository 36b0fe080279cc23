// A writer process for the crash tests of atomic-file.int.spec.ts (run with node tools/run-ts.js):
//   pause <path> <text>   write, but stop just before the rename: print PAUSED and wait to be killed
//   loop  <path> <bytes>  rewrite the file forever, alternating two contents of about <bytes> bytes; print WROTE <n>
import { writeFileAtomic } from '../atomic-file';

const [mode, path, arg] = process.argv.slice(2);
const say = (line: string): void => void process.stdout.write(`${line}\n`);

function content(letter: string, bytes: number, n: number): string {
  return `${JSON.stringify({ letter, n, fill: letter.repeat(bytes) })}\n`;
}

async function main(): Promise<void> {
  if (path === undefined || arg === undefined) throw new Error('usage: atomic-writer.ts pause|loop <path> <arg>');
  if (mode === 'pause') {
    await writeFileAtomic(path, arg, {
      beforeRename: () =>
        new Promise<void>(() => {
          setInterval(() => undefined, 60_000); // keep the process alive until it is killed
          say('PAUSED');
        }),
    });
    return;
  }
  if (mode === 'loop') {
    const bytes = Number(arg);
    for (let n = 1; ; n += 1) {
      await writeFileAtomic(path, content(n % 2 === 0 ? 'a' : 'b', bytes, n));
      say(`WROTE ${n}`);
    }
  }
  throw new Error(`unknown mode ${String(mode)}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
