/**
 * Span helpers: a sampled trace gets every child span with its attributes, an unsampled one
 * gets none (the non-recording parent stands in, attributes are never built), an ended sampled
 * parent still gets children, and the upstream traceparent is the W3C propagator's header.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ROOT_CONTEXT, type Span, TraceFlags, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  InMemorySpanExporter,
  ParentBasedSampler,
  type Sampler,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import {
  inSpan,
  recordsChildren,
  refreshTracer,
  SpanKind,
  startChildSpan,
  startServerSpan,
  traceparentOf,
} from './spans.ts';

const exporter = new InMemorySpanExporter();
let provider: TracerProvider | undefined;

async function install(sampler: Sampler): Promise<void> {
  await provider?.shutdown();
  trace.disable();
  provider = new TracerProvider({ sampler, spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  trace.setGlobalTracerProvider(provider);
  refreshTracer();
}

async function finished() {
  await provider!.forceFlush();
  return exporter.getFinishedSpans();
}

/** The propagator's own header for `span` (what the helper replaced). */
function injected(span: Span): string | undefined {
  const carrier: Record<string, string> = {};
  new W3CTraceContextPropagator().inject(trace.setSpan(ROOT_CONTEXT, span), carrier, {
    set: (target, key, value) => {
      target[key] = value;
    },
  });
  return carrier.traceparent;
}

