// W3C trace context across real NATS: a span started before a publish is the parent of the span the receiving
// handler starts; without an endpoint nothing is recorded.
import { context, trace, type Span } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-node';
import { connectBus, createBus, type BusConnection } from '@voltimax/bus';
import { captureLogger } from '@voltimax/bus/testing';
import { exampleReadings } from '@voltimax/contracts/testing';
import { subjects } from '@voltimax/contracts';
import { startNats, waitFor, type NatsTestServer } from '@voltimax/testing';
import { serviceTracer, startTracing, type Tracing } from './tracing';

describe('tracing over NATS', () => {
  let nats: NatsTestServer;
  let a: BusConnection;
  let b: BusConnection;
  let tracing: Tracing;
  const exporter = new InMemorySpanExporter();
  const log = captureLogger('warn');

  beforeAll(async () => {
    tracing = await startTracing({ service: 'trace-test', version: '0.0.0', instanceId: 't-1', env: {}, exporter });
    nats = await startNats();
    a = await connectBus({ servers: nats.url, name: 'a', log: log.log });
    b = await connectBus({ servers: nats.url, name: 'b', log: log.log });
  });
  afterAll(async () => {
    await a.nc.close();
    await b.nc.close();
    await nats.stop();
    await tracing.shutdown();
  });

  it('exports spans and makes the sender\'s span the parent of the receiver\'s', async () => {
    expect(tracing.exporting).toBe(true);
    const sender = createBus(a.nc, log.log);
    const receiver = createBus(b.nc, log.log);
    const handled: string[] = [];
    receiver.subscribe(subjects.telemetry, () => {
      const span = serviceTracer().startSpan('handle reading');
      handled.push(span.spanContext().traceId);
      span.end();
    });
    await b.nc.flush();

    const root: Span = serviceTracer().startSpan('poll grid-1');
    context.with(trace.setSpan(context.active(), root), () => sender.publish(subjects.telemetry, { assetId: 'grid-1' }, exampleReadings.gridMeter));
    root.end();
    await waitFor(() => handled.length === 1, { timeoutMs: 5_000, message: 'the handler to run' });

    expect(handled[0]).toBe(root.spanContext().traceId);
    const spans = exporter.getFinishedSpans();
    const child = spans.find((s) => s.name === 'handle reading');
    expect(child?.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    expect(child?.resource.attributes['service.name']).toBe('trace-test');
  });
});

describe('startTracing', () => {
  it('does not record without an endpoint, and honours OTEL_SDK_DISABLED', async () => {
    const off = await startTracing({ service: 's', version: '0', instanceId: 'i', env: {} });
    expect(off.exporting).toBe(false);
    const disabled = await startTracing({
      service: 's',
      version: '0',
      instanceId: 'i',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' },
    });
    expect(disabled.exporting).toBe(false);
    const on = await startTracing({ service: 's', version: '0', instanceId: 'i', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' } });
    expect(on).toMatchObject({ exporting: true, endpoint: 'http://127.0.0.1:4318' });
    await on.shutdown();
  });
});
