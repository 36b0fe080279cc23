import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  NodeTracerProvider,
  SimpleSpanProcessor,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-node';

/**
 * Tracing of one service (DESIGN: W3C trace context in NATS headers, @opentelemetry/api).
 *
 * Always on: the W3C `traceparent` propagator and an AsyncLocalStorage context manager, so the context a message
 * arrived with (libs/bus extracts it) is the active one in its handler and goes on with every message the handler
 * sends — a trace id follows one decision from the meter reading to the device write even when nothing is exported.
 *
 * Export is switched on by the standard OpenTelemetry variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) → spans are recorded and sent as OTLP/HTTP JSON in batches; unless
 * `OTEL_SDK_DISABLED=true`. Without an endpoint, spans are not recorded (no cost beyond the propagation).
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

/** Registers propagation (always) and, when configured, a recording tracer provider with an exporter. */
export function startTracing(opts: TracingOptions): Tracing {
  if (!contextManager) {
    contextManager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(contextManager);
  }
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());

  const endpoint = opts.env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] || opts.env['OTEL_EXPORTER_OTLP_ENDPOINT'] || undefined;
  const disabled = opts.env['OTEL_SDK_DISABLED'] === 'true';
  if (disabled || (!endpoint && !opts.exporter)) return { exporting: false, shutdown: async () => undefined };

  const exporter = opts.exporter ?? new OTLPTraceExporter();
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
