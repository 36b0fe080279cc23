// Runs http-devices in this process against a real nats-server, and observes the bus like other services do.
import { runDriverService, writeSiteFile, type RunningDriver } from '@voltimax/driver-sdk/testing';
import type { ConnectBroker } from '../mqtt-listener';
import { httpDevicesService } from '../service';

export { connectAs, newestReading, sendDeviceWrite as sendWrite, type BusClient } from '@voltimax/driver-sdk/testing';

/** A service instance running in this process with fake process hooks. */
export type RunningService = RunningDriver;

/** Writes a site (raw JSON) to a temp file; returns its path and a cleanup. */
export function writeSite(site: unknown): { readonly path: string; readonly remove: () => void } {
  return writeSiteFile(site, 'http-devices-site-');
}

/** Starts the service as user `http-devices` of docker/nats/nats.conf with short timeouts for tests. */
export function runHttpDevices(options: {
  readonly natsUrl: string;
  readonly siteFile: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Wraps mqtt.js `connect` (e.g. to record the clients); the real one when absent. */
  readonly connectBroker?: ConnectBroker;
}): Promise<RunningService> {
  const service = httpDevicesService(
    options.connectBroker === undefined ? {} : { connectBroker: options.connectBroker },
  );
  return runDriverService(service, {
    natsUrl: options.natsUrl,
    user: 'http-devices',
    env: {
      SITE_FILE: options.siteFile,
      INSTANCE_ID: 'http-devices-test',
      // Generous for a loaded machine (npm test runs three workers); the hang test waits it out three times.
      HTTP_TIMEOUT_MS: '1000',
      HTTP_RETRY_ATTEMPTS: '1',
      HTTP_BREAKER_FAILURES: '3',
      HTTP_BREAKER_HALF_OPEN_MS: '400',
      MQTT_CONFIRM_TIMEOUT_MS: '2000',
      MQTT_RECONNECT_MS: '200',
      ...options.env,
    },
  });
}
