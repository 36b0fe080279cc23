import { randomUUID } from 'node:crypto';
import { BusReplyRejectedError, BusRequestFailedError, type Bus } from '@voltimax/bus';
import {
  cloudMessages,
  intentParams,
  subjects,
  type ArbiterDecision,
  type CloudMessageType,
  type ControlIntent,
  type SiteConfig,
  type Violation,
} from '@voltimax/contracts';
import type { CommandHandler, CommandResult, ReceivedCommand } from '@voltimax/cloud';
import { DEFAULT_ARBITER_OPTIONS } from '@voltimax/safety';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { BridgeHealth } from './bridge-health';
import type { ConfigSync } from './config-sync';
import type { ServiceHealthTracker } from './service-health';

type Response<T extends CloudMessageType> = z.input<(typeof cloudMessages)[T]['response']>;

export interface CommandDeps {
  readonly bus: Bus;
  readonly log: Logger;
  readonly health: BridgeHealth;
  readonly config: Pick<ConfigSync, 'current' | 'refresh'>;
  readonly services: ServiceHealthTracker;
  readonly gatewayId: string;
  readonly version: string;
  readonly startedAtMs: number;
  readonly now: () => number;
  /** How long to wait for the safety-arbiter's decision on a manual intent, ms. */
  readonly intentTimeoutMs: number;
  /**
   * How far a command's `sentAtMs` may lie ahead of our clock, ms: further ahead is refused as future-dated. The
   * safety-arbiter's allowance for intents (MAX_CLOCK_SKEW_MS; default the arbiter's, 2 000).
   */
  readonly maxClockSkewMs?: number;
  readonly newId?: () => string;
}

