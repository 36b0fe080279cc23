import { join } from 'node:path';
import type { SiteConfig } from '@voltimax/contracts';
import { readUtf8File, siteFileEnv, type ReadTextFile } from '@voltimax/service-kit';
import { parseIsoTimestamp, parseSeriesCsv, SeriesParseError, type SiteSeries } from '@voltimax/sim';
import { z } from 'zod';
import { planJsonDevices } from './json-devices';

/** Reads a file as UTF-8 text; injectable so the schema can be tested without a disk. */
export type { ReadTextFile };

/** The site file as read: the validated configuration and the raw JSON (rewritten into SIM_ASSETS_FILE). */
export interface LoadedSite {
  readonly path: string;
  readonly site: SiteConfig;
  readonly raw: Record<string, unknown>;
}

function loadProfile(
  path: string,
  readTextFile: ReadTextFile,
): { ok: true; series: SiteSeries } | { ok: false; problem: string } {
  try {
    return { ok: true, series: parseSeriesCsv(readTextFile(path)) };
  } catch (err) {
    if (err instanceof SeriesParseError) {
      return {
        ok: false,
        problem: `${path}: ${err.issues.map((i) => `line ${i.line} ${i.column}: ${i.message}`).join('; ')}`,
      };
    }
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, problem: `cannot read ${path}: ${code ?? String(err)}` };
  }
}

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

/**
 * The simulator's own environment (service-kit reads NATS_URL, LOG_LEVEL, HEARTBEAT_MS, …). SITE_FILE and
 * SIM_PROFILE are read and validated here, so a bad file ends the process with exit 78 before anything listens.
 */
