import {
  isPermissionRefusal,
  JetStreamConfigConflictError,
  provisionGatewayStreams,
  type ProvisionReport,
  type StreamRetention,
} from '@voltimax/bus';
import { formatIssues, streamRetention } from '@voltimax/contracts';
import type { Command } from 'commander';
import { pino } from 'pino';
import { z } from 'zod';
import { CliExit, type CliIo } from '../io';
import { connectAsCli, defaultArbiterCliDeps, intOption, type ArbiterCliDeps } from './arbiter-nats';

/** Options of `voltimax bus init`. */
export interface BusInitOptions {
  /** How long to keep trying while NATS or JetStream is not up yet, ms (text from the command line). */
  readonly waitMs?: string;
  readonly json?: boolean;
}

/** Exit codes besides 0 (provisioned), 1 (invalid retention setting) and 2 (no connection / bad option). */
export const BUS_INIT_EXIT = { refused: 4, conflict: 5 } as const;

/** As the services parse these variables (`z.coerce`, so a blank one is 0 and refused), with the bounds in the message. */
const intText = (min: number, max: number, fallback: number) => {
  const error = `an integer from ${min} to ${max}`;
  return z.coerce.number({ error }).int({ error }).min(min, { error }).max(max, { error }).default(fallback);
};

/** The retention settings the stream owners read too (telemetry-publisher, safety-arbiter), same names and bounds. */
const RetentionEnvSchema = z.looseObject({
  TELEMETRY_MAX_AGE_MS: intText(
    streamRetention.telemetry.minAgeMs,
    streamRetention.telemetry.maxAgeMs,
    streamRetention.telemetry.defaultAgeMs,
  ),
  TELEMETRY_MAX_BYTES: intText(
    streamRetention.telemetry.minBytes,
    Number.MAX_SAFE_INTEGER,
    streamRetention.telemetry.defaultBytes,
  ),
  AUDIT_MAX_AGE_MS: intText(
    streamRetention.audit.minAgeMs,
    streamRetention.audit.maxAgeMs,
    streamRetention.audit.defaultAgeMs,
  ),
  AUDIT_MAX_BYTES: intText(streamRetention.audit.minBytes, Number.MAX_SAFE_INTEGER, streamRetention.audit.defaultBytes),
});

function retentionFromEnv(
  io: CliIo,
  env: Readonly<Record<string, string | undefined>>,
): { telemetry: StreamRetention; audit: StreamRetention } {
  const parsed = RetentionEnvSchema.safeParse(env);
  if (!parsed.success) {
    for (const issue of formatIssues(parsed.error.issues)) {
      io.stderr(`voltimax bus init: ${issue.path.replace(/^\$\./, '')}: ${issue.message}\n`);
    }
    throw new CliExit(1);
  }
  const e = parsed.data;
  return {
    telemetry: { maxAgeMs: e.TELEMETRY_MAX_AGE_MS, maxBytes: e.TELEMETRY_MAX_BYTES },
    audit: { maxAgeMs: e.AUDIT_MAX_AGE_MS, maxBytes: e.AUDIT_MAX_BYTES },
  };
}

/**
 * `voltimax bus init [--wait-ms N] [--json]`: creates the gateway's JetStream streams and KV buckets (TELEMETRY,
 * AUDIT, ESTOP, KV config, prices, strategy-history) or brings their limits in line, as NATS_USER (the `provisioner` of
 * docker/nats/nats.conf, the only user that may create streams). Retention from TELEMETRY_MAX_AGE_MS /
 * TELEMETRY_MAX_BYTES / AUDIT_MAX_AGE_MS / AUDIT_MAX_BYTES. Idempotent: run before the services on every start.
 * Keeps trying for `--wait-ms` (default 30 s) while NATS or JetStream is not reachable. Exit 0 done, 1 invalid
 * setting, 2 no connection in time, 4 the server refused (not the provisioner), 5 a stream exists with a setting that
 * cannot change in place.
 */
export async function busInit(
  io: CliIo,
  opts: BusInitOptions,
  deps: ArbiterCliDeps = defaultArbiterCliDeps(),
): Promise<void> {
  const waitMs = intOption(io, 'bus init', '--wait-ms', opts.waitMs, 30_000, 0, 600_000);
  const retention = retentionFromEnv(io, deps.env);
  const deadline = deps.now() + waitMs;
  let lastProblem = '';
  const quiet: CliIo = { ...io, stderr: (text) => void (lastProblem = text.trim()) };
  for (let attempt = 1; ; attempt += 1) {
    let report: ProvisionReport;
    try {
      report = await provisionOnce(io, quiet, deps, retention);
    } catch (err) {
      if (err instanceof CliExit && err.exitCode !== 2) throw err;
      if (/authorization violation/i.test(lastProblem)) {
        io.stderr(`${lastProblem} (wrong NATS_USER / NATS_PASS: not retried)\n`);
        throw new CliExit(2);
      }
      if (!(err instanceof CliExit)) lastProblem = `voltimax bus init: ${describe(err)}`;
      const left = deadline - deps.now();
      if (left <= 0) {
        io.stderr(`${lastProblem} (gave up after ${attempt} attempt${attempt === 1 ? '' : 's'})\n`);
        throw new CliExit(2);
      }
      await deps.delay(Math.min(1_000, left));
      continue;
    }
    if (opts.json) {
      io.stdout(`${JSON.stringify({ streams: report, retention, attempts: attempt })}\n`);
    } else {
      for (const [stream, action] of Object.entries(report)) io.stdout(`${stream.padEnd(22)} ${action}\n`);
    }
    return;
  }
}

/** One try: connect (a failure is told to `quiet`, and retried) and provision (a refusal or conflict is final). */
async function provisionOnce(
  io: CliIo,
  quiet: CliIo,
  deps: ArbiterCliDeps,
  retention: { telemetry: StreamRetention; audit: StreamRetention },
): Promise<ProvisionReport> {
  const { nc, source } = await connectAsCli(quiet, deps, 'bus init');
  // A `kept` stream (one even the provisioner may not change) is told with its have/want on stderr.
  const log = pino({ level: 'warn', base: null }, { write: (line: string) => io.stderr(line) });
  try {
    return await provisionGatewayStreams(nc, retention, log);
  } catch (err) {
    if (isPermissionRefusal(err)) {
      io.stderr(
        `voltimax bus init: the server refused (${describe(err)}) to ${source}: only the provisioner user may create ` +
          'streams (NATS_USER=provisioner)\n',
      );
      throw new CliExit(BUS_INIT_EXIT.refused);
    }
    if (err instanceof JetStreamConfigConflictError) {
      io.stderr(`voltimax bus init: ${err.message}\n`);
      throw new CliExit(BUS_INIT_EXIT.conflict);
    }
    throw err;
  } finally {
    await nc.close().catch(() => undefined);
  }
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}

export function registerBusCommand(program: Command, io: CliIo, deps?: ArbiterCliDeps): void {
  program
    .command('bus')
    .description('the local NATS bus')
    .command('init')
    .description(
      'create the JetStream streams and KV buckets of the gateway, or bring their limits in line, as the ' +
        'provisioner (NATS_URL, NATS_USER/NATS_PASS; retention from TELEMETRY_/AUDIT_MAX_AGE_MS and _MAX_BYTES)',
    )
    .option('--wait-ms <ms>', 'keep trying this long while NATS or JetStream is not up', '30000')
    .option('--json', 'machine-readable output')
    .action((opts: BusInitOptions) => busInit(io, opts, deps));
}