/** One line per violation: `max-discharge-power: limit 5000 W, requested 8000 W (detail)`. */
export function describeViolation(v: Violation): string {
  const unit = v.unit === undefined ? '' : ` ${v.unit}`;
  const parts = [
    ...(v.limit === undefined ? [] : [`limit ${v.limit}${unit}`]),
    ...(v.value === undefined ? [] : [`requested ${v.value}${unit}`]),
  ];
  const text = `${v.code}${parts.length > 0 ? `: ${parts.join(', ')}` : ''}${v.detail === undefined ? '' : ` (${v.detail})`}`;
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

/** The SetBatterySetpoint reply for the arbiter's decision on our manual intent. */
export function setpointResponse(decision: ArbiterDecision): Response<'SetBatterySetpoint'> {
  const appliedPowerW =
    decision.applied?.kind === 'battery-power'
      ? decision.applied.powerW
      : decision.applied?.kind === 'safe'
        ? 0
        : undefined;
  const violations = decision.violations.map(describeViolation);
  const accepted = decision.outcome === 'applied' || decision.outcome === 'clamped';
  const reason = decision.reason ?? (violations.length > 0 ? violations.join('; ') : undefined);
  return {
    accepted,
    outcome: decision.outcome,
    violations,
    ...(appliedPowerW === undefined ? {} : { appliedPowerW }),
    ...(!accepted && reason !== undefined ? { error: reason.slice(0, 500) } : {}),
  };
}

function batteryIds(site: SiteConfig): Set<string> {
  return new Set(
    site.assets
      .filter((a) => a.enabled && (a.kind === 'battery' || (a.kind === 'hybrid-inverter' && a.battery !== undefined)))
      .map((a) => a.id),
  );
}

/**
 * The cloud commands: PingGateway, SetBatterySetpoint (a manual intent, as a request on
 * `control.intent.manual.<asset>`, dated by the command's `sentAtMs`, refused when its whole duration lies in the past
 * or it is dated further ahead than the clock-skew allowance; the reply carries the arbiter's outcome),
 * RefreshConfiguration. Every payload is
 * checked against its request schema again here (whatever the transport did), and every reply against its response
 * schema. Counters: commands<Type>, commandsFailed.
 */
export function createCommandHandler(deps: CommandDeps): CommandHandler {
  const { bus, log, health } = deps;
  const newId = deps.newId ?? (() => `cloud-${randomUUID()}`);
  const maxClockSkewMs = deps.maxClockSkewMs ?? DEFAULT_ARBITER_OPTIONS.maxClockSkewMs;

  function reply<T extends CloudMessageType>(type: T, payload: Response<T>, ok = true, error?: string): CommandResult {
    const parsed = cloudMessages[type].response.safeParse(payload);
    if (!parsed.success) {
      log.error({ messageType: type, issues: parsed.error.issues.slice(0, 10) }, 'built an invalid reply');
      health.count('commandsFailed');
      return { ok: false, error: `gateway built an invalid ${type} reply` };
    }
    if (!ok) health.count('commandsFailed');
    return ok
      ? { ok: true, payload: parsed.data }
      : { ok: false, error: error ?? 'command failed', payload: parsed.data };
  }

  /** Why a setpoint sent at `sentAtMs` for `durationMs` is refused at `nowMs`, or undefined when it may run. */
  function lateOrEarly(
    sentAtMs: number,
    durationMs: number,
    nowMs: number,
  ): { readonly reason: 'expired' | 'future-dated'; readonly error: string } | undefined {
    if (sentAtMs > nowMs + maxClockSkewMs) {
      return {
        reason: 'future-dated',
        error:
          `command sent ${sentAtMs - nowMs} ms in the future of the gateway clock ` +
          `(allowance ${maxClockSkewMs} ms): check the clocks`,
      };
    }
    const endMs = sentAtMs + durationMs;
    if (endMs <= nowMs) {
      return {
        reason: 'expired',
        error:
          `command sent at ${new Date(sentAtMs).toISOString()} for ${durationMs} ms arrived ` +
          `${nowMs - endMs} ms after its end: not applied`,
      };
    }
    return undefined;
  }

  async function setpoint(
    command: ReceivedCommand,
    request: z.output<(typeof cloudMessages)['SetBatterySetpoint']['request']>,
  ): Promise<CommandResult> {
    const site = deps.config.current().site;
    if (!batteryIds(site).has(request.assetId)) {
      const error = `'${request.assetId}' is not an enabled battery of this site`;
      log.warn(
        {
          correlationId: command.envelope.correlationId,
          assetId: request.assetId,
          powerW: request.powerW,
          operator: request.operator,
          error,
        },
        'manual setpoint refused: not a battery',
      );
      health.count('setpoint_invalid');
      return reply('SetBatterySetpoint', { accepted: false, outcome: 'invalid', violations: [], error }, false, error);
    }
    const nowMs = deps.now();
    const sentAtMs = command.envelope.sentAtMs;
    const late = lateOrEarly(sentAtMs, request.durationMs, nowMs);
    if (late !== undefined) {
      log.warn(
        {
          correlationId: command.envelope.correlationId,
          assetId: request.assetId,
          powerW: request.powerW,
          durationMs: request.durationMs,
          operator: request.operator,
          sentAtMs,
          receivedAtMs: command.receivedAtMs,
          nowMs,
          reason: late.reason,
          error: late.error,
        },
        'manual setpoint refused: out of its time',
      );
      health.count('setpoint_rejected');
      health.count(late.reason === 'expired' ? 'setpointsExpired' : 'setpointsFutureDated');
      return reply(
        'SetBatterySetpoint',
        { accepted: false, outcome: 'rejected', violations: [], error: late.error },
        false,
        late.error,
      );
    }
    const intent: ControlIntent = {
      v: 1,
      id: newId(),
      source: 'manual',
      assetId: request.assetId,
      setpoint: { kind: 'battery-power', powerW: request.powerW },
      // The cloud's send time, so a late delivery ends when the cloud meant it to (sentAtMs + durationMs) and the
      // arbiter orders commands by when they were sent, not when they arrived. A send time ahead of our clock
      // (within the allowance) counts from now: the arbiter never sees it future-dated, and it never runs longer.
      issuedAtMs: Math.min(sentAtMs, nowMs),
      ttlMs: request.durationMs,
      reason: request.reason,
      issuedBy: `cloud:${request.operator}`.slice(0, 128),
    };
    const meta = {
      correlationId: command.envelope.correlationId,
      intentId: intent.id,
      assetId: intent.assetId,
      powerW: request.powerW,
      durationMs: request.durationMs,
      operator: request.operator,
    };
    try {
      const decision = await bus.request(subjects.intent, intentParams(intent), intent, {
        timeoutMs: deps.intentTimeoutMs,
      });
      const response = setpointResponse(decision);
      log.info(
        { ...meta, outcome: decision.outcome, appliedPowerW: response.appliedPowerW, violations: response.violations },
        'manual setpoint decided',
      );
      health.count(`setpoint_${decision.outcome}`);
      return reply('SetBatterySetpoint', response);
    } catch (err) {
      if (err instanceof BusRequestFailedError) {
        const error =
          err.reason === 'no-responders'
            ? 'no safety-arbiter answers manual intents (is it running?)'
            : `no decision from the safety-arbiter within ${deps.intentTimeoutMs} ms`;
        log.warn({ ...meta, err }, 'manual setpoint: no decision');
        health.count('setpoint_timeout');
        return reply(
          'SetBatterySetpoint',
          { accepted: false, outcome: 'timeout', violations: [], error },
          false,
          error,
        );
      }
      if (err instanceof BusReplyRejectedError) {
        const error = `the safety-arbiter refused the intent: ${err.reason}`.slice(0, 500);
        log.warn({ ...meta, err }, 'manual setpoint refused');
        health.count('setpoint_invalid');
        return reply(
          'SetBatterySetpoint',
          { accepted: false, outcome: 'invalid', violations: [], error },
          false,
          error,
        );
      }
      throw err;
    }
  }

  return async (command) => {
    const { envelope } = command;
    health.count(`commands${envelope.messageType}`);
    const schema = cloudMessages[envelope.messageType].request;
    const parsed = schema.safeParse(envelope.payload);
    if (!parsed.success) {
      health.count('commandsInvalid');
      const error = `invalid ${envelope.messageType} payload: ${parsed.error.issues
        .slice(0, 5)
        .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
        .join('; ')}`;
      log.warn(
        { correlationId: envelope.correlationId, messageType: envelope.messageType, error },
        'invalid cloud command',
      );
      return { ok: false, error };
    }
    switch (envelope.messageType) {
      case 'PingGateway': {
        const request = cloudMessages.PingGateway.request.parse(parsed.data);
        return reply('PingGateway', {
          gatewayId: deps.gatewayId,
          version: deps.version,
          uptimeMs: Math.max(0, deps.now() - deps.startedAtMs),
          receivedAtMs: command.receivedAtMs,
          requestSentAtMs: request.sentAtMs,
          services: deps.services.snapshot(),
        });
      }
      case 'SetBatterySetpoint':
        return setpoint(command, cloudMessages.SetBatterySetpoint.request.parse(parsed.data));
      case 'RefreshConfiguration': {
        const request = cloudMessages.RefreshConfiguration.request.parse(parsed.data);
        const result = await deps.config.refresh(`cloud: ${request.reason}`);
        const payload = {
          changed: result.changed,
          hash: result.hash,
          ...(result.error === undefined ? {} : { error: result.error.slice(0, 500) }),
        };
        return reply('RefreshConfiguration', payload, result.error === undefined, result.error);
      }
    }
  };
}
