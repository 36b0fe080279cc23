// `voltimax discover`: finds devices on the site's network (mDNS/DNS-SD, Home Assistant MQTT discovery, a Modbus
// TCP scan of a range the installer names, BACnet/IP Who-Is), prints what they are, optionally publishes the results on
// `discovery.found` and adds chosen ones to assets.json. `--serve` answers `discovery.request` instead.
import { createBus } from '@voltimax/bus';
import {
  CidrError,
  cidrHosts,
  DEFAULT_SCAN_PORTS,
  DEFAULT_SCAN_UNIT_IDS,
  publishCandidates,
  runDiscovery,
  startDiscoveryResponder,
  type DiscoverOptions,
  type ResponderDefaults,
} from '@voltimax/discovery';
import { isIpv4Endpoint } from '@voltimax/driver-bacnet';
import type { Command } from 'commander';
import { pino } from 'pino';
import { CliExit, type CliIo } from '../io';
import { connectAsCli, defaultArbiterCliDeps, type ArbiterCliDeps } from './arbiter-nats';
import { writeFileAtomic, type WriteFileAtomic } from './assets';
import { applyCandidates } from './discover-apply';
import { formatRun, progressPrinter, runAsJson } from './discover-format';

/** Flags of `voltimax discover` (text, as commander gives them). */
export interface DiscoverCliOptions {
  readonly mdns?: boolean;
  readonly mdnsInterface?: string;
  readonly mdnsPort?: string;
  readonly mqtt?: string;
  readonly modbus?: string;
  readonly bacnet?: string;
  readonly bacnetBroadcast?: string;
  readonly bacnetPorts?: string;
  readonly bacnetInterface?: string;
  readonly ports?: string;
  readonly units?: string;
  readonly timeout?: string;
  readonly listenMs?: string;
  readonly concurrency?: string;
  readonly rate?: string;
  readonly hostBudgetMs?: string;
  readonly json?: boolean;
  readonly publish?: boolean;
  readonly serve?: boolean;
  readonly site?: string;
  readonly apply?: readonly string[];
  readonly applyAll?: boolean;
}

/** The outside world of `voltimax discover`: NATS (for --publish/--serve), the terminal, signals. */
export interface DiscoverDeps extends ArbiterCliDeps {
  /** True when progress may be drawn as a bar (stderr is a terminal). */
  readonly isTty: () => boolean;
  /** Calls `handler` on SIGINT/SIGTERM; returns the unregister function. */
  readonly onSignal: (handler: () => void) => () => void;
}

export function defaultDiscoverDeps(): DiscoverDeps {
  return {
    ...defaultArbiterCliDeps(),
    isTty: () => process.stderr.isTTY === true,
    onSignal: (handler) => {
      process.once('SIGINT', handler);
      process.once('SIGTERM', handler);
      return () => {
        process.removeListener('SIGINT', handler);
        process.removeListener('SIGTERM', handler);
      };
    },
  };
}

function usage(io: CliIo, message: string): never {
  io.stderr(`voltimax discover: ${message}\n`);
  throw new CliExit(2);
}

function int(io: CliIo, flag: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max)
    usage(io, `${flag} must be an integer from ${min} to ${max}, got '${text}'`);
  return value;
}

function intList(
  io: CliIo,
  flag: string,
  text: string | undefined,
  fallback: readonly number[],
  min: number,
  max: number,
): number[] {
  if (text === undefined) return [...fallback];
  const values = text.split(',').map((part) => part.trim());
  if (values.length === 0 || values.some((v) => v === ''))
    usage(io, `${flag} must be a comma-separated list, got '${text}'`);
  return [...new Set(values.map((v) => int(io, flag, v, 0, min, max)))];
}

