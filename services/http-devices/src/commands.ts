import type { BusTransport } from '@voltimax/bus';
import type { Setpoint, ValueBounds, WriteResult } from '@voltimax/contracts';
import {
  checkHttpReadBack,
  confirmsCommand,
  decodeJsonFields,
  encodeHttpWrite,
  encodeMqttCommand,
  httpAuthHeaders,
  httpUrl,
  parseJsonDocument,
  describeJsonIssues,
  type HttpProfile,
  type HttpWritePlan,
  type MqttCommand,
  type MqttProfile,
} from '@voltimax/devices';
import { startWritePath, type WritePath } from '@voltimax/driver-sdk/plumbing';
import type { Logger } from 'pino';
import type { AssetDriver, OwnedAsset } from './assets';
import type { Health } from './counters';
import { HttpDeviceError, type HttpDeviceClient } from './http-client';
import type { MqttListener } from './mqtt-listener';

/** Dependencies of the write path. */
export interface CommandsOptions {
  /** The raw NATS transport: writes for assets this service does not own are skipped before anything else. */
  readonly transport: BusTransport;
  readonly log: Logger;
  readonly health: Health;
  readonly assets: readonly OwnedAsset[];
  /** The HTTP client for writes of an asset (requests through `once`: one attempt, the arbiter waits). */
  readonly httpClientFor: (asset: OwnedAsset) => HttpDeviceClient;
  readonly mqtt: Pick<MqttListener, 'latest' | 'waitFor' | 'publish' | 'requestStatus'> | undefined;
  /** How long an MQTT command waits for the device's status to confirm it, ms. */
  readonly mqttConfirmTimeoutMs: number;
  /** Epoch ms. */
  readonly now: () => number;
}

/** The running write path. */
export interface Commands {
  /** Unsubscribe, cancel watchdogs, wait for writes in flight. */
  stop(): Promise<void>;
}

type Status = WriteResult['status'];
type Outcome = Omit<WriteResult, 'v' | 'commandId' | 'assetId' | 'atMs'>;

/** HTTP/MQTT write counters besides the write path's own (all start at 0). */
const DEVICE_WRITE_COUNTERS = ['writes', 'skippedWrites'] as const;

const short = (text: string): string => (text.length > 500 ? `${text.slice(0, 497)}...` : text);

function httpFailure(err: unknown, what: string): Outcome {
  if (err instanceof HttpDeviceError) {
    // The device refused the request itself (4xx): the write is rejected; everything else failed or timed out.
    const status: Status =
      err.kind === 'timeout' ? 'timeout' : err.kind === 'status' && (err.status ?? 0) < 500 ? 'rejected' : 'failed';
    return { status, error: short(`${what}: ${err.message}`) };
  }
  return { status: 'failed', error: short(`${what}: ${err instanceof Error ? err.message : String(err)}`) };
}

/**
 * Answers `device.<assetId>.write` for the HTTP and MQTT assets (request/reply → WriteResult).
 *
 * HTTP: encode with the profile; read the target first and skip a value the device already holds (`unchanged`);
 * send the request (one attempt); read back: `applied` when the device stores what was sent (the value it really
 * applies after its own limiters is named in `error` when lower), `mismatch` when not, `rejected` on HTTP 4xx,
 * `timeout`/`failed` otherwise.
 *
 * MQTT: encode the command; skip it when the device's latest status already shows the target (`unchanged`);
 * publish it and wait for a status message that confirms it: `applied`, else `mismatch` (the device answered
 * something else) or `timeout` (it said nothing).
 *
 * Both: a write whose `expiresAtMs` passes without a newer one gets the profile's safe set-point, retried every
 * poll interval until it takes.
 */
