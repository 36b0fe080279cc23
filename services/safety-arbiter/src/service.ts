import { StreamNotProvisionedError } from '@voltimax/bus';
import { jetstream } from '@nats-io/jetstream';
import { EmergencyStopSchema, streams, subjects, type EmergencyStop } from '@voltimax/contracts';
import { applyEstop, ESTOP_RELEASED, RULE_ORDER } from '@voltimax/safety';
import { defineService, restartOnSiteChange } from '@voltimax/service-kit';
import { startArbiter, REAL_SCHEDULER, type Scheduler } from './arbiter';
import { ensureAuditStream } from './audit';
import { readEstopHistory } from './estop-store';
import { problemHealth } from './health-problems';
import { arbiterEnvSchema, ruleOptions, type ReadTextFile } from './config';
import { planSite } from './site';

/** `health.safety-arbiter`, and the NATS user of docker/nats/nats.conf. */
export const SERVICE_NAME = 'safety-arbiter';
export const SERVICE_VERSION = '0.1.0';

/** Injectable for tests: file reads and timers. */
export interface SafetyArbiterOverrides {
  readonly readTextFile?: ReadTextFile;
  readonly scheduler?: Scheduler;
}

/**
 * The safety-arbiter service: reads assets.json, ensures stream AUDIT, logs the rule order and the limits it
 * enforces, then runs the arbiter (start-up safe writes first).
 */