/** The library options the flags ask for (usage errors exit 2). */
export function discoverOptionsFromFlags(
  io: CliIo,
  opts: DiscoverCliOptions,
  env: Readonly<Record<string, string | undefined>>,
): DiscoverOptions {
  const listenMs = int(io, '--listen-ms', opts.listenMs, 3_000, 100, 600_000);
  let options: DiscoverOptions = {};
  if (opts.mdns) {
    const mdnsPort = opts.mdnsPort === undefined ? undefined : int(io, '--mdns-port', opts.mdnsPort, 5353, 1, 65_535);
    options = {
      ...options,
      mdns: {
        durationMs: listenMs,
        ...(opts.mdnsInterface || mdnsPort
          ? {
              socket: {
                ...(opts.mdnsInterface ? { interface: opts.mdnsInterface, bind: '0.0.0.0' } : {}),
                ...(mdnsPort ? { port: mdnsPort } : {}),
              },
            }
          : {}),
      },
    };
  }
  if (opts.mqtt !== undefined) {
    if (!/^(mqtts?|wss?):\/\/[^\s]+$/.test(opts.mqtt))
      usage(io, `--mqtt must be a broker URL like mqtt://192.168.1.5:1883, got '${opts.mqtt}'`);
    options = {
      ...options,
      mqtt: {
        brokerUrl: opts.mqtt,
        durationMs: listenMs,
        ...(env['MQTT_USER'] ? { username: env['MQTT_USER'] } : {}),
        ...(env['MQTT_PASS'] ? { password: env['MQTT_PASS'] } : {}),
      },
    };
  }
  if (opts.modbus !== undefined) {
    options = { ...options, modbus: { cidr: opts.modbus, ...modbusLimits(io, opts) } };
  } else if (opts.ports !== undefined || opts.units !== undefined) {
    usage(io, '--ports and --units need --modbus <range>');
  }
  if (opts.bacnet !== undefined || opts.bacnetBroadcast !== undefined) {
    if (opts.bacnetInterface !== undefined && !isIpv4Endpoint(opts.bacnetInterface, false))
      usage(io, `--bacnet-interface must be an IPv4 address, got '${opts.bacnetInterface}'`);
    options = {
      ...options,
      bacnet: {
        ...(opts.bacnet === undefined ? {} : { cidr: opts.bacnet }),
        ...(opts.bacnetBroadcast === undefined ? {} : { broadcast: opts.bacnetBroadcast }),
        ports: intList(io, '--bacnet-ports', opts.bacnetPorts, [47_808], 1, 65_535),
        ...(opts.bacnetInterface === undefined ? {} : { interface: opts.bacnetInterface }),
        listenMs,
        timeoutMs: int(io, '--timeout', opts.timeout, 1_000, 50, 60_000),
      },
    };
  } else if (opts.bacnetPorts !== undefined || opts.bacnetInterface !== undefined) {
    usage(io, '--bacnet-ports and --bacnet-interface need --bacnet <range> or --bacnet-broadcast <address>');
  }
  return options;
}

/** Ports, unit ids, timeouts and limits of a Modbus scan from the flags (the range aside). */
function modbusLimits(io: CliIo, opts: DiscoverCliOptions): NonNullable<ResponderDefaults['modbus']> {
  const timeoutMs = int(io, '--timeout', opts.timeout, 1_000, 50, 60_000);
  return {
    ports: intList(io, '--ports', opts.ports, DEFAULT_SCAN_PORTS, 1, 65_535),
    unitIds: intList(io, '--units', opts.units, DEFAULT_SCAN_UNIT_IDS, 0, 255),
    timeoutMs,
    connectTimeoutMs: timeoutMs,
    concurrency: int(io, '--concurrency', opts.concurrency, 32, 1, 1_024),
    connectsPerSecond: int(io, '--rate', opts.rate, 100, 1, 10_000),
    hostBudgetMs: int(io, '--host-budget-ms', opts.hostBudgetMs, 15_000, 100, 3_600_000),
  };
}

async function serve(io: CliIo, opts: DiscoverCliOptions, deps: DiscoverDeps): Promise<void> {
  // the flags are the defaults of every request; the range always comes from the request
  const flags = discoverOptionsFromFlags(
    io,
    { ...opts, mdns: true, modbus: undefined, ports: undefined, units: undefined },
    deps.env,
  );
  const defaults: ResponderDefaults = {
    ...(flags.mdns ? { mdns: flags.mdns } : {}),
    ...(flags.mqtt ? { mqtt: flags.mqtt } : {}),
    modbus: modbusLimits(io, opts),
  };
  const { nc, source } = await connectAsCli(io, deps, 'discover');
  const log = pino({ level: 'silent' });
  const responder = startDiscoveryResponder({
    bus: createBus(nc, log),
    log,
    defaults,
    now: deps.now,
    onRun: (request, run) =>
      io.stdout(
        `discovery.request ${request.requestId ?? ''} (${request.methods.join(', ')}): ${run.candidates.length} published\n`,
      ),
  });
  await nc.flush();
  io.stdout(`answering discovery.request on ${source}; Ctrl-C to stop\n`);
  await new Promise<void>((resolve) => {
    const off = deps.onSignal(() => {
      off();
      resolve();
    });
  });
  await responder.stop();
  await nc.drain();
}

/**
 * `voltimax discover [--mdns] [--mqtt <url>] [--modbus <cidr> [--ports] [--units] [--timeout]] [--json] [--publish]
 * [--site <file> --apply <ids…> | --apply-all]`. Exit 0 when the run completed (found or not), 1 when every
 * requested source failed or `--apply` was refused, 2 for usage errors or no NATS with `--publish`.
 */
