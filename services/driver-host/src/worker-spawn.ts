import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { WorkerInit } from './protocol';

/**
 * True when this code runs from its TypeScript sources (`tools/run-ts.js`, Jest): workers then need the same
 * transpiler, and local driver packages may be loaded from their TypeScript sources.
 */
export const RUNNING_TYPESCRIPT = __filename.endsWith('.ts');

/** The workspace's tsconfig.base.json (path aliases for TypeScript drivers in development). */
export const WORKSPACE_TSCONFIG = join(__dirname, '..', '..', '..', 'tsconfig.base.json');

/** Variables a driver never sees: the host's own NATS credentials (a plugin must not talk to the bus). */
const HIDDEN_ENV = /^NATS_/;

export interface SpawnOptions {
  readonly init: WorkerInit;
  readonly resourceLimits: ResourceLimits;
}

/**
 * Starts a driver worker. From TypeScript sources the worker registers @swc-node/register (with the workspace's
 * path aliases) and runs worker-main.ts; in the production bundle (main.js) it runs the bundle itself, whose main
 * recognises the worker data. Its stdout/stderr are piped to the host (not to the process's), and its environment
 * lacks the host's NATS credentials.
 */
export function spawnDriverWorker(options: SpawnOptions): Worker {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env))
    if (value !== undefined && !HIDDEN_ENV.test(key)) env[key] = value;
  const common = {
    workerData: options.init,
    resourceLimits: options.resourceLimits,
    stdout: true,
    stderr: true,
    env,
  } as const;
  if (RUNNING_TYPESCRIPT) {
    env['SWC_NODE_PROJECT'] ??= WORKSPACE_TSCONFIG;
    const register = createRequire(__filename).resolve('@swc-node/register');
    const code = [
      `require(${JSON.stringify(register)});`,
      `require(${JSON.stringify(join(__dirname, 'worker-main.ts'))});`,
    ].join('\n');
    return new Worker(code, { ...common, eval: true });
  }
  return new Worker(__filename, common);
}
