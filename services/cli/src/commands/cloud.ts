import { performance } from 'node:perf_hooks';
import { createCloudClient, TransportError, type CloudCommandClient, type SecretEnv } from '@voltimax/cloud';
import {
  AssetIdSchema,
  CloudSettingsSchema,
  cloudMessages,
  SiteConfigSchema,
  type CloudMessageType,
  type CloudReplyEnvelope,
  type CloudSettings,
} from '@voltimax/contracts';
import type { Command } from 'commander';
import { CliExit, cliUser, type CliIo } from '../io';

/** Exit codes of `voltimax cloud`: 0 the gateway answered ok, 1 it answered with an error, 2 bad options, 3 no answer. */
export const CLOUD_EXIT = { failed: 1, usage: 2, noReply: 3 } as const;

/** The outside world of `voltimax cloud`, injectable for tests. */
export interface CloudCliDeps {
  readonly env: SecretEnv;
  /** libs/cloud's createCloudClient by default. */
  readonly createClient: (settings: CloudSettings, env: SecretEnv) => CloudCommandClient | null;
  /** Epoch ms. */
  readonly now: () => number;
}

export function defaultCloudCliDeps(): CloudCliDeps {
  return { env: process.env, createClient: (settings, env) => createCloudClient(settings, env), now: Date.now };
}

/** Options shared by every `voltimax cloud` command: which gateway and which transport. */
export interface CloudTargetOptions {
  readonly gateway?: string;
  /** assets.json whose `cloud` block (and gateway id) to use. */
  readonly site?: string;
  readonly transport?: string;
  readonly brokerUrl?: string;
  readonly topicPrefix?: string;
  readonly usernameEnv?: string;
  readonly passwordEnv?: string;
  readonly connectionStringEnv?: string;
  readonly timeoutMs?: string;
  readonly json?: boolean;
}

export interface SetpointOptions extends CloudTargetOptions {
  readonly asset: string;
  readonly power: string;
  readonly duration?: string;
  readonly reason: string;
  readonly operator?: string;
}

function fail(io: CliIo, message: string, code: number = CLOUD_EXIT.usage): never {
  io.stderr(`voltimax cloud: ${message}\n`);
  throw new CliExit(code);
}

/** `900000`, `900s`, `15m`, `1h` → ms. */
export function parseDurationMs(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) return undefined;
  const factor = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[match[2] ?? 'ms'] ?? 1;
  const ms = Math.round(Number(match[1]) * factor);
  return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined;
}

/**
 * The transport and gateway for a command: flags (`--transport mqtt --broker-url …`, or `--transport servicebus
 * --connection-string-env …`) win; otherwise the `cloud` block and gateway id of `--site` (or SITE_FILE).
 */