export async function discover(
  io: CliIo,
  opts: DiscoverCliOptions,
  deps: DiscoverDeps = defaultDiscoverDeps(),
  write: WriteFileAtomic = writeFileAtomic,
): Promise<void> {
  if (opts.serve) return serve(io, opts, deps);
  const options = discoverOptionsFromFlags(io, opts, deps.env);
  const requested = (['mdns', 'mqtt', 'modbus', 'bacnet'] as const).filter((s) => options[s] !== undefined);
  if (requested.length === 0)
    usage(io, 'name at least one source: --mdns, --mqtt <url>, --modbus <range> or --bacnet <range>');
  if ((opts.apply !== undefined || opts.applyAll) && opts.site === undefined)
    usage(io, '--apply and --apply-all need --site <assets.json>');
  if (options.modbus) {
    try {
      // fail on a bad range before anything starts
      cidrHosts(options.modbus.cidr);
    } catch (err) {
      if (err instanceof CidrError) usage(io, err.message);
      throw err;
    }
  }
  if (options.bacnet) {
    const { cidr, broadcast } = options.bacnet;
    if (broadcast !== undefined && !isIpv4Endpoint(broadcast))
      usage(io, `--bacnet-broadcast must be an IPv4 address with an optional port, got '${broadcast}'`);
    try {
      if (cidr !== undefined) cidrHosts(cidr);
    } catch (err) {
      if (err instanceof CidrError) usage(io, err.message);
      throw err;
    }
  }
  const controller = new AbortController();
  const off = deps.onSignal(() => controller.abort());
  const progress = progressPrinter(io.stderr, deps.isTty());
  let run;
  try {
    run = await runDiscovery({
      ...options,
      ...(options.modbus ? { modbus: { ...options.modbus, onProgress: progress.update } } : {}),
      signal: controller.signal,
    });
  } finally {
    progress.done();
    off();
  }
  io.stdout(opts.json ? `${JSON.stringify(runAsJson(run))}\n` : formatRun(run));
  if (opts.publish) {
    const { nc, source } = await connectAsCli(io, deps, 'discover');
    try {
      const sent = publishCandidates(createBus(nc, pino({ level: 'silent' })), run.candidates, deps.now());
      await nc.flush();
      io.stderr(`published ${sent} on discovery.found (${source})\n`);
    } finally {
      await nc.close();
    }
  }
  if (run.errors.length === requested.length) throw new CliExit(1);
  if (opts.site !== undefined && (opts.apply !== undefined || opts.applyAll)) {
    await applyCandidates(io, opts.site, run.candidates, opts.applyAll ? 'all' : (opts.apply ?? []), write);
  }
}

/** Registers `voltimax discover`. */
export function registerDiscoverCommand(program: Command, io: CliIo, deps?: DiscoverDeps): void {
  program
    .command('discover')
    .description(
      'find devices: mDNS/DNS-SD, Home Assistant MQTT discovery, a Modbus TCP scan, BACnet/IP Who-Is (read-only); --apply adds them',
    )
    .option('--mdns', 'browse mDNS/DNS-SD (HomeWizard, Shelly, Home Assistant, Homey, Modbus gateways)')
    .option('--mdns-interface <address>', 'IPv4 address of the interface to browse on (default: all)')
    .option('--mdns-port <port>', 'mDNS port (default 5353)')
    .option(
      '--mqtt <url>',
      'read Home Assistant discovery from this broker (MQTT_USER / MQTT_PASS from the environment)',
    )
    .option(
      '--modbus <range>',
      'scan this IPv4 range for Modbus TCP devices, e.g. 192.168.1.0/24 (opt-in; at most a /20)',
    )
    .option(
      '--bacnet <range>',
      'send BACnet/IP Who-Is to every host of this IPv4 range, e.g. 192.168.1.0/24 (opt-in; at most a /20)',
    )
    .option('--bacnet-broadcast <address>', 'also send one BACnet Who-Is to this broadcast address, e.g. 192.168.1.255')
    .option('--bacnet-ports <list>', 'BACnet/IP UDP ports tried on each host (default 47808)')
    .option('--bacnet-interface <address>', 'local IPv4 address for BACnet (default: all)')
    .option('--ports <list>', `Modbus TCP ports (default ${DEFAULT_SCAN_PORTS.join(',')})`)
    .option('--units <list>', `Modbus unit ids to try (default ${DEFAULT_SCAN_UNIT_IDS.join(',')})`)
    .option('--timeout <ms>', 'Modbus connect and request timeout, BACnet answer timeout', '1000')
    .option('--listen-ms <ms>', 'how long mDNS, MQTT and BACnet listen', '3000')
    .option('--concurrency <n>', 'hosts scanned at once', '32')
    .option('--rate <n>', 'new Modbus connections per second', '100')
    .option('--host-budget-ms <ms>', 'time limit per host', '15000')
    .option('--json', 'machine-readable output')
    .option('--publish', 'publish each finding on discovery.found (NATS_URL, NATS_USER/NATS_PASS)')
    .option('--serve', 'answer discovery.request from the bus until Ctrl-C (the flags give the defaults)')
    .option('--site <file>', 'assets.json for --apply / --apply-all')
    .option('--apply <ids...>', 'add these findings (ids from the table) to --site, validated')
    .option('--apply-all', 'add every finding that has a profile to --site, validated')
    .action((opts: DiscoverCliOptions) => discover(io, opts, deps));
}
