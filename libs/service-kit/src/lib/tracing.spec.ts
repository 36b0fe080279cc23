// What startTracing loads, seen from a real process (Jest's own module registry would hide it).
import { runFixture } from '../__fixtures__/run-fixture';

async function loadedPackages(env: Record<string, string>): Promise<{ exporting: boolean; loaded: string[] }> {
  const result = await runFixture('tracing-modules.ts', env);
  if (result.code !== 0) throw new Error(`fixture exited ${String(result.code)}: ${result.stderr}`);
  return JSON.parse(result.stdout) as { exporting: boolean; loaded: string[] };
}

describe('startTracing module loading', () => {
  it('loads neither the tracing SDK nor the OTLP exporter when spans are not exported', async () => {
    const result = await loadedPackages({});

    expect(result.exporting).toBe(false);
    expect(result.loaded).toEqual(['@opentelemetry/api', '@opentelemetry/context-async-hooks', '@opentelemetry/core']);
  }, 30_000);

  it('loads the SDK and the OTLP exporter once an endpoint is set', async () => {
    // Nothing listens there; no span is started, so nothing is sent.
    const result = await loadedPackages({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' });

    expect(result.exporting).toBe(true);
    expect(result.loaded).toEqual(
      expect.arrayContaining(['@opentelemetry/sdk-trace-node', '@opentelemetry/exporter-trace-otlp-http', '@opentelemetry/resources']),
    );
  }, 30_000);
});
