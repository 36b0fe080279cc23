import { Command, CommanderError } from 'commander';
import { registerArbiterCommand } from './commands/arbiter-why';
import { registerAssetsCommand } from './commands/assets';
import { registerBacktestCommand } from './commands/backtest';
import { registerBusCommand } from './commands/bus-init';
import { registerChargerCommand } from './commands/charger';
import { registerCloudCommand } from './commands/cloud';
import { registerDashboardCommand } from './commands/dashboard-password';
import { configValidate } from './commands/config-validate';
import { deviceRead, type DeviceReadOptions } from './commands/device-read';
import { registerDiscoverCommand } from './commands/discover';
import { scanSunSpec, type ScanSunSpecOptions } from './commands/device-scan-sunspec';
import { monitor } from './commands/monitor';
import { registerEstopCommand } from './commands/estop';
import { registerServiceCommand } from './commands/service';
import { registerStrategyCommand } from './commands/strategy';
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

  const device = program
    .command('device')
    .description('read one device directly over Modbus (read-only: never writes)');
  device
    .command('read')
    .description('read an asset of assets.json with its profile and print the decoded values with units and any issues')
    .argument('<asset>', 'asset id in assets.json')
    .argument('[point]', 'only this point (e.g. powerW)')
    .requiredOption('--site <file>', 'path to assets.json')
    .option('--timeout <ms>', 'per-request timeout', '2000')
    .option('--json', 'machine-readable output')
    .action((asset: string, point: string | undefined, opts: DeviceReadOptions) => deviceRead(io, asset, point, opts));
  device
    .command('scan-sunspec')
    .description('find the SunS marker (40000, 50000, 0), walk the model chain, print identity and models')
    .argument('<host>', 'Modbus TCP host')
    .option('--port <port>', 'TCP port', '502')
    .option('--unit <id>', 'unit id', '1')
    .option('--timeout <ms>', 'per-request timeout', '2000')
    .option('--json', 'machine-readable output')
    .action((host: string, opts: ScanSunSpecOptions) => scanSunSpec(io, host, opts));

  program
    .command('monitor')
    .description('live view of telemetry, strategy decisions and arbiter outcomes (NATS_URL, NATS_USER/NATS_PASS)')
    .option('--once', 'print one snapshot after a short collection window and exit')
    .option(
      '--window-ms <ms>',
      'collection window of --once (longer than the 5-s heartbeat of the services, so each shows)',
      '6000',
    )
    .option('--interval-ms <ms>', 'redraw interval of the live view', '1000')
    .option('--status', 'the compact one-screen status (services, power flows, SoC, strategy, last arbiter outcome)')
    .option('--line', 'with --status: one line per interval, for logs')
    .option('--supervisor <file>', 'with --status: the state file of `npm start` listing its processes')
    .option('--all-terms', 'every input, output and term of each decision (else the first six and +N)')
    .action(
      (opts: {
        once?: boolean;
        windowMs?: string;
        intervalMs?: string;
        status?: boolean;
        line?: boolean;
        supervisor?: string;
        allTerms?: boolean;
      }) => monitor(io, opts),
    );

  registerEstopCommand(program, io);
  registerBusCommand(program, io);
  registerArbiterCommand(program, io);
  registerBacktestCommand(program, io);
  registerAssetsCommand(program, io);
  registerServiceCommand(program, io);
  registerChargerCommand(program, io);
  registerCloudCommand(program, io);
  registerStrategyCommand(program, io);
  registerDiscoverCommand(program, io);
  registerDashboardCommand(program, io);

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
    // A usage error commander found (an unknown option, a missing argument) is exit 2, as every command's own
    // usage errors are: 1 means something else for several commands (backtest: a strategy broke a limit).
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    io.stderr(`voltimax: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