export function simulatorEnvSchema(readTextFile: ReadTextFile = readUtf8File) {
  return z
    .object({
      /** assets.json: the simulated site (usually docker/config/assets.sim.json). */
      SITE_FILE: siteFileEnv(readTextFile).transform(
        // SiteConfigSchema accepted it, so the raw JSON is an object.
        ({ path, site, raw }): LoadedSite => ({ path, site, raw: raw as Record<string, unknown> }),
      ),
      /** Sim time per wall-clock time: 60 = one simulated minute per second. */
      SIM_SPEED: z.coerce.number().positive().max(100_000).default(1),
      /** CSV of load/PV (timestamp,load_w,pv_w,price_eur_per_mwh); unset = the built-in synthetic day. */
      SIM_PROFILE: optionalText.transform((path, ctx) => {
        if (path === undefined) return undefined;
        const result = loadProfile(path, readTextFile);
        if (result.ok) return { path, series: result.series };
        ctx.addIssue({ code: 'custom', message: result.problem });
        return z.NEVER;
      }),
      /** ISO-8601 instant where sim time starts; unset = now (synthetic) or the CSV's first row. */
      SIM_START: optionalText.transform((text, ctx) => {
        if (text === undefined) return undefined;
        const atMs = parseIsoTimestamp(text);
        if (atMs === null) {
          ctx.addIssue({
            code: 'custom',
            message: `must be an ISO-8601 instant with a zone, e.g. 2024-04-01T00:00:00Z`,
          });
          return z.NEVER;
        }
        return atMs;
      }),
      /** Battery SoC when the simulation starts, %. */
      SIM_INITIAL_SOC_PCT: z.coerce.number().min(0).max(100).default(50),
      /** First port of the device listeners (one per device, in asset order); 0 = ephemeral ports. */
      SIM_BASE_PORT: z.coerce.number().int().min(0).max(65_000).default(0),
      /** Address the listeners bind to. */
      SIM_BIND: z.string().min(1).default('127.0.0.1'),
      /** Host written into SIM_ASSETS_FILE for clients (e.g. the compose service name); default: SIM_BIND, or 127.0.0.1 for a wildcard bind. */
      SIM_ADVERTISE_HOST: optionalText.pipe(
        z
          .string()
          .max(253)
          .regex(/^[A-Za-z0-9.:_-]+$/, 'must be a hostname, IPv4 or IPv6 address')
          .optional(),
      ),
      /** Where to write the site with each served asset's resolved Modbus endpoint; default <STATE_DIR>/sim-assets.json. */
      SIM_ASSETS_FILE: optionalText,
      /** Set by `npm start`; the default folder of SIM_ASSETS_FILE. */
      STATE_DIR: optionalText,
      /** Frequency event: offset in Hz (0 = none), e.g. -0.2. */
      SIM_FREQ_STEP_HZ: z.coerce.number().min(-5).max(5).default(0),
      /** Frequency event start, sim seconds after the simulation starts. */
      SIM_FREQ_STEP_AT_S: z.coerce.number().min(0).default(60),
      /** Frequency event duration, sim seconds. */
      SIM_FREQ_STEP_DURATION_S: z.coerce.number().positive().default(30),
      /**
       * The OCPP central system (ocpp-csms) the site's simulated OCPP charge points connect to, without the identity,
       * e.g. ws://127.0.0.1:8887/ocpp. Unset: the site's OCPP chargers are not simulated.
       */
      /**
       * Measurement hook (the gateway bench): appends one JSON line per simulation step (wall time, grid/load power)
       * and per accepted Modbus register write (wall time, asset, address, words), times from the monotonic clock.
       */
      SIM_EVENTS_FILE: optionalText,
      /**
       * Port of the control API on 127.0.0.1 (control.ts: state, freeze, disconnect, load step, EV plug, PV scale);
       * 0 = an ephemeral port (logged); unset = no control API.
       */
      SIM_CONTROL_PORT: optionalText.pipe(
        z
          .string()
          .regex(/^\d{1,5}$/, 'must be a port number 0–65535')
          .transform(Number)
          .pipe(z.number().int().max(65_535, 'must be a port number 0–65535'))
          .optional(),
      ),
      SIM_OCPP_URL: optionalText.pipe(z.string().regex(/^wss?:\/\/\S+$/, 'must start with ws:// or wss://').optional()),
      /** Broker the simulated MQTT meters publish to (needed only when the site has one). */
      MQTT_URL: optionalText.pipe(
        z
          .string()
          .regex(/^(mqtts?|wss?):\/\/\S+$/, 'must start with mqtt://, mqtts://, ws:// or wss://')
          .optional(),
      ),
      /** The broker URL written into SIM_ASSETS_FILE for the drivers; default MQTT_URL. */
      SIM_ADVERTISE_MQTT_URL: optionalText.pipe(
        z
          .string()
          .regex(/^(mqtts?|wss?):\/\/\S+$/, 'must start with mqtt://, mqtts://, ws:// or wss://')
          .optional(),
      ),
      /** API token the simulated Peblar chargers demand (`Authorization` header); unset = no check. */
      SIM_PEBLAR_TOKEN: optionalText.pipe(z.string().min(8).max(128).optional()),
      /** Variable name written as `tokenEnv` into SIM_ASSETS_FILE when SIM_PEBLAR_TOKEN is set. */
      SIM_PEBLAR_TOKEN_ENV: z.string().regex(/^[A-Z][A-Z0-9_]*$/).default('PEBLAR_TOKEN'),
      /** Whether the simulated car is plugged into each simulated Peblar at the start. */
      SIM_EV_PLUGGED: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
      /** Largest current the simulated car takes per phase, A. */
      SIM_EV_CAR_MAX_CURRENT_A: z.coerce.number().min(6).max(80).default(16),
      /** The Peblar API's charge current limit at start, A. */
      SIM_EV_INITIAL_LIMIT_A: z.coerce.number().min(0).max(80).default(16),
    })
    .transform(({ SIM_ASSETS_FILE, STATE_DIR, ...env }, ctx) => {
      if (env.MQTT_URL === undefined) {
        const meters = planJsonDevices(env.SITE_FILE.site).devices.filter((d) => d.kind === 'shelly-mqtt');
        if (meters.length > 0) {
          ctx.addIssue({
            code: 'custom',
            path: ['MQTT_URL'],
            message: `the site has simulated MQTT meters (${meters.map((m) => m.asset.id).join(', ')}): set the broker`,
          });
          return z.NEVER;
        }
      }
      return {
        ...env,
        SIM_ASSETS_FILE: SIM_ASSETS_FILE ?? (STATE_DIR ? join(STATE_DIR, 'sim-assets.json') : undefined),
      };
    });
}

/** The parsed environment with the loaded site and profile. */
export type SimulatorEnv = z.output<ReturnType<typeof simulatorEnvSchema>>;
