import {
  context,
  propagation,
  ROOT_CONTEXT,
  type Context,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';

/** Message headers as the bus hands them around: one value per key (NATS keeps the first). */
export type BusHeaders = Readonly<Record<string, string>>;

const setter: TextMapSetter<Record<string, string>> = {
  set(carrier, key, value) {
    carrier[key] = value;
  },
};

const getter: TextMapGetter<BusHeaders> = {
  keys(carrier) {
    return Object.keys(carrier);
  },
  get(carrier, key) {
    const exact = carrier[key];
    if (exact !== undefined) return exact;
    const lower = key.toLowerCase();
    const found = Object.keys(carrier).find((k) => k.toLowerCase() === lower);
    return found === undefined ? undefined : carrier[found];
  },
};

/** The caller's headers plus `traceparent`/`tracestate` of the active context (whatever propagator is registered). */
export function withTraceHeaders(headers: BusHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = { ...headers };
  propagation.inject(context.active(), out, setter);
  return out;
}

/** The remote trace context carried in the headers, on top of the root context. */
export function extractTraceContext(headers: BusHeaders): Context {
  return propagation.extract(ROOT_CONTEXT, headers, getter);
}