export function safetyArbiterService(overrides: SafetyArbiterOverrides = {}) {
  return defineService({
    name: SERVICE_NAME,
    version: SERVICE_VERSION,
    env: arbiterEnvSchema(overrides.readTextFile),
    async start({ env, log, bus, connection, health, now, restart, reloadEnv }) {
      const plan = planSite(env.site, env.BATTERY_MODELS, {
        staleAfterPollIntervals: env.STALE_AFTER_POLL_INTERVALS,
        maxTelemetryAgeMs: env.MAX_TELEMETRY_AGE_MS,
      });
      const rules = ruleOptions(env);
      log.info(
        {
          rules: RULE_ORDER.map((rule, index) => `${index + 1}. ${rule.name} (${rule.codes.join(', ')})`),
        },
        'rule order',
      );
      log.info(
        {
          siteFile: env.SITE_FILE,
          gatewayId: env.site.gatewayId,
          grid: plan.grid,
          gridMeter: plan.gridMeter,
          controllable: plan.controllable.map((a) => ({
            assetId: a.id,
            kind: a.kind,
            accepts: a.accepts,
            catalogue: a.catalogueEntries,
            limits: a.limits,
            pollIntervalMs: a.pollIntervalMs,
          })),
          ruleOptions: rules,
          staleAfterPollIntervals: env.STALE_AFTER_POLL_INTERVALS,
          frozenMeterAfterPollIntervals: env.FROZEN_METER_AFTER_POLL_INTERVALS,
          tickMs: env.TICK_MS,
          setpointValidityMs: env.SETPOINT_VALIDITY_MS,
          reassertMarginMs: env.REASSERT_MARGIN_MS,
          write: {
            timeoutMs: env.WRITE_TIMEOUT_MS,
            attempts: env.WRITE_ATTEMPTS,
            retryDelayMs: env.WRITE_RETRY_DELAY_MS,
            minIntervalMs: env.MIN_WRITE_INTERVAL_MS,
          },
          audit: { maxAgeMs: env.AUDIT_MAX_AGE_MS, maxBytes: env.AUDIT_MAX_BYTES },
          driverServices: [...env.DRIVER_SERVICES],
        },
        'site and limits',
      );
      for (const warning of plan.warnings) log.warn({ warning }, 'site configuration warning');

      const problems = problemHealth(health);
      const auditLog = log.child({ component: 'audit' });
      const scheduler = overrides.scheduler ?? REAL_SCHEDULER;
      let cancelAuditRetry: (() => void) | undefined;
      const ensureAudit = async (): Promise<void> => {
        try {
          const action = await ensureAuditStream(
            connection.nc,
            { maxAgeMs: env.AUDIT_MAX_AGE_MS, maxBytes: env.AUDIT_MAX_BYTES },
            auditLog,
          );
          auditLog.info({ action }, 'stream AUDIT ready');
          problems.setProblem('audit', undefined);
        } catch (err) {
          // Decisions are still published on the bus; only their retention is missing. Keep trying: soon while the
          // provisioner (`voltimax bus init`, which compose does not make the arbiter wait for) has not made it yet.
          const retryMs = err instanceof StreamNotProvisionedError ? 2_000 : 30_000;
          auditLog.error({ err, retryMs }, `stream AUDIT not available; retrying in ${retryMs / 1_000} s`);
          problems.setProblem('audit', 'stream AUDIT not available');
          cancelAuditRetry = scheduler.after(retryMs, () => void ensureAudit());
        }
      };
      await ensureAudit();

      const arbiter = startArbiter({
        bus,
        log: log.child({ component: 'arbiter' }),
        health: problems,
        plan,
        settings: {
          tickMs: env.TICK_MS,
          rules,
          staleAfterPollIntervals: env.STALE_AFTER_POLL_INTERVALS,
          frozenMeterAfterPollIntervals: env.FROZEN_METER_AFTER_POLL_INTERVALS,
          setpointValidityMs: env.SETPOINT_VALIDITY_MS,
          reassertMarginMs: env.REASSERT_MARGIN_MS,
          writeTimeoutMs: env.WRITE_TIMEOUT_MS,
          writeAttempts: env.WRITE_ATTEMPTS,
          writeRetryDelayMs: env.WRITE_RETRY_DELAY_MS,
          minWriteIntervalMs: env.MIN_WRITE_INTERVAL_MS,
          driverServices: env.DRIVER_SERVICES,
        },
        now,
        scheduler,
        serviceName: SERVICE_NAME,
        restoreEstop: true,
      });

      // The e-stop latch outlives a restart: replay every e-stop kept in stream ESTOP. Until that has been read, every
      // asset stays safe. Without the stream (not provisioned) there is nothing to restore: the arbiter runs, says so
      // in its health, and looks again every 2 s so that it restores what the stream holds once it exists.
      const estopLog = log.child({ component: 'estop' });
      let cancelEstopRetry: (() => void) | undefined;
      let stopping = false;
      let unavailableBefore: string | undefined;
      const retryEstop = (): void => {
        if (!stopping) cancelEstopRetry = scheduler.after(2_000, () => void restoreEstop());
      };
      // An engage that came while the stream could not keep it (not provisioned yet) is in the latch but not in the
      // stream: a restart would come back released. Once the stream is there, the arbiter records the engage it holds
      // (same author, reason and time, so a later release still releases it), as a JetStream publish that expects the
      // stream's last sequence as read: anything stored since (a release) makes the server refuse it, and the next
      // look decides again. The echo of the publish is not applied (`expectEstopEcho`). Until the stream has
      // acknowledged it, a restart waits (holdRestart below) and the look is repeated every 2 s.
      let unkept: string | undefined;
      const recordUnkeptEngage = async (history: {
        events: readonly EmergencyStop[];
        truncated: boolean;
        lastSeq: number;
      }): Promise<boolean> => {
        const live = arbiter.estop();
        if (
          stopping ||
          !live.engaged ||
          history.truncated ||
          history.events.reduce(applyEstop, ESTOP_RELEASED).engaged
        ) {
          unkept = undefined;
          return true;
        }
        const note = ' (recorded by the safety-arbiter: it came while stream ESTOP could not keep it)';
        const reason = live.engagedReason ?? 'engaged';
        const engage = EmergencyStopSchema.parse({
          v: 1,
          action: 'engage',
          by: live.engagedBy ?? 'unknown',
          // the note always ends it, so the record never equals an operator's own message
          reason: reason.slice(0, 500 - note.length) + note,
          atMs: live.engagedAtMs ?? now(),
        });
        arbiter.expectEstopEcho(engage);
        // held from now, not from a failure: a site-change restart during the publish would come back released
        unkept = 'the engaged e-stop is being recorded in stream ESTOP';
        try {
          await jetstream(connection.nc).publish(subjects.estop.pattern, JSON.stringify(engage), {
            expect: { lastSequence: history.lastSeq, streamName: streams.estop.name },
            timeout: 5_000,
          });
        } catch (err) {
          unkept = `the engaged e-stop is not yet recorded in stream ESTOP (${err instanceof Error ? err.message : String(err)})`;
          estopLog.error({ err }, 'could not record the engaged e-stop in stream ESTOP; looking again in 2 s');
          return false;
        }
        unkept = undefined;
        estopLog.warn({ by: engage.by, atMs: engage.atMs }, 'engaged e-stop recorded in stream ESTOP');
        return true;
      };
      const restoreEstop = async (): Promise<void> => {
        try {
          const history = await readEstopHistory(connection.nc);
          if (stopping) return;
          if (history.kind === 'unavailable') {
            // Said (and handed to the arbiter, which then controls) once per reason, not on every look.
            if (history.reason !== unavailableBefore) {
              estopLog.error({ reason: history.reason }, 'e-stop latch cannot be restored or kept across a restart');
              arbiter.restoreEstop([], { unavailable: history.reason });
            }
            unavailableBefore = history.reason;
            retryEstop();
            return;
          }
          if (history.invalid > 0)
            estopLog.warn({ invalid: history.invalid }, 'malformed messages in stream ESTOP ignored');
          if (history.truncated) estopLog.warn('older e-stops were dropped from stream ESTOP: starting from engaged');
          if (unavailableBefore !== undefined) estopLog.info('stream ESTOP is there now: the e-stop latch is kept');
          unavailableBefore = undefined;
          arbiter.restoreEstop(history.events, { truncated: history.truncated });
          if (!(await recordUnkeptEngage(history))) retryEstop();
        } catch (err) {
          if (stopping) return;
          estopLog.error({ err }, 'could not read stream ESTOP; every asset stays safe; retrying in 2 s');
          retryEstop();
        }
      };
      await restoreEstop();

      // The arbiter reads the site (grid limits, assets and their limits) only at start. A change to it (the cloud
      // bridge writes the file, then announces `config.updated`) restarts the arbiter, which hands every asset its
      // safe set-point on the way out and starts again with the new limits: a tightened limit holds within seconds,
      // not at the next reboot. A file it would refuse keeps the running limits and says so in the health.
      // While an e-stop is engaged and stream ESTOP cannot keep it, a restart would come back released: it waits.
      const stopWatch = restartOnSiteChange(
        { bus, log, env, connection, restart, reloadEnv },
        (e) => ({ grid: e.site.grid, assets: e.site.assets }),
        {
          onPending: (problem) =>
            problems.setProblem('config', problem === undefined ? undefined : `${env.SITE_FILE}: ${problem}`),
          holdRestart: () =>
            arbiter.estop().engaged && (unavailableBefore !== undefined || unkept !== undefined)
              ? `an engaged e-stop cannot be kept across a restart (${unavailableBefore ?? unkept})`
              : undefined,
        },
      );
      return {
        async stop() {
          stopping = true;
          stopWatch();
          cancelAuditRetry?.();
          cancelEstopRetry?.();
          await arbiter.stop();
        },
      };
    },
  });
}
