// Entry of a driver worker thread when the host runs from its TypeScript sources (development, tests): the host
// starts it through @swc-node/register (worker-spawn.ts). The production bundle starts main.js instead.
import { runDriverWorker } from './worker-runtime';

runDriverWorker();
