import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import {
  context,
  createTraceState,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  trace,
  TraceFlags,
  type Context,
  type ContextManager,
  type SpanContext,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
} from '@opentelemetry/api';

const TRACEPARENT = 'traceparent';
const TRACESTATE = 'tracestate';
const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * A minimal W3C Trace Context propagator (`traceparent`, `tracestate`) for tests: @opentelemetry/core is not a
 * dependency of this workspace. Production services register the SDK's propagator instead.
 */
export class W3CTraceContextTestPropagator implements TextMapPropagator<unknown> {
  inject(ctx: Context, carrier: unknown, setter: TextMapSetter<unknown>): void {
    const span = trace.getSpanContext(ctx);
    if (!span || !isSpanContextValid(span)) return;
    const flags = (span.traceFlags & TraceFlags.SAMPLED).toString(16).padStart(2, '0');
    setter.set(carrier, TRACEPARENT, `00-${span.traceId}-${span.spanId}-${flags}`);
    const state = span.traceState?.serialize();
    if (state) setter.set(carrier, TRACESTATE, state);
  }

  extract(ctx: Context, carrier: unknown, getter: TextMapGetter<unknown>): Context {
    const header = first(getter.get(carrier, TRACEPARENT));
    const match = header === undefined ? null : TRACEPARENT_RE.exec(header.trim());
    if (!match) return ctx;
    const [, traceId = '', spanId = '', flags = '00'] = match;
    const state = first(getter.get(carrier, TRACESTATE));
    const span: SpanContext = {
      traceId,
      spanId,
      traceFlags: parseInt(flags, 16),
      isRemote: true,
      ...(state ? { traceState: createTraceState(state) } : {}),
    };
    return isSpanContextValid(span) ? trace.setSpanContext(ctx, span) : ctx;
  }

  fields(): string[] {
    return [TRACEPARENT, TRACESTATE];
  }
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Context manager on AsyncLocalStorage, so `context.with` really carries a context across awaits in tests. */
export class AsyncLocalStorageTestContextManager implements ContextManager {
  private storage = new AsyncLocalStorage<Context>();

  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.storage.run(ctx, () => fn.apply(thisArg, args));
  }

  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const run = (...args: unknown[]): unknown =>
      this.storage.run(ctx, () => (target as (...a: unknown[]) => unknown)(...args));
    return run as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.storage.disable();
    this.storage = new AsyncLocalStorage<Context>();
    return this;
  }
}

/** Register the test propagator and context manager globally; `uninstall()` in afterAll. */
export function installTestTracing(): { uninstall(): void } {
  const manager = new AsyncLocalStorageTestContextManager();
  context.setGlobalContextManager(manager);
  propagation.setGlobalPropagator(new W3CTraceContextTestPropagator());
  return {
    uninstall() {
      propagation.disable();
      context.disable();
    },
  };
}

/** A context carrying a fresh, sampled remote span context, as if a trace had started elsewhere. */
export function contextWithNewTrace(traceState?: string): { ctx: Context; span: SpanContext } {
  const span: SpanContext = {
    traceId: randomBytes(16).toString('hex'),
    spanId: randomBytes(8).toString('hex'),
    traceFlags: TraceFlags.SAMPLED,
    ...(traceState ? { traceState: createTraceState(traceState) } : {}),
  };
  return { ctx: trace.setSpanContext(ROOT_CONTEXT, span), span };
}
