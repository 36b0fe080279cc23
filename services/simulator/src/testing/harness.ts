// Test harness: a simulation in this process on ephemeral ports, a fake wall clock, and a modbus-serial client.
import ModbusRTU from 'modbus-serial';
import pino from 'pino';
import { SiteConfigSchema, type SiteConfigInput } from '@voltimax/contracts';
import type { LoadPvProfile } from '../profile';
import { startSimulation, type Simulation } from '../simulation';
import { simSite } from './site';

/** The same load and PV at every instant. */
export function flatProfile(loadW: number, pvW: number): LoadPvProfile {
  return { source: `flat ${loadW}/${pvW}`, at: () => ({ loadW, pvW }) };
}

/** A running test simulation: steps are taken by the test (`sim.step()`), the wall clock is `clock.nowMs`. */
export interface TestSimulation {
  readonly sim: Simulation;
  readonly clock: { nowMs: number };
  /** A connected client for the asset's endpoint (closed by `stop`). */
  client(assetId: string, options?: { readonly unitId?: number; readonly timeoutMs?: number }): Promise<ModbusRTU>;
  port(assetId: string): number;
  stop(): Promise<void>;
}

export async function startTestSimulation(
  options: { readonly site?: SiteConfigInput; readonly profile?: LoadPvProfile; readonly speed?: number } = {},
): Promise<TestSimulation> {
  const clock = { nowMs: Date.parse('2024-04-10T12:00:00Z') };
  const sim = await startSimulation({
    site: SiteConfigSchema.parse(options.site ?? simSite()),
    profile: options.profile ?? flatProfile(1_800, 300),
    speed: options.speed ?? 1,
    startAtMs: Date.parse('2024-04-10T10:00:00Z'),
    initialSocPct: 50,
    bind: '127.0.0.1',
    basePort: 0,
    now: () => clock.nowMs,
    log: pino({ level: 'silent' }),
  });
  const clients: ModbusRTU[] = [];
  const port = (assetId: string): number => {
    const endpoint = sim.endpoints.find((e) => e.assetId === assetId);
    if (!endpoint) throw new Error(`${assetId} is not served`);
    return endpoint.port;
  };
  return {
    sim,
    clock,
    port,
    async client(assetId, clientOptions = {}) {
      const client = new ModbusRTU();
      await client.connectTCP('127.0.0.1', { port: port(assetId) });
      client.setID(clientOptions.unitId ?? 1);
      client.setTimeout(clientOptions.timeoutMs ?? 1_000);
      clients.push(client);
      return client;
    },
    async stop() {
      await Promise.all(
        clients.map((c) => new Promise<void>((resolve) => (c.isOpen ? c.close(() => resolve()) : resolve()))),
      );
      await sim.stop();
    },
  };
}
