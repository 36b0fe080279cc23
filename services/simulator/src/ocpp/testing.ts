// The central system and the safety-arbiter as child processes (`node tools/run-ts.js services/<name>/src/main.ts`),
// as npm start runs them: services never import each other, so the simulator's tests talk to them over the network.
import { startServiceProcess as startService, type ServiceProcess } from '@voltimax/testing';

export type { ServiceProcess };

/** `services/<name>/src/main.ts` as NATS user `<name>`, logging at info (the tests wait for its lines), no health port. */
export function startServiceProcess(name: string, natsUrl: string, env: Readonly<Record<string, string>>): ServiceProcess {
  return startService(name, natsUrl, { HEALTH_PORT: 'off', LOG_LEVEL: 'info', ...env });
}
