// Runs the modbus-poller service in-process against a real nats-server, and observes the bus like other services.
import type { SiteConfig } from '@voltimax/contracts';
import { runDriverService, writeSiteFile, type RunningDriver } from '@voltimax/driver-sdk/testing';
import { modbusPollerService } from '../service';

export { connectAs, type BusClient } from '@voltimax/driver-sdk/testing';

/** A poller instance running in this process with fake process hooks. */
export type RunningPoller = RunningDriver;

/** Writes the site to a temp file; returns its path and a cleanup. */
export function writeSite(site: SiteConfig): { readonly path: string; readonly remove: () => void } {
  return writeSiteFile(site, 'poller-site-');
}

/** Starts the service as user `modbus-poller` of docker/nats/nats.conf, with short Modbus timeouts for tests. */
export function runPoller(options: {
  readonly natsUrl: string;
  readonly siteFile: string;
  readonly instanceId: string;
  readonly shard?: string;
  readonly env?: Readonly<Record<string, string>>;
}): Promise<RunningPoller> {
  return runDriverService(modbusPollerService(), {
    natsUrl: options.natsUrl,
    user: 'modbus-poller',
    env: {
      SITE_FILE: options.siteFile,
      POLLER_SHARD: options.shard ?? '0/1',
      INSTANCE_ID: options.instanceId,
      MODBUS_TIMEOUT_MS: '300',
      MODBUS_RETRY_ATTEMPTS: '1',
      MODBUS_BREAKER_FAILURES: '3',
      MODBUS_BREAKER_HALF_OPEN_MS: '200',
      MODBUS_RECONNECT_MAX_MS: '100',
      ...options.env,
    },
  });
}

/** The pymodbus peer's map for an SDM630 (eastron-sdm630.md): float32 typed entries, encoded by pymodbus, not by us. */
export function sdm630PeerTables(overrides: Readonly<Record<string, unknown>> = {}): Record<string, unknown> {
  const f32 = (value: number) => ({ type: 'float32', value });
  return {
    input_registers: {
      '0': f32(230.5), // 0x0000 voltage L1 V
      '2': f32(231.0), // 0x0002 voltage L2 V
      '4': f32(229.5), // 0x0004 voltage L3 V
      '6': f32(5.5), // 0x0006 current L1 A
      '8': f32(4.0), // 0x0008 current L2 A
      '10': f32(3.25), // 0x000A current L3 A
      '12': f32(1200.5), // 0x000C power L1 W
      '14': f32(900.0), // 0x000E power L2 W
      '16': f32(-100.5), // 0x0010 power L3 W
      '52': f32(2000.0), // 0x0034 total system active power W
      '56': f32(2100.0), // 0x0038 total apparent power VA
      '60': f32(-150.0), // 0x003C total reactive power var
      '62': f32(0.75), // 0x003E total power factor
      '70': f32(50.0), // 0x0046 frequency Hz
      '72': f32(1234.5), // 0x0048 import active energy kWh
      '74': f32(56.25), // 0x004A export active energy kWh
      ...overrides,
    },
  };
}
