import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { BusReplyRejectedError, BusRequestFailedError } from '@voltimax/bus';
import { intentParams, subjects } from '@voltimax/contracts';
import { defineService, parsePasswordHash, verifyPassword } from '@voltimax/service-kit';
import { describeSetpoint, estopMessage, manualIntent } from './actions';
import { LoginLimiter, SessionStore } from './auth';
import { dashboardEnvSchema, isCookieSecure, type DashboardEnv } from './config';
import { HistoryBuckets } from './history';
import { backfillFromStream } from './history-stream';
import { assetsOfSite } from './power-flow';
import { REAL_EVERY, startServer, type Every, type PasswordCheck } from './server';
import { readKvSite } from './site-kv';
import { DEFAULT_VIEW_OPTIONS, initialState, reduce, snapshot, type DashboardEvent, type ViewOptions } from './state';
import { ensureUiBuilt, loadUiFiles } from './ui-files';
import type { ActionRecord, HistorySeries } from './view';
import type { ReadTextFile } from '@voltimax/service-kit';

/** `health.dashboard`, and the NATS user of docker/nats/nats.conf. */
export const SERVICE_NAME = 'dashboard';
export const SERVICE_VERSION = '0.1.0';

/** The chart reaches this far back, ms. */
export const HISTORY_WINDOW_MS = 24 * 3_600_000;
/** After a failed read of stream TELEMETRY, try again this much later, ms. */
const BACKFILL_RETRY_MS = 60_000;
/** Housekeeping (sessions, password file, counters), ms. */
const HOUSEKEEPING_MS = 10_000;

/** Injectable for tests: file reads and timers. */
export interface DashboardOverrides {
  readonly readTextFile?: ReadTextFile;
  readonly every?: Every;
}

function describeRequestError(err: unknown): string {
  if (err instanceof BusRequestFailedError) {
    return err.reason === 'no-responders'
      ? 'no safety-arbiter is listening: the intent was not taken'
      : err.reason === 'timeout'
        ? `the safety-arbiter did not answer within ${err.timeoutMs} ms`
        : `the request failed: ${err.message}`;
  }
  if (err instanceof BusReplyRejectedError) return `the safety-arbiter refused the request: ${err.reason}`;
  return err instanceof Error ? err.message : String(err);
}

function viewOptions(env: DashboardEnv): ViewOptions {
  return {
    ...DEFAULT_VIEW_OPTIONS,
    minStaleMs: env.STALE_AFTER_MS,
    backlogAlarmMessages: env.BACKLOG_ALARM_MESSAGES,
    backlogAlarmAgeMs: env.BACKLOG_ALARM_AGE_MS,
  };
}

/**
 * The dashboard: subscribes to telemetry, decisions, heartbeats, the e-stop and configuration changes, keeps them as
 * one state (`reduce`), and serves the UI, a live stream of snapshots and the 24 h chart (stream TELEMETRY plus what
 * it receives). Manual setpoints and the e-stop go out on the bus exactly as the CLI sends them.
 */