export function startCommands(opts: CommandsOptions): Commands {
  const { health } = opts;
  for (const name of DEVICE_WRITE_COUNTERS) health.setCounter(name, 0);

  // --- HTTP ---------------------------------------------------------------------------------------------------

  async function readBackOf(
    asset: OwnedAsset,
    profile: HttpProfile,
    baseUrl: string,
    token: string | undefined,
    plan: HttpWritePlan,
  ) {
    const read = profile.reads.find((r) => r.name === plan.write.readBack.read);
    if (read === undefined) throw new Error(`read '${plan.write.readBack.read}' missing`); // the schema forbids it
    const client = opts.httpClientFor(asset);
    const response = await client.once({
      method: read.method,
      url: httpUrl(baseUrl, profile, read.path),
      headers: httpAuthHeaders(profile, token),
    });
    const document = parseJsonDocument(response.text);
    if (!document.ok) throw new HttpDeviceError('body', `read-back ${read.name}: body ${document.error}`);
    return checkHttpReadBack(plan, decodeJsonFields(read.fields, document.value));
  }

  async function applyHttp(
    asset: OwnedAsset,
    driver: Extract<AssetDriver, { kind: 'http' }>,
    setpoint: Setpoint,
    bounds: ValueBounds | undefined,
    expiresAtMs: number | undefined,
    signal: AbortSignal,
  ): Promise<Outcome> {
    const { profile, baseUrl, token } = driver;
    const encoded = encodeHttpWrite(profile, setpoint, bounds);
    if (encoded.kind === 'rejected') return { status: 'rejected', error: `${encoded.reason}: ${encoded.detail}` };
    const client = opts.httpClientFor(asset);
    let wrote = false;
    let last: Outcome = { status: 'unchanged' };
    const notes: string[] = [];
    for (const plan of encoded.requests) {
      let before;
      try {
        before = await readBackOf(asset, profile, baseUrl, token, plan);
      } catch (err) {
        return httpFailure(err, 'read before write');
      }
      if (before.kind === 'equal') {
        // Already there: no request (the device keeps it; devices often store it in flash).
        health.incrementCounter('skippedWrites');
      } else {
        // The read before took its time: a write that expired meanwhile (or the service stopping) sends nothing.
        if (signal.aborted) return { status: 'failed', error: short(`aborted: ${String(signal.reason)}`) };
        if (expiresAtMs !== undefined && opts.now() >= expiresAtMs) {
          return {
            status: 'rejected',
            error: `expired at ${expiresAtMs} before it could be applied (${plan.method} ${plan.path} not sent)`,
          };
        }
        try {
          await client.once({
            method: plan.method,
            url: httpUrl(baseUrl, profile, plan.path),
            headers: httpAuthHeaders(profile, token),
            body: JSON.stringify(plan.body),
          });
        } catch (err) {
          return httpFailure(err, `${plan.method} ${plan.path}`);
        }
        wrote = true;
        health.incrementCounter('writes');
      }
      let after;
      try {
        after = before.kind === 'equal' ? before : await readBackOf(asset, profile, baseUrl, token, plan);
      } catch (err) {
        return httpFailure(err, 'read-back');
      }
      if (after.kind === 'unreadable') return { status: 'failed', error: short(`read-back: ${after.detail}`) };
      if (after.kind === 'different') {
        return {
          status: 'mismatch',
          readBack: after.readBack,
          error: short(`sent ${JSON.stringify(plan.body)}, the device reports ${(after.differences ?? []).join(', ')}`),
        };
      }
      if (plan.clamped !== undefined) notes.push(`clamped ${plan.clamped.requested} → ${plan.clamped.applied}`);
      if (after.effective !== undefined && Math.abs(after.effective - after.readBack) > 1e-9) {
        notes.push(
          `the device applies ${after.effective}${after.effectiveSource === undefined ? '' : ` (limited by '${after.effectiveSource}')`}`,
        );
      }
      last = { status: 'unchanged', readBack: after.readBack };
    }
    return {
      ...last,
      status: wrote ? 'applied' : 'unchanged',
      ...(notes.length === 0 ? {} : { error: short(notes.join('; ')) }),
    };
  }

  // --- MQTT ---------------------------------------------------------------------------------------------------

  /** `expiresAtMs`: the write's, when it has one (a command must not be sent, or stay queued, past it). */
  async function applyCommand(
    asset: OwnedAsset,
    command: MqttCommand,
    expiresAtMs: number | undefined,
  ): Promise<Outcome> {
    const mqtt = opts.mqtt;
    if (mqtt === undefined) return { status: 'failed', error: 'no MQTT broker connected' };
    // Only a fresh status on the current connection proves the device is there already (see MqttListener.latest).
    const latest = mqtt.latest(asset.id, command.expect.topicName);
    if (latest?.kind === 'reading' && confirmsCommand(command.expect, latest.reading)) {
      health.incrementCounter('skippedWrites');
      return { status: 'unchanged', ...(command.value === undefined ? {} : { readBack: command.value }) };
    }
    const leftMs = expiresAtMs === undefined ? Number.POSITIVE_INFINITY : expiresAtMs - opts.now();
    if (leftMs <= 0) return { status: 'rejected', error: `expired at ${expiresAtMs} before it could be applied` };
    const waiting = mqtt.waitFor(
      asset.id,
      command.expect.topicName,
      (r) => confirmsCommand(command.expect, r),
      opts.mqttConfirmTimeoutMs,
    );
    try {
      await mqtt.publish(asset.id, command.topic, command.payload, {
        qos: command.qos,
        retain: command.retain,
        timeoutMs: Math.min(opts.mqttConfirmTimeoutMs, leftMs),
      });
    } catch (err) {
      return {
        status: 'failed',
        error: short(`publish ${command.topic}: ${err instanceof Error ? err.message : String(err)}`),
      };
    }
    health.incrementCounter('writes');
    mqtt.requestStatus(asset.id);
    const outcome = await waiting;
    if (outcome.kind === 'confirmed') {
      const value = outcome.reading.values[command.expect.key];
      return {
        status: 'applied',
        ...(command.value !== undefined && typeof value === 'number' ? { readBack: value } : {}),
      };
    }
    const last = outcome.last;
    if (last === undefined) {
      return {
        status: 'timeout',
        error: `no status on '${command.expect.topicName}' within ${opts.mqttConfirmTimeoutMs} ms after ${command.topic} ← ${command.payload}`,
      };
    }
    const seen =
      last.kind === 'garbage'
        ? last.error
        : `${command.expect.key}=${String(last.reading.values[command.expect.key] ?? describeJsonIssues(last.reading.issues) ?? 'absent')}`;
    return {
      status: 'mismatch',
      error: short(
        `sent ${command.payload} to ${command.topic}; the device reports ${seen}, expected ${command.expect.value}`,
      ),
    };
  }

  async function applyMqtt(
    asset: OwnedAsset,
    driver: Extract<AssetDriver, { kind: 'mqtt' }>,
    setpoint: Setpoint,
    bounds: ValueBounds | undefined,
    expiresAtMs: number | undefined,
  ): Promise<Outcome> {
    const profile: MqttProfile = driver.profile;
    const encoded = encodeMqttCommand(profile, setpoint, driver.prefix, bounds);
    if (encoded.kind === 'rejected') return { status: 'rejected', error: `${encoded.reason}: ${encoded.detail}` };
    let result: Outcome = { status: 'unchanged' };
    let wrote = false;
    for (const command of encoded.commands) {
      const outcome = await applyCommand(asset, command, expiresAtMs);
      if (outcome.status !== 'applied' && outcome.status !== 'unchanged') return outcome;
      wrote ||= outcome.status === 'applied';
      result = outcome;
    }
    const clamped = encoded.commands.find((c) => c.clamped !== undefined)?.clamped;
    return {
      ...result,
      status: wrote ? 'applied' : 'unchanged',
      ...(clamped === undefined ? {} : { error: `clamped ${clamped.requested} → ${clamped.applied}` }),
    };
  }

  // --- common -------------------------------------------------------------------------------------------------

  /**
   * `bounds`: the arbiter's interval for the value (DeviceWrite.bounds): an integer device value is taken inside it.
   * `expiresAtMs`: the write's validity (none for the watchdog's safe set-point); `signal`: aborted on stop().
   */
  function apply(
    asset: OwnedAsset,
    setpoint: Setpoint,
    bounds: ValueBounds | undefined,
    expiresAtMs: number | undefined,
    signal: AbortSignal,
  ): Promise<Outcome> {
    const { driver } = asset;
    switch (driver.kind) {
      case 'http':
        return applyHttp(asset, driver, setpoint, bounds, expiresAtMs, signal);
      case 'mqtt':
        return applyMqtt(asset, driver, setpoint, bounds, expiresAtMs);
      case 'unusable':
        return Promise.resolve({ status: 'rejected', error: driver.reason });
    }
  }

  const path: WritePath = startWritePath<OwnedAsset, Outcome>({
    transport: opts.transport,
    log: opts.log,
    health,
    assets: opts.assets,
    now: opts.now,
    refuse: ({ driver }) => {
      if (driver.kind === 'unusable') return driver.reason;
      return driver.profile.writes.length > 0 ? undefined : `profile '${driver.profile.id}' has no writes`;
    },
    apply: (asset, setpoint, signal, context) =>
      context.origin === 'write'
        ? apply(asset, setpoint, context.write.bounds, context.write.expiresAtMs, signal)
        : apply(asset, setpoint, undefined, undefined, signal),
  });

  return { stop: () => path.stop() };
}