export async function resolveTarget(
  io: CliIo,
  opts: CloudTargetOptions,
  env: SecretEnv,
): Promise<{ settings: CloudSettings; gatewayId: string }> {
  let settings: CloudSettings | undefined;
  let gatewayId = opts.gateway;
  const transport =
    opts.transport ??
    (opts.brokerUrl !== undefined ? 'mqtt' : opts.connectionStringEnv !== undefined ? 'servicebus' : undefined);
  if (transport !== undefined) {
    const candidate =
      transport === 'mqtt'
        ? {
            transport,
            brokerUrl: opts.brokerUrl,
            topicPrefix: opts.topicPrefix,
            usernameEnv: opts.usernameEnv,
            passwordEnv: opts.passwordEnv,
          }
        : { transport, connectionStringEnv: opts.connectionStringEnv };
    const parsed = CloudSettingsSchema.safeParse(JSON.parse(JSON.stringify(candidate)));
    if (!parsed.success) {
      fail(
        io,
        `invalid transport options: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'transport'}: ${i.message}`).join('; ')}`,
      );
    }
    settings = parsed.data;
  } else {
    const file = opts.site ?? (env['SITE_FILE'] || undefined);
    if (file === undefined)
      fail(io, 'no transport: give --site <assets.json> (its cloud block) or --broker-url <mqtt://…>');
    let text: string;
    try {
      text = await io.readFile(file);
    } catch (err) {
      fail(io, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      fail(io, `${file} is not valid JSON`);
    }
    const site = SiteConfigSchema.safeParse(raw);
    if (!site.success)
      fail(io, `${file} is not a valid assets.json (check it with 'voltimax config validate ${file}')`);
    settings = site.data.cloud;
    gatewayId ??= site.data.gatewayId;
  }
  if (settings.transport === 'none') fail(io, "the site's cloud transport is 'none': give --broker-url or --transport");
  if (gatewayId === undefined) fail(io, 'which gateway? give --gateway <id>');
  if (!AssetIdSchema.safeParse(gatewayId).success) fail(io, `'${gatewayId}' is not a gateway id`);
  return { settings, gatewayId };
}

function printReply(io: CliIo, reply: CloudReplyEnvelope, roundTripMs: number, sentAtMs: number): void {
  io.stdout(
    `${reply.messageType} → ${reply.gatewayId}: ${reply.ok ? 'ok' : 'FAILED'} (round trip ${roundTripMs.toFixed(1)} ms)\n`,
  );
  if (!reply.ok && reply.error !== undefined) io.stdout(`  error: ${reply.error}\n`);
  const payload = reply.payload as Record<string, unknown> | undefined;
  if (payload === undefined) return;
  switch (reply.messageType) {
    case 'PingGateway': {
      const p = cloudMessages.PingGateway.response.safeParse(payload);
      if (!p.success) break;
      io.stdout(
        `  version ${p.data.version}, up ${(p.data.uptimeMs / 1000).toFixed(0)} s; received ${p.data.receivedAtMs - sentAtMs} ms after sending (clocks may differ)\n`,
      );
      for (const s of p.data.services) {
        io.stdout(
          `  ${s.service.padEnd(22)} ${s.status.padEnd(9)} ${String(s.instances).padStart(2)} instance${s.instances === 1 ? ' ' : 's'}  last seen ${new Date(s.lastSeenAtMs).toISOString()}\n`,
        );
      }
      return;
    }
    case 'SetBatterySetpoint': {
      const p = cloudMessages.SetBatterySetpoint.response.safeParse(payload);
      if (!p.success) break;
      io.stdout(
        `  ${p.data.accepted ? 'accepted' : 'not accepted'}: ${p.data.outcome}${p.data.appliedPowerW === undefined ? '' : `, applying ${p.data.appliedPowerW} W`}\n`,
      );
      for (const v of p.data.violations) io.stdout(`  limited by ${v}\n`);
      if (p.data.error !== undefined && p.data.error !== reply.error) io.stdout(`  ${p.data.error}\n`);
      return;
    }
    case 'RefreshConfiguration': {
      const p = cloudMessages.RefreshConfiguration.response.safeParse(payload);
      if (!p.success) break;
      io.stdout(
        `  ${p.data.changed ? 'configuration changed' : 'configuration unchanged'}${p.data.hash === undefined ? '' : `, hash ${p.data.hash}`}\n`,
      );
      if (p.data.error !== undefined && p.data.error !== reply.error) io.stdout(`  ${p.data.error}\n`);
      return;
    }
  }
  io.stdout(`  ${JSON.stringify(payload)}\n`);
}

/** Sends one command as the cloud would, prints the reply and the round trip; exit code per {@link CLOUD_EXIT}. */
export async function cloudCommand(
  io: CliIo,
  messageType: CloudMessageType,
  payload: unknown,
  opts: CloudTargetOptions,
  deps: CloudCliDeps = defaultCloudCliDeps(),
): Promise<void> {
  const timeoutMs = opts.timeoutMs === undefined ? 10_000 : Number(opts.timeoutMs);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 600_000)
    fail(io, `--timeout-ms must be an integer between 100 and 600000, got '${opts.timeoutMs ?? ''}'`);
  const request = cloudMessages[messageType].request.safeParse(payload);
  if (!request.success)
    fail(
      io,
      `invalid ${messageType}: ${request.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  const { settings, gatewayId } = await resolveTarget(io, opts, deps.env);
  let client: CloudCommandClient | null;
  try {
    client = deps.createClient(settings, deps.env);
  } catch (err) {
    fail(io, err instanceof Error ? err.message : String(err));
  }
  if (client === null) fail(io, 'no cloud transport configured');
  const sentAtMs = deps.now();
  const started = performance.now();
  try {
    const reply = await client.send({ gatewayId, messageType, payload: request.data, timeoutMs });
    const roundTripMs = performance.now() - started;
    if (opts.json) io.stdout(`${JSON.stringify({ roundTripMs: Number(roundTripMs.toFixed(3)), reply })}\n`);
    else printReply(io, reply, roundTripMs, sentAtMs);
    if (!reply.ok) throw new CliExit(CLOUD_EXIT.failed);
  } catch (err) {
    if (err instanceof CliExit) throw err;
    if (err instanceof TransportError) {
      io.stderr(`voltimax cloud: ${messageType} to ${gatewayId}: ${err.message}\n`);
      throw new CliExit(err.code === 'rejected' ? CLOUD_EXIT.failed : CLOUD_EXIT.noReply);
    }
    throw err;
  } finally {
    await client.close().catch(() => undefined);
  }
}


/** Adds `cloud ping|setpoint|refresh` to the program. */
export function registerCloudCommand(program: Command, io: CliIo, deps?: CloudCliDeps): void {
  const cloud = program
    .command('cloud')
    .description(
      'act as the cloud: send a command to a gateway over its cloud transport and print the reply and the round trip',
    );
  const target = (command: Command): Command =>
    command
      .option('--gateway <id>', 'gateway id (default: gatewayId of --site)')
      .option('--site <file>', 'assets.json whose cloud block names the transport (default: SITE_FILE)')
      .option('--transport <kind>', 'mqtt or servicebus (instead of --site)')
      .option('--broker-url <url>', 'MQTT broker, mqtt(s):// or ws(s):// (implies --transport mqtt)')
      .option('--topic-prefix <prefix>', 'MQTT topic prefix', undefined)
      .option('--username-env <VAR>', 'environment variable holding the MQTT user name')
      .option('--password-env <VAR>', 'environment variable holding the MQTT password')
      .option('--connection-string-env <VAR>', 'environment variable holding the Service Bus connection string')
      .option('--timeout-ms <ms>', 'how long to wait for the reply', '10000')
      .option('--json', 'machine-readable output');

  target(cloud.command('ping').description('PingGateway: version, uptime, health of every service')).action(
    (opts: CloudTargetOptions) =>
      cloudCommand(io, 'PingGateway', { sentAtMs: (deps ?? defaultCloudCliDeps()).now() }, opts, deps),
  );

  target(
    cloud
      .command('setpoint')
      .description(
        'SetBatterySetpoint: a manual battery setpoint (W, + = discharge) for a while; prints the arbiter’s outcome',
      ),
  )
    .requiredOption('--asset <id>', 'battery asset id')
    .requiredOption('--power <W>', 'battery power, W: + = discharge, − = charge')
    .option('--duration <time>', 'how long it holds: ms, or 90s, 15m, 1h', '15m')
    .requiredOption('--reason <text>', 'why (kept in the audit)')
    .option('--operator <who>', 'who (default: cli:<login name>)')
    .action((opts: SetpointOptions) => {
      const durationMs = parseDurationMs(opts.duration ?? '15m');
      if (durationMs === undefined)
        fail(io, `--duration must be like 900000, 90s, 15m or 1h, got '${opts.duration ?? ''}'`);
      const powerW = Number(opts.power);
      if (opts.power.trim() === '' || !Number.isFinite(powerW))
        fail(io, `--power must be a number of watts, got '${opts.power}'`);
      return cloudCommand(
        io,
        'SetBatterySetpoint',
        { assetId: opts.asset, powerW, durationMs, reason: opts.reason, operator: opts.operator ?? cliUser() },
        opts,
        deps,
      );
    });

  target(
    cloud
      .command('refresh')
      .description(
        'RefreshConfiguration: the gateway fetches its configuration now; prints the new hash or the validation errors',
      ),
  )
    .option('--reason <text>', 'why', 'cli request')
    .action((opts: CloudTargetOptions & { reason?: string }) =>
      cloudCommand(io, 'RefreshConfiguration', { reason: opts.reason ?? 'cli request' }, opts, deps),
    );
}
