import { Command, CommanderError } from 'commander';
import { configValidate } from './commands/config-validate';
import { CliExit, type CliIo } from './io';

export const CLI_VERSION = '0.1.0';

/** The `voltimax` command tree. Output goes through `io`; errors end as CliExit, never process.exit. */
export function buildProgram(io: CliIo): Command {
  const program = new Command('voltimax')
    .description('Voltimax Edge Gateway command line')
    .version(CLI_VERSION)
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });

  const config = program.command('config').description('site configuration (assets.json)');
  config
    .command('validate')
    .description('check an assets.json file; prints each problem with its JSON path')
    .argument('<file>', 'path to assets.json')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: { json?: boolean }) => configValidate(io, file, opts));

  return program;
}

/** Run the CLI with argv (without node and script) and return the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CliExit) return err.exitCode;
    if (err instanceof CommanderError) return err.exitCode;
    io.stderr(`voltimax: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
