// Composition root: env (exit 78 on a bad SITE_FILE) → logger → NATS → one worker thread per driver + readings +
// write path → signals. The production bundle is also the drivers' worker script: in a worker it serves a driver.
import { isMainThread, workerData } from 'node:worker_threads';
import { runService } from '@voltimax/service-kit';
import { isWorkerInit } from './protocol';
import { driverHostService } from './service';
import { runDriverWorker } from './worker-runtime';

if (!isMainThread && isWorkerInit(workerData)) runDriverWorker();
else void runService(driverHostService());
