// A tiny service for the kit's process-level tests: node tools/run-ts.js libs/service-kit/src/__fixtures__/fixture-service.ts
import { setTimeout as delay } from 'node:timers/promises';
import { defineService, runService } from '../index';
import { z } from 'zod';

export const fixtureService = defineService({
  name: 'kit-fixture',
  version: '0.0.1',
  env: z.object({
    FIXTURE_GREETING: z.string().min(1),
    FIXTURE_STOP_DELAY_MS: z.coerce.number().int().min(0).default(0),
  }),
  start(ctx) {
    ctx.log.info({ greeting: ctx.env.FIXTURE_GREETING }, 'fixture running');
    const timer = setInterval(() => ctx.health.incrementCounter('ticks'), 50);
    return {
      async stop() {
        clearInterval(timer);
        await delay(ctx.env.FIXTURE_STOP_DELAY_MS);
        ctx.log.info('fixture loop stopped');
      },
    };
  },
});

void runService(fixtureService);
