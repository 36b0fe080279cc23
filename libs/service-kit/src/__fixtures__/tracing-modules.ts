// Prints which OpenTelemetry packages startTracing loaded, for tracing.spec.ts:
// node tools/run-ts.js libs/service-kit/src/__fixtures__/tracing-modules.ts
import { startTracing } from '../lib/tracing';

void startTracing({ service: 'tracing-fixture', version: '0.0.1', instanceId: 'fixture-1', env: process.env }).then(
  async (tracing) => {
    const packages = Object.keys(require.cache).flatMap((file) => /node_modules\/(@opentelemetry\/[^/]+)\//.exec(file)?.[1] ?? []);
    process.stdout.write(`${JSON.stringify({ exporting: tracing.exporting, loaded: [...new Set(packages)].sort() })}\n`);
    await tracing.shutdown();
  },
);
