import type { SiteConfig } from '@voltimax/contracts';
import type { Logger } from 'pino';
import { clientHost, type ResolvedEndpoint } from './endpoints';
import { frequencyAt, type FrequencyStep } from './frequency';
import { startDeviceServer, type DeviceServer, type ServerCounters } from './modbus-server';
import { planSimulation, type SimulationPlan } from './plan';
import type { LoadPvProfile } from './profile';
import { createSimulatedSite, type SimulatedSite, type SiteSnapshot } from './site';

/** Calls `fn` every `everyMs`; returns a function that stops it. Injected so tests drive steps themselves. */
export type Scheduler = (everyMs: number, fn: () => void) => () => void;

/** The real scheduler: setInterval. */
export const intervalScheduler: Scheduler = (everyMs, fn) => {
  const timer = setInterval(fn, everyMs);
  return () => clearInterval(timer);
};

/** Wall-clock time between two steps, ms. */
export const TICK_MS = 1_000;

export interface SimulationOptions {
  readonly site: SiteConfig;
  readonly profile: LoadPvProfile;
  /** Sim ms per wall ms. */
  readonly speed: number;
  readonly startAtMs: number;
  readonly initialSocPct: number;
  readonly frequencyStep?: FrequencyStep;
  /** Bind address of the device listeners. */
  readonly bind: string;
  /** Host clients use, written into the endpoints (default: the bind address; 127.0.0.1 for a wildcard bind). */
  readonly advertiseHost?: string;
  /** First port (one per served device, in asset order); 0 = ephemeral. */
  readonly basePort: number;
  /** Wall clock, epoch ms (device timers). */
  readonly now: () => number;
  readonly log: Logger;
  /** Wall ms between steps (default {@link TICK_MS}). */
  readonly tickMs?: number;
  /** Called after each accepted Modbus register write of a served device. */
  readonly onWrite?: (assetId: string, address: number, words: readonly number[]) => void;
  /**
   * While true for a served asset, its register image is not rewritten after a step: the device keeps answering
   * the values of the step before (a frozen meter). Its own timers still run.
   */
  readonly isFrozen?: (assetId: string) => boolean;
}

/** A running simulated site: physics, device images and their Modbus listeners. */
export interface Simulation {
  readonly plan: SimulationPlan;
  readonly site: SimulatedSite;
  readonly servers: readonly DeviceServer[];
  readonly endpoints: readonly ResolvedEndpoint[];
  /** One step of `tickMs × speed` sim time (what the scheduler calls). */
  step(): SiteSnapshot;
  /** Request counters per served asset. */
  counters(): Readonly<Record<string, ServerCounters>>;
  /** Starts stepping on the scheduler. */
  run(scheduler: Scheduler, onStep?: (snapshot: SiteSnapshot) => void): void;
  /** Stops stepping and closes every listener. */
  stop(): Promise<void>;
}

/** Builds the plan and the physics, and opens one Modbus TCP listener per served device. */
export async function startSimulation(options: SimulationOptions): Promise<Simulation> {
  const { site: config, log } = options;
  const tickMs = options.tickMs ?? TICK_MS;
  const plan = planSimulation(config, { now: options.now });
  const { isFrozen } = options;
  // plan.devices[i] is the image of plan.served[i] (planSimulation adds them together).
  const devices =
    isFrozen === undefined
      ? plan.devices
      : plan.devices.map((device, i) => {
          const assetId = plan.served[i]?.assetId;
          return assetId === undefined
            ? device
            : { ...device, update: (s: SiteSnapshot, nowMs: number) => (isFrozen(assetId) ? undefined : device.update(s, nowMs)) };
        });
  const site = createSimulatedSite({
    model: { battery: plan.battery },
    profile: options.profile,
    frequencyAt: (atMs) => frequencyAt(atMs, options.frequencyStep),
    startAtMs: options.startAtMs,
    initialSocPct: options.initialSocPct,
    stepMs: Math.round(tickMs * options.speed),
    timezone: config.timezone,
    grid: { phases: config.grid.phases, nominalVoltageV: config.grid.nominalVoltageV },
    batteryRequestW: plan.batteryRequestW,
    pvOutput: plan.pvOutput,
    devices,
    now: options.now,
  });

  const servers: DeviceServer[] = [];
  try {
    for (const [index, asset] of plan.served.entries()) {
      servers.push(
        await startDeviceServer({
          assetId: asset.assetId,
          device: asset.device,
          host: options.bind,
          port: options.basePort === 0 ? 0 : options.basePort + index,
          unitId: asset.unitId,
          log: log.child({ component: 'modbus', assetId: asset.assetId }),
          ...(options.onWrite === undefined ? {} : { onWrite: (address, words) => options.onWrite?.(asset.assetId, address, words) }),
        }),
      );
    }
  } catch (err) {
    await Promise.all(servers.map((s) => s.close()));
    throw err;
  }
  const endpoints: ResolvedEndpoint[] = plan.served.map((asset, i) => ({
    assetId: asset.assetId,
    host: options.advertiseHost ?? clientHost(options.bind),
    port: servers[i]?.port ?? 0,
    unitId: asset.unitId,
    profile: asset.servedProfile,
  }));

  let cancel: (() => void) | undefined;
  return {
    plan,
    site,
    servers,
    endpoints,
    step: () => site.step(),
    counters: () => Object.fromEntries(servers.map((s) => [s.assetId, s.counters()])),
    run(scheduler, onStep) {
      cancel?.();
      cancel = scheduler(tickMs, () => {
        const snapshot = site.step();
        onStep?.(snapshot);
      });
    },
    async stop() {
      cancel?.();
      cancel = undefined;
      await Promise.all(servers.map((s) => s.close()));
    },
  };
}
