// A stand-in OpenTelemetry collector for the end-to-end tests: a real HTTP server on 127.0.0.1 that accepts what the
// services' OTLP/HTTP JSON span exporter sends (`POST /v1/traces`) and keeps the spans with their service name.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CollectedSpan {
  readonly service: string;
  readonly name: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
}

export interface OtlpCollector {
  /** For OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces). */
  readonly endpoint: string;
  readonly spans: CollectedSpan[];
  /** Requests that were not valid OTLP JSON. */
  readonly rejected: number;
  close(): Promise<void>;
}

/** OTLP JSON carries ids as hex (the spec's JSON mapping); base64 from protobuf-style encoders is converted. */
function hexId(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  if (/^[0-9a-f]+$/i.test(value) && (value.length === 16 || value.length === 32)) return value.toLowerCase();
  return Buffer.from(value, 'base64').toString('hex');
}

interface OtlpAttribute {
  key?: string;
  value?: { stringValue?: string };
}
interface OtlpBody {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: { spans?: { name?: string; traceId?: string; spanId?: string; parentSpanId?: string }[] }[];
  }[];
}

export async function startOtlpCollector(): Promise<OtlpCollector> {
  const spans: CollectedSpan[] = [];
  let rejected = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        if (req.method !== 'POST' || req.url !== '/v1/traces') throw new Error(`${req.method} ${req.url}`);
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpBody;
        for (const rs of body.resourceSpans ?? []) {
          const service = rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value?.stringValue ?? '?';
          for (const ss of rs.scopeSpans ?? []) {
            for (const span of ss.spans ?? []) {
              const traceId = hexId(span.traceId);
              const spanId = hexId(span.spanId);
              if (!traceId || !spanId || !span.name) continue;
              const parentSpanId = hexId(span.parentSpanId);
              spans.push({ service, name: span.name, traceId, spanId, ...(parentSpanId ? { parentSpanId } : {}) });
            }
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      } catch {
        rejected += 1;
        res.writeHead(400);
        res.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    get rejected() {
      return rejected;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * The chain of spans from `leaf` up to its root, following parent ids within one trace (leaf first). Stops where a
 * parent was not (yet) exported.
 */
export function ancestry(spans: readonly CollectedSpan[], leaf: CollectedSpan): CollectedSpan[] {
  const byId = new Map(spans.filter((s) => s.traceId === leaf.traceId).map((s) => [s.spanId, s]));
  const chain = [leaf];
  let current = leaf;
  while (current.parentSpanId !== undefined) {
    const parent = byId.get(current.parentSpanId);
    if (!parent || chain.includes(parent)) break;
    chain.push(parent);
    current = parent;
  }
  return chain;
}
