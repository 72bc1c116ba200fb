/**
 * Span helpers for domain code, on `@opentelemetry/api` only (the SDK is wired once by the
 * composition root). Parents are passed explicitly rather than through an async context
 * manager: the request path stays free of AsyncLocalStorage bookkeeping, and a stage needs
 * one line to trace itself: `await inSpan(context.span, spanNames.x, (span) => work())`.
 */
import {
  type Attributes,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { GatewayError } from '../errors.ts';
import { spanAttributes } from './catalog.ts';

// Looked up again whenever the composition root installs a provider: the API's proxy tracer
// caches its first delegate, which would outlive a provider shut down by an earlier gateway.
let tracer: Tracer = trace.getTracer('odock-server');

/** Called by the composition root after it installs (or removes) the global tracer provider. */
export function refreshTracer(): void {
  tracer = trace.getTracerProvider().getTracer('odock-server');
}
const propagator = new W3CTraceContextPropagator();
const headerGetter: TextMapGetter<Record<string, string | string[] | undefined>> = {
  get: (carrier, key) => carrier[key],
  keys: (carrier) => Object.keys(carrier),
};

export type { Span };

/** The root `http.request` span; an incoming W3C `traceparent` becomes its parent. */
export function startServerSpan(
  name: string,
  headers: Record<string, string | string[] | undefined>,
  attributes: Attributes,
): Span {
  const parent =
    headers.traceparent === undefined
      ? ROOT_CONTEXT
      : propagator.extract(ROOT_CONTEXT, headers, headerGetter);
  return tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
}

export function startChildSpan(
  parent: Span | undefined,
  name: string,
  attributes?: Attributes,
  kind?: SpanKind,
): Span {
  const parentContext = parent === undefined ? ROOT_CONTEXT : trace.setSpan(ROOT_CONTEXT, parent);
  return tracer.startSpan(name, { attributes, kind: kind ?? SpanKind.INTERNAL }, parentContext);
}

/** Runs `work` in a child span, ending it and recording a failure's class (never its message). */
export async function inSpan<T>(
  parent: Span | undefined,
  name: string,
  work: (span: Span) => Promise<T> | T,
  attributes?: Attributes,
): Promise<T> {
  const span = startChildSpan(parent, name, attributes);
  try {
    return await work(span);
  } catch (error) {
    markSpanFailed(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** Sets `error.class` and an error status. Only the stable code is recorded, never request content. */
export function markSpanFailed(span: Span, error: unknown, errorClass?: string): void {
  if (!span.isRecording()) return;
  const code = errorClass ?? (error instanceof GatewayError ? error.code : 'internal_error');
  span.setAttribute(spanAttributes.errorClass, code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: code });
}

/** The W3C `traceparent` of `span`, for the upstream provider request. */
export function traceparentOf(span: Span): string | undefined {
  const carrier: Record<string, string> = {};
  propagator.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, {
    set: (target, key, value) => {
      target[key] = value;
    },
  });
  return carrier.traceparent;
}

/** Trace and span ids in log-field form; all-zero ids (no tracing at all) are omitted. */
export function spanIds(span: Span | undefined): { trace_id?: string; span_id?: string } {
  if (span === undefined) return {};
  const spanContext = span.spanContext();
  if (!trace.isSpanContextValid(spanContext)) return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}

export { SpanKind };
