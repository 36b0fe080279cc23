// Other services as child processes (services never import each other): `node tools/run-ts.js
// services/<name>/src/main.ts` as NATS user <name> with its development password, as `npm start` runs them.
import { startServiceProcess, type ServiceProcess } from '@voltimax/testing';

export { REPO_ROOT as ROOT, type ServiceProcess } from '@voltimax/testing';

/** Without a health port (the bridge's tests start several of each). */
export function startService(name: string, natsUrl: string, env: Readonly<Record<string, string>>): ServiceProcess {
  return startServiceProcess(name, natsUrl, { HEALTH_PORT: 'off', ...env });
}
