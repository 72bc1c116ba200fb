/**
 * Span helpers for domain code, on `@opentelemetry/api` only (the SDK is wired once by the
 * composition root). Parents are passed explicitly rather than through an async context
 * manager: the request path stays free of AsyncLocalStorage bookkeeping, and a stage needs
 * one line to trace itself: `await inSpan(context.span, spanNames.x, (span) => work())`.
 *
 * Spans cost only when their trace is recorded. Under a parent whose trace the sampler dropped
 * (90 % of requests at a 0.1 ratio, all of them with trace export off) a child would be a
 * non-recording span too, so the helpers hand back the parent itself (a non-recording span:
 * its `end()` and setters do nothing) instead of asking the SDK for a new one, and never build
 * the attributes when they are given as a function. Sampled traces get exactly the spans and
 * attributes they always had.
 */
import {
  type Attributes,
  INVALID_SPANID,
  INVALID_TRACEID,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  TraceFlags,
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

/** Span attributes, or a function building them: called only when the span records. */
export type LazyAttributes = Attributes | (() => Attributes);

/**
 * Whether a child of `parent` would be recorded. The samplers in use (parent-based ratio, or
 * always-off with export off) record a child exactly when its parent's trace is sampled. The
 * sampled flag is read rather than `isRecording()` alone: a recorded parent that has already
 * ended (the root span, when the usage record is collected after the response) no longer
 * records, yet its children belong to the sampled trace.
 */
export function recordsChildren(parent: Span): boolean {
  return (parent.spanContext().traceFlags & TraceFlags.SAMPLED) !== 0 || parent.isRecording();
}

/**
 * The root `http.request` span; an incoming W3C `traceparent` becomes its parent. It is always
 * created, recording or not: its trace id goes into the log lines and the usage record.
 * Attributes given as a function are built only when the span records.
 */
export function startServerSpan(
  name: string,
  headers: Record<string, string | string[] | undefined>,
  attributes: LazyAttributes,
): Span {
  const parent =
    headers.traceparent === undefined
      ? ROOT_CONTEXT
      : propagator.extract(ROOT_CONTEXT, headers, headerGetter);
  if (typeof attributes !== 'function')
    return tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
  const span = tracer.startSpan(name, { kind: SpanKind.SERVER }, parent);
  if (span.isRecording()) span.setAttributes(attributes());
  return span;
}

/**
 * A child span of `parent` (or a root span when there is none). Under a parent whose trace is
 * not recorded, `parent` itself is returned: ending it or setting attributes on it is a no-op,
 * and the upstream `traceparent` then names the parent, which nobody records either.
 */
export function startChildSpan(
  parent: Span | undefined,
  name: string,
  attributes?: LazyAttributes,
  kind?: SpanKind,
): Span {
  if (parent !== undefined && !recordsChildren(parent)) return parent;
  const parentContext = parent === undefined ? ROOT_CONTEXT : trace.setSpan(ROOT_CONTEXT, parent);
  return tracer.startSpan(
    name,
    {
      attributes: typeof attributes === 'function' ? attributes() : attributes,
      kind: kind ?? SpanKind.INTERNAL,
    },
    parentContext,
  );
}

/**
 * Runs `work` in a child span, ending it and recording a failure's class (never its message).
 * Under a parent whose trace is not recorded, `work` runs with the parent and no span is made.
 */
export function inSpan<T>(
  parent: Span | undefined,
  name: string,
  work: (span: Span) => Promise<T> | T,
  attributes?: LazyAttributes,
): Promise<T> {
  if (parent !== undefined && !recordsChildren(parent)) {
    try {
      return Promise.resolve(work(parent));
    } catch (error) {
      return Promise.reject(error);
    }
  }
  return runInSpan(startChildSpan(parent, name, attributes), work);
}

/**
 * `inSpan` for synchronous work: the same span (recorded traces only), ended before this returns,
 * with no promise and no microtask for the caller to wait on.
 */
export function inSyncSpan<T>(
  parent: Span | undefined,
  name: string,
  work: (span: Span) => T,
  attributes?: LazyAttributes,
): T {
  if (parent !== undefined && !recordsChildren(parent)) return work(parent);
  const span = startChildSpan(parent, name, attributes);
  try {
    return work(span);
  } catch (error) {
    markSpanFailed(span, error);
    throw error;
  } finally {
    span.end();
  }
}

async function runInSpan<T>(span: Span, work: (span: Span) => Promise<T> | T): Promise<T> {
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

/**
 * The W3C `traceparent` of `span`, for the upstream provider request: the header the W3C
 * propagator would inject, built without its context and carrier objects.
 */
export function traceparentOf(span: Span): string | undefined {
  const spanContext = validSpanContext(span);
  if (spanContext === undefined) return undefined;
  return `00-${spanContext.traceId}-${spanContext.spanId}-0${Number(spanContext.traceFlags || TraceFlags.NONE).toString(16)}`;
}

/**
 * The span's context when it has real ids; undefined for the all-zero ids of the API's no-op span
 * (no tracing at all). Comparing with those ids is enough: the SDK only makes spans with valid
 * ids (an invalid incoming parent starts a new trace), and the no-op tracer only passes on a
 * parent the propagator parsed as valid hex. `trace.isSpanContextValid` would scan both ids as
 * hex again on every request.
 */
export function validSpanContext(span: Span | undefined): SpanContext | undefined {
  const spanContext = span?.spanContext();
  return spanContext !== undefined &&
    spanContext.traceId !== INVALID_TRACEID &&
    spanContext.spanId !== INVALID_SPANID
    ? spanContext
    : undefined;
}

export { SpanKind };
