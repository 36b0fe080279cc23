import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
// The propagator's own module, not the package index: the index also loads the SDK-info and semantic-convention
// constants (~200 KiB of code evaluated in every service) that propagation does not need. Pinned version (2.12.0).
import { W3CTraceContextPropagator } from '@opentelemetry/core/build/src/trace/W3CTraceContextPropagator';
import type { SpanExporter } from '@opentelemetry/sdk-trace-node';

/**
 * Tracing of one service (DESIGN: W3C trace context in NATS headers, @opentelemetry/api).
 *
 * Always on: the W3C `traceparent` propagator and an AsyncLocalStorage context manager, so the context a message
 * arrived with (libs/bus extracts it) is the active one in its handler and goes on with every message the handler
 * sends — a trace id follows one decision from the meter reading to the device write even when nothing is exported.
 *
 * Export is switched on by the standard OpenTelemetry variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) → spans are recorded and sent as OTLP/HTTP JSON in batches; unless
 * `OTEL_SDK_DISABLED=true`. Without an endpoint, spans are not recorded (no cost beyond the propagation), and the SDK
 * and the OTLP exporter are not even loaded: they would add ~2 MiB of heap and ~6 MiB of RSS to every service.
 */
export interface TracingOptions {
  readonly service: string;
  readonly version: string;
  readonly instanceId: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Tests: export to this exporter synchronously (one span at a time) instead of OTLP. */
  readonly exporter?: SpanExporter;
}

export interface Tracing {
  /** Whether spans are recorded and exported. */
  readonly exporting: boolean;
  /** The endpoint spans go to (OTLP), if any. */
  readonly endpoint?: string;
  /** Flushes pending spans and unregisters. */
  shutdown(): Promise<void>;
}

let contextManager: AsyncLocalStorageContextManager | undefined;

/**
 * Registers propagation (always) and, when configured, a recording tracer provider with an exporter. Asynchronous
 * because the SDK is imported only then.
 */
export async function startTracing(opts: TracingOptions): Promise<Tracing> {
  if (!contextManager) {
    contextManager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(contextManager);
  }
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());

  const endpoint = opts.env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] || opts.env['OTEL_EXPORTER_OTLP_ENDPOINT'] || undefined;
  const disabled = opts.env['OTEL_SDK_DISABLED'] === 'true';
  if (disabled || (!endpoint && !opts.exporter)) return { exporting: false, shutdown: async () => undefined };

  const [{ BatchSpanProcessor, NodeTracerProvider, SimpleSpanProcessor }, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/resources'),
  ]);
  const exporter = opts.exporter ?? new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      'service.name': opts.service,
      'service.version': opts.version,
      'service.instance.id': opts.instanceId,
    }),
    spanProcessors: [opts.exporter ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1_000 })],
  });
  trace.setGlobalTracerProvider(provider);
  return {
    exporting: true,
    ...(endpoint ? { endpoint } : {}),
    shutdown: async () => {
      await provider.shutdown().catch(() => undefined);
      trace.disable();
    },
  };
}

/** The tracer services use for their spans (a no-op one until tracing exports). */
export function serviceTracer(): Tracer {
  return trace.getTracer('voltimax');
}