export function dashboardService(overrides: DashboardOverrides = {}) {
  return defineService({
    name: SERVICE_NAME,
    version: SERVICE_VERSION,
    env: dashboardEnvSchema(overrides.readTextFile),
    async start({ env, log, bus, connection, health, now }) {
      const every = overrides.every ?? REAL_EVERY;
      const uiLog = log.child({ component: 'ui' });
      const ui = (await ensureUiBuilt(env.DASHBOARD_UI_DIR, uiLog)) ? loadUiFiles(env.DASHBOARD_UI_DIR) : undefined;

      let state = initialState(
        now(),
        env.SITE_FILE === undefined ? undefined : { site: env.SITE_FILE.site, source: 'file', loadedAtMs: now() },
      );
      const dispatch = (event: DashboardEvent): void => {
        state = reduce(state, event);
      };
      const options = viewOptions(env);

      // History: live readings from now on; the past from stream TELEMETRY (read once, retried until it works).
      const buckets = new HistoryBuckets(env.HISTORY_BUCKET_MS, HISTORY_WINDOW_MS);
      buckets.trackLiveKeys(true);
      let streamProblem: string | null = 'not read yet';

      const offs = [
        bus.subscribe(subjects.telemetry, (reading) => {
          const atMs = now();
          dispatch({ type: 'reading', reading, atMs });
          buckets.add(reading, 'live', atMs);
        }),
        bus.subscribe(subjects.arbiterDecision, (decision) =>
          dispatch({ type: 'arbiter-decision', decision, atMs: now() }),
        ),
        bus.subscribe(subjects.strategyDecision, (metrics) =>
          dispatch({ type: 'strategy-decision', metrics, atMs: now() }),
        ),
        bus.subscribe(subjects.health, (heartbeat) => dispatch({ type: 'heartbeat', heartbeat, atMs: now() })),
        bus.subscribe(subjects.estop, (message) => dispatch({ type: 'estop', message, atMs: now() })),
        bus.subscribe(subjects.configUpdated, (update) => {
          dispatch({ type: 'config-updated', update, atMs: now() });
          void refreshSite('config.updated');
        }),
      ];
      await connection.nc.flush();

      const siteLog = log.child({ component: 'site' });
      async function refreshSite(why: string): Promise<void> {
        const kv = await readKvSite(connection.nc, env.CONFIG_KV_KEY, siteLog);
        if (kv.kind === 'site') {
          dispatch({ type: 'site', entry: { site: kv.site, source: 'kv', loadedAtMs: now() } });
          siteLog.info(
            { why, gatewayId: kv.site.gatewayId, strategies: kv.site.strategy.active },
            'site configuration from KV config',
          );
        } else if (kv.kind === 'invalid') {
          health.incrementCounter('configRejected');
          siteLog.warn(
            { why, problems: kv.problems },
            'KV config holds an invalid site configuration; keeping the current one',
          );
        }
      }
      void refreshSite('start');

      const historyLog = log.child({ component: 'history' });
      let cancelBackfillRetry: (() => void) | undefined;
      let stopped = false;
      async function backfill(): Promise<void> {
        try {
          const result = await backfillFromStream({
            nc: connection.nc,
            buckets,
            nowMs: now(),
            maxSamplesPerAsset: env.HISTORY_SAMPLES_PER_ASSET,
            concurrency: 32,
            timeoutMs: 5_000,
            log: historyLog,
          });
          streamProblem = null;
          buckets.trackLiveKeys(false);
          health.setCounter('historyStreamSamples', result.samples);
          historyLog.info(result, 'chart history read from stream TELEMETRY');
        } catch (err) {
          streamProblem = err instanceof Error ? err.message : String(err);
          historyLog.warn(
            { err, retryInMs: BACKFILL_RETRY_MS },
            'stream TELEMETRY not readable; the chart shows what arrives live',
          );
          if (!stopped) {
            const cancel = every(BACKFILL_RETRY_MS, () => {
              cancel();
              void backfill();
            });
            cancelBackfillRetry = cancel;
          }
        }
      }
      void backfill();

      const history = (): HistorySeries => {
        const nowMs = now();
        return {
          fromMs: nowMs - HISTORY_WINDOW_MS,
          toMs: nowMs,
          bucketMs: buckets.bucketMs,
          points: buckets.points(nowMs, state.site === undefined ? undefined : assetsOfSite(state.site.site)),
          samples: buckets.sampleCounts(),
          streamProblem,
        };
      };

      // Password: read at every login, so `voltimax dashboard set-password` takes effect without a restart. One check
      // at a time: scrypt is deliberately expensive.
      let passwordQueue: Promise<unknown> = Promise.resolve();
      const readHash = async () => {
        try {
          return parsePasswordHash(await readFile(env.DASHBOARD_PASSWORD_FILE, 'utf8'));
        } catch {
          return undefined;
        }
      };
      let hadPassword: boolean | undefined;
      const showPassword = (hasPassword: boolean): void => {
        if (hasPassword === hadPassword) return;
        hadPassword = hasPassword;
        health.setStatus(
          hasPassword ? 'ok' : 'degraded',
          hasPassword
            ? undefined
            : `no usable password in ${env.DASHBOARD_PASSWORD_FILE}: run 'voltimax dashboard set-password'`,
        );
      };
      const checkPassword = (password: string): Promise<PasswordCheck> => {
        const run = passwordQueue.then(async (): Promise<PasswordCheck> => {
          const hash = await readHash();
          showPassword(hash !== undefined);
          if (hash === undefined) return 'no-password';
          return (await verifyPassword(password, hash)) ? 'ok' : 'wrong';
        });
        passwordQueue = run.catch(() => undefined);
        return run;
      };
      const reportPassword = async (): Promise<void> => showPassword((await readHash()) !== undefined);
      await reportPassword();

      const sessions = new SessionStore(env.SESSION_IDLE_MS, env.SESSION_MAX_MS);
      const limiter = new LoginLimiter({
        maxFailures: env.LOGIN_MAX_FAILURES,
        lockoutMs: env.LOGIN_LOCKOUT_MS,
        maxPerMinute: env.LOGIN_MAX_PER_MINUTE,
      });

      const record = (action: ActionRecord) => dispatch({ type: 'action', action });
      const server = await startServer({
        log,
        now,
        sessions,
        limiter,
        checkPassword,
        snapshot: () => {
          dispatch({ type: 'bus', isConnected: connection.isConnected(), atMs: now() });
          return snapshot(state, now(), options);
        },
        history,
        async sendIntent(body, by) {
          const intent = manualIntent(body, by, `dashboard-${randomUUID()}`, now());
          const summary = `${intent.assetId}: ${describeSetpoint(intent.setpoint)} for ${Math.round(intent.ttlMs / 1_000)} s (${body.reason})`;
          const sent: ActionRecord = {
            id: intent.id,
            kind: 'intent',
            atMs: intent.issuedAtMs,
            by,
            summary,
            status: 'sent',
          };
          record(sent);
          try {
            const decision = await bus.request(subjects.intent, intentParams(intent), intent, {
              timeoutMs: env.INTENT_TIMEOUT_MS,
            });
            record({ ...sent, status: 'decided', decision });
            return { ok: true, intent, decision };
          } catch (err) {
            const error = describeRequestError(err);
            record({ ...sent, status: 'failed', error });
            return { ok: false, intent, error };
          }
        },
        async sendEstop(body, by) {
          const message = estopMessage(body, by, now());
          bus.publish(subjects.estop, {}, message);
          await connection.nc.flush();
          record({
            id: `estop-${randomUUID()}`,
            kind: 'estop',
            atMs: message.atMs,
            by,
            summary: `e-stop ${body.action} (${body.reason})`,
            status: 'sent',
          });
          return message;
        },
        counters: {
          increment: (name) => health.incrementCounter(name),
          set: (name, value) => health.setCounter(name, value),
        },
        ui,
        every,
        settings: {
          host: env.DASHBOARD_HOST,
          port: env.DASHBOARD_PORT,
          tls:
            env.DASHBOARD_TLS_CERT_FILE === undefined || env.DASHBOARD_TLS_KEY_FILE === undefined
              ? undefined
              : { cert: readFileSync(env.DASHBOARD_TLS_CERT_FILE), key: readFileSync(env.DASHBOARD_TLS_KEY_FILE) },
          isCookieSecure: isCookieSecure(env),
          allowedOrigins: env.DASHBOARD_ALLOWED_ORIGINS,
          trustProxy: env.DASHBOARD_TRUST_PROXY,
          updateMs: env.UPDATE_MS,
          sessionMaxMs: env.SESSION_MAX_MS,
          maxEventClients: env.MAX_EVENT_CLIENTS,
        },
      });
      const cancelHousekeeping = every(HOUSEKEEPING_MS, () => {
        health.setCounter('sessions', sessions.sweep(now()));
        health.setCounter('lockedOut', limiter.lockedCount(now()));
        void reportPassword();
      });

      log.info(
        {
          url: server.url,
          host: env.DASHBOARD_HOST,
          port: server.port,
          tls: env.DASHBOARD_TLS_CERT_FILE !== undefined,
          cookieSecure: isCookieSecure(env),
          allowedOrigins: env.DASHBOARD_ALLOWED_ORIGINS,
          ui: ui === undefined ? 'not built' : `${env.DASHBOARD_UI_DIR} (${ui.size} files)`,
          passwordFile: env.DASHBOARD_PASSWORD_FILE,
          siteFile: env.SITE_FILE?.path ?? null,
          updateMs: env.UPDATE_MS,
          login: {
            maxFailures: env.LOGIN_MAX_FAILURES,
            lockoutMs: env.LOGIN_LOCKOUT_MS,
            maxPerMinute: env.LOGIN_MAX_PER_MINUTE,
          },
        },
        'dashboard listening',
      );

      return {
        async stop() {
          stopped = true;
          cancelBackfillRetry?.();
          cancelHousekeeping();
          for (const off of offs) off();
          await server.close();
        },
      };
    },
  });
}
