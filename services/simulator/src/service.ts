import { createWriteStream } from 'node:fs';
import { formatIssues, SiteConfigSchema } from '@voltimax/contracts';
import { defineService } from '@voltimax/service-kit';
import { simulatorEnvSchema, type ReadTextFile } from './config';
import { startControlServer, type ControlServer } from './control';
import { createSiteControls, createSiteFaults, type ControlledOcppConnector } from './control-site';
import { resolvedSite, writeResolvedSite } from './endpoints';
import { planJsonDevices, startJsonDevices, withJsonEndpoints, type JsonDevices } from './json-devices';
import { ocppChargePointsFromSite, startOcppChargePoints, type OcppChargePoints } from './ocpp';
import { DEFAULT_PV_PEAK_W, ratedPvW } from './plan';
import { seriesProfile, syntheticProfile } from './profile';
import { intervalScheduler, startSimulation, TICK_MS, type Scheduler } from './simulation';

/** `health.simulator`, and the NATS user of docker/nats/nats.conf. */
export const SERVICE_NAME = 'simulator';
export const SERVICE_VERSION = '0.1.0';

/** Share of the rated PV the synthetic profile peaks at (a sunny spring day, not a clear-sky maximum). */
const SYNTHETIC_PV_PEAK_SHARE = 0.8;

/**
 * The simulator service: a simulated site (libs/sim physics) behind real Modbus TCP devices, and (opt-in by
 * profile) Peblar chargers on their REST API and Shelly meters on MQTT. It publishes only its heartbeat; drivers talk
 * to it over the devices' own protocols. `readTextFile` and `scheduler` are injectable for tests.
 */