describe('span helpers', () => {
  beforeEach(() => exporter.reset());
  after(async () => {
    await provider?.shutdown();
    trace.disable();
    refreshTracer();
  });

  describe('sampled trace', () => {
    before(() => install(new ParentBasedSampler({ root: new AlwaysOnSampler() })));

    test('children are spans of their own, with their attributes, eager or built on demand', async () => {
      const root = startServerSpan('http.request', {}, () => ({ 'gateway.request_id': 'r1' }));
      assert.ok(recordsChildren(root));
      const eager = startChildSpan(root, 'gateway.auth', { 'gateway.module': 'auth' });
      const lazy = startChildSpan(
        root,
        'gateway.provider.request',
        () => ({ 'gateway.provider': 'p' }),
        SpanKind.CLIENT,
      );
      assert.notEqual(eager, root);
      eager.end();
      lazy.end();
      const result = await inSpan(
        root,
        'gateway.request.decode',
        (span) => {
          assert.notEqual(span, root);
          return 42;
        },
        () => ({ 'gateway.route': '/v1/x' }),
      );
      assert.equal(result, 42);
      await assert.rejects(
        inSpan(root, 'gateway.provider.route', () => Promise.reject(new Error('boom'))),
        /boom/,
      );
      root.end();
      const spans = await finished();
      const byName = new Map(spans.map((span) => [span.name, span]));
      const rootSpan = byName.get('http.request')!;
      assert.equal(rootSpan.attributes['gateway.request_id'], 'r1');
      for (const name of [
        'gateway.auth',
        'gateway.provider.request',
        'gateway.request.decode',
        'gateway.provider.route',
      ])
        assert.equal(byName.get(name)?.parentSpanContext?.spanId, rootSpan.spanContext().spanId, name);
      assert.equal(byName.get('gateway.auth')!.attributes['gateway.module'], 'auth');
      assert.equal(byName.get('gateway.provider.request')!.attributes['gateway.provider'], 'p');
      assert.equal(byName.get('gateway.provider.request')!.kind, SpanKind.CLIENT);
      assert.equal(byName.get('gateway.request.decode')!.attributes['gateway.route'], '/v1/x');
      assert.equal(byName.get('gateway.provider.route')!.attributes['error.class'], 'internal_error');
      assert.equal(byName.get('gateway.provider.route')!.status.code, 2);
    });

    test('an ended sampled parent still gets children (the usage spans after the response)', async () => {
      const root = startServerSpan('http.request', {}, {});
      root.end();
      assert.equal(root.isRecording(), false);
      assert.ok(recordsChildren(root));
      const child = startChildSpan(root, 'gateway.usage.collect');
      assert.notEqual(child, root);
      child.end();
      const spans = await finished();
      assert.deepEqual(spans.map((span) => span.name).sort(), ['gateway.usage.collect', 'http.request']);
    });

    test('without a parent a span is made, as ever', async () => {
      startChildSpan(undefined, 'gateway.cache.lookup', () => ({ 'gateway.module': 'auth' })).end();
      const spans = await finished();
      assert.equal(spans.length, 1);
      assert.equal(spans[0]!.attributes['gateway.module'], 'auth');
    });

    test('traceparentOf is the propagator header of the span', () => {
      const root = startServerSpan('http.request', {}, {});
      const child = startChildSpan(root, 'gateway.provider.request');
      assert.equal(traceparentOf(child), injected(child));
      assert.match(traceparentOf(child)!, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      child.end();
      root.end();
    });

    test('an incoming sampled traceparent is the root parent', async () => {
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const root = startServerSpan('http.request', { traceparent: `00-${traceId}-00f067aa0ba902b7-01` }, {});
      const child = startChildSpan(root, 'gateway.auth');
      assert.equal(child.spanContext().traceId, traceId);
      child.end();
      root.end();
      const spans = await finished();
      assert.equal(
        spans.find((span) => span.name === 'http.request')!.parentSpanContext?.spanId,
        '00f067aa0ba902b7',
      );
    });
  });

  describe('unsampled trace', () => {
    before(() => install(new AlwaysOffSampler()));

    test('the root keeps a real trace id; children are the root itself, attributes never built', async () => {
      let built = 0;
      const attributes = () => {
        built += 1;
        return { 'gateway.module': 'auth' };
      };
      const root = startServerSpan('http.request', {}, attributes);
      assert.ok(trace.isSpanContextValid(root.spanContext()), 'a real trace id for logs and usage records');
      assert.equal(root.spanContext().traceFlags & TraceFlags.SAMPLED, 0);
      assert.equal(recordsChildren(root), false);
      const child = startChildSpan(root, 'gateway.auth', attributes);
      assert.equal(child, root);
      child.setAttribute('gateway.decision', 'allow');
      child.end();
      let seen: Span | undefined;
      assert.equal(
        await inSpan(
          root,
          'gateway.request.decode',
          (span) => {
            seen = span;
            return 'done';
          },
          attributes,
        ),
        'done',
      );
      assert.equal(seen, root);
      await assert.rejects(
        inSpan(root, 'gateway.provider.route', () => {
          throw new Error('sync failure');
        }),
        /sync failure/,
      );
      await assert.rejects(
        inSpan(root, 'gateway.provider.route', async () => Promise.reject(new Error('async'))),
        /async/,
      );
      assert.equal(built, 0);
      root.end();
      assert.equal((await finished()).length, 0);
      assert.equal(traceparentOf(child), injected(root));
      assert.match(traceparentOf(child)!, new RegExp(`^00-${root.spanContext().traceId}-[0-9a-f]{16}-00$`));
    });

    test('an incoming traceparent keeps its trace id under an unsampled root', () => {
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const root = startServerSpan('http.request', { traceparent: `00-${traceId}-00f067aa0ba902b7-01` }, {});
      assert.equal(root.spanContext().traceId, traceId);
      assert.equal(startChildSpan(root, 'gateway.auth'), root);
    });
  });

  describe('no tracer provider', () => {
    before(async () => {
      await provider?.shutdown();
      provider = undefined;
      trace.disable();
      refreshTracer();
    });

    test('spans are invalid no-ops and the traceparent is absent, as the propagator would leave it', async () => {
      const root = startServerSpan('http.request', {}, {});
      assert.equal(trace.isSpanContextValid(root.spanContext()), false);
      const child = startChildSpan(root, 'gateway.auth');
      assert.equal(traceparentOf(child), undefined);
      assert.equal(injected(child), undefined);
      assert.equal(await inSpan(root, 'gateway.auth', () => 1), 1);
    });
  });
});