export function simulatorService(deps: { readonly readTextFile?: ReadTextFile; readonly scheduler?: Scheduler } = {}) {
  return defineService({
    name: SERVICE_NAME,
    version: SERVICE_VERSION,
    env: simulatorEnvSchema(deps.readTextFile),
    async start({ env, log, health, now }) {
      const { site } = env.SITE_FILE;
      const pvRatedW = ratedPvW(site);
      const profile = env.SIM_PROFILE
        ? seriesProfile(env.SIM_PROFILE.series, env.SIM_PROFILE.path)
        : syntheticProfile({
            timezone: site.timezone,
            pvPeakW: pvRatedW > 0 ? SYNTHETIC_PV_PEAK_SHARE * pvRatedW : DEFAULT_PV_PEAK_W,
          });
      const startAtMs = env.SIM_START ?? profile.startAtMs ?? now();
      // Fault injection and scenario steps of the control API (SIM_CONTROL_PORT): load step, PV scale, frozen images.
      const faults = createSiteFaults();
      // HTTP/MQTT devices (opt-in by profile) are served here; the rest of the site by the Modbus simulation.
      const jsonPlan = planJsonDevices(site);
      // SIM_EVENTS_FILE: wall-clock (sub-ms) events for latency measurements: steps and register writes.
      const events = env.SIM_EVENTS_FILE === undefined ? undefined : openEventLog(env.SIM_EVENTS_FILE);
      const simulation = await startSimulation({
        ...(events === undefined ? {} : { onWrite: (assetId: string, address: number, words: readonly number[]) => events.write({ t: 'write', assetId, address, words }) }),
        site: jsonPlan.modbusSite,
        profile: faults.wrap(profile),
        isFrozen: (assetId: string) => faults.isFrozen(assetId),
        speed: env.SIM_SPEED,
        startAtMs,
        initialSocPct: env.SIM_INITIAL_SOC_PCT,
        frequencyStep:
          env.SIM_FREQ_STEP_HZ === 0
            ? undefined
            : {
                atMs: startAtMs + env.SIM_FREQ_STEP_AT_S * 1000,
                durationMs: env.SIM_FREQ_STEP_DURATION_S * 1000,
                deltaHz: env.SIM_FREQ_STEP_HZ,
              },
        bind: env.SIM_BIND,
        ...(env.SIM_ADVERTISE_HOST === undefined ? {} : { advertiseHost: env.SIM_ADVERTISE_HOST }),
        basePort: env.SIM_BASE_PORT,
        now,
        log,
      });
      let jsonDevices: JsonDevices;
      try {
        jsonDevices = await startJsonDevices(jsonPlan, simulation.site, {
          bind: env.SIM_BIND,
          ...(env.SIM_ADVERTISE_HOST === undefined ? {} : { advertiseHost: env.SIM_ADVERTISE_HOST }),
          basePort: env.SIM_BASE_PORT === 0 ? 0 : env.SIM_BASE_PORT + simulation.servers.length,
          mqttUrl: env.MQTT_URL,
          advertiseMqttUrl: env.SIM_ADVERTISE_MQTT_URL,
          peblarToken: env.SIM_PEBLAR_TOKEN,
          peblarTokenEnv: env.SIM_PEBLAR_TOKEN_ENV,
          ev: {
            plugged: env.SIM_EV_PLUGGED,
            carMaxCurrentA: env.SIM_EV_CAR_MAX_CURRENT_A,
            initialLimitA: env.SIM_EV_INITIAL_LIMIT_A,
          },
          phases: site.grid.phases,
          nominalVoltageV: site.grid.nominalVoltageV,
          now,
          log,
          isFrozen: (assetId) => faults.isFrozen(assetId),
          ...(events === undefined ? {} : { onWrite: (assetId: string, body: Record<string, unknown>) => events.write({ t: 'http-write', assetId, body }) }),
        });
      } catch (err) {
        await simulation.stop();
        throw err;
      }
      // OCPP charge points (opt-in with SIM_OCPP_URL): clients of ocpp-csms that keep re-connecting until it is up;
      // each connector's power (following the charging profile, capped by the car) feeds the site model.
      const ocppCar = { maxCurrentA: env.SIM_EV_CAR_MAX_CURRENT_A, phases: 3 as const, capacityWh: 60_000, socPct: 30 };
      const ocppOptions =
        env.SIM_OCPP_URL === undefined
          ? []
          : ocppChargePointsFromSite(site, {
              endpoint: env.SIM_OCPP_URL,
              env: process.env,
              ...(env.SIM_EV_PLUGGED ? { car: ocppCar } : {}),
              now,
            });
      const ocpp: OcppChargePoints | undefined =
        ocppOptions.length === 0 ? undefined : await startOcppChargePoints({ chargePoints: ocppOptions, log: log.child({ component: 'ocpp' }) });
      const detachOcpp = (ocpp?.loads ?? []).map((load) => simulation.site.attachEvLoad(load));
      const stopOcpp = async () => {
        for (const detach of detachOcpp) detach();
        await ocpp?.stop();
      };
      let control: ControlServer | undefined;
      if (env.SIM_CONTROL_PORT !== undefined) {
        const ocppConnectors = new Map<string, ControlledOcppConnector>();
        ocppOptions.forEach((options, i) => {
          const chargePoint = ocpp?.chargePoints[i];
          if (chargePoint)
            for (const c of options.connectors) ocppConnectors.set(c.assetId, { chargePoint, connectorId: c.connectorId, car: ocppCar });
        });
        try {
          control = await startControlServer({
            port: env.SIM_CONTROL_PORT,
            log: log.child({ component: 'control' }),
            ...(events === undefined ? {} : { record: (event) => events.write({ t: 'control', ...event }) }),
            controls: createSiteControls({
              site,
              faults,
              snapshot: () => simulation.site.snapshot(),
              speed: env.SIM_SPEED,
              modbus: new Map(simulation.servers.map((server) => [server.assetId, server])),
              peblars: new Map(
                [...jsonDevices.chargers].flatMap(([assetId, charger]) => {
                  const server = jsonDevices.servers.get(assetId);
                  return server ? [[assetId, { charger, server }] as const] : [];
                }),
              ),
              mqttMeters: new Set(jsonPlan.devices.filter((d) => d.kind === 'shelly-mqtt').map((d) => d.asset.id)),
              ocpp: ocppConnectors,
            }),
          });
        } catch (err) {
          await Promise.all([jsonDevices.stop(), simulation.stop(), stopOcpp()]);
          throw err;
        }
      }
      const stopControl = async () => control?.close();
      if (env.SIM_ASSETS_FILE) {
        const resolved = withJsonEndpoints(resolvedSite(env.SITE_FILE.raw, simulation.endpoints), jsonDevices.endpoints);
        const check = SiteConfigSchema.safeParse(resolved);
        if (!check.success) {
          const problems = formatIssues(check.error.issues).map((p) => `${p.path}: ${p.message}`);
          await Promise.all([jsonDevices.stop(), simulation.stop(), stopOcpp(), stopControl()]);
          throw new Error(`resolved site is invalid: ${problems.join('; ')}`);
        }
        writeResolvedSite(env.SIM_ASSETS_FILE, resolved);
      }

      log.info(
        {
          siteFile: env.SITE_FILE.path,
          profile: profile.source,
          speed: env.SIM_SPEED,
          startAt: new Date(startAtMs).toISOString(),
          tickMs: TICK_MS,
          initialSocPct: env.SIM_INITIAL_SOC_PCT,
          batteryAssetId: simulation.plan.batteryAssetId ?? null,
          frequencyStepHz: env.SIM_FREQ_STEP_HZ,
          served: simulation.plan.served.map((asset, i) => ({
            assetId: asset.assetId,
            profile: asset.servedProfile,
            configuredProfile: asset.configuredProfile,
            endpoint: `${simulation.endpoints[i]?.host}:${simulation.endpoints[i]?.port}`,
            unitId: asset.unitId,
          })),
          notServed: [...simulation.plan.notServed, ...jsonPlan.notServed],
          json: jsonDevices.endpoints.map((e) => ({ assetId: e.assetId, profile: e.profile, connection: e.connection })),
          ocpp: ocpp === undefined ? undefined : { endpoint: env.SIM_OCPP_URL, chargePoints: ocppOptions.map((o) => o.identity) },
          ev:
            jsonDevices.chargers.size === 0
              ? undefined
              : { plugged: env.SIM_EV_PLUGGED, carMaxCurrentA: env.SIM_EV_CAR_MAX_CURRENT_A, initialLimitA: env.SIM_EV_INITIAL_LIMIT_A },
          assetsFile: env.SIM_ASSETS_FILE ?? null,
          controlPort: control?.port ?? null,
        },
        'simulated site ready',
      );
      // No health.setAssets: a heartbeat's `assets` names the assets a driver drives, and the arbiter takes it as
      // a claim of ownership. The served devices show in the per-asset counters instead.

      const stepLog = log.child({ component: 'site' });
      simulation.run(deps.scheduler ?? intervalScheduler, (s) => {
        events?.write({ t: 'step', step: s.step, gridW: s.flows.gridPowerW, loadW: s.flows.loadW, batteryW: s.flows.batteryPowerW });
        stepLog.debug(
          {
            atMs: s.atMs,
            socPct: s.socPct,
            requestedBatteryW: s.requestedBatteryW,
            batteryPowerW: s.flows.batteryPowerW,
            gridPowerW: s.flows.gridPowerW,
            pvW: s.flows.pvW,
            loadW: s.flows.loadW,
            evW: s.flows.evW,
            frequencyHz: s.flows.gridFrequencyHz,
          },
          'step',
        );
        health.setCounter('steps', s.step);
        if (control) {
          const c = control.counters();
          health.setCounter('control.accepted', c.accepted);
          health.setCounter('control.refused', c.refused);
        }
        for (const [assetId, c] of Object.entries({ ...simulation.counters(), ...jsonDevices.counters() })) {
          health.setCounter(`${assetId}.writes`, c.writes);
          health.setCounter(`${assetId}.rejectedWrites`, c.rejectedWrites);
          health.setCounter(`${assetId}.reads`, c.reads);
        }
      });
      return {
        async stop() {
          await stopControl();
          events?.close();
          await stopOcpp();
          await Promise.all([jsonDevices.stop(), simulation.stop()]);
        },
      };
    },
  });
}

/** Appends JSON lines `{ atMs, ...event }` (atMs from the monotonic clock, epoch-based, sub-millisecond). */
function openEventLog(file: string): { write(event: Record<string, unknown>): void; close(): void } {
  const stream = createWriteStream(file, { flags: 'a' });
  return {
    write: (event) => void stream.write(`${JSON.stringify({ atMs: performance.timeOrigin + performance.now(), ...event })}\n`),
    close: () => stream.end(),
  };
}
