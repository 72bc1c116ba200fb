/**
 * The gateway's OTLP/JSON span writer against the one it replaces: for the same finished spans,
 * the request body parses to exactly what OpenTelemetry's `JsonTraceSerializer` writes (the
 * reference), for spans the SDK made (every kind, parents local and remote, events, links,
 * statuses, attributes of each type the SDK keeps, several scopes and resources) and for
 * hand-made spans with what the SDK's API never lets through (bytes, key-value lists, empty
 * values, non-finite numbers).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type Attributes,
  context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
} from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { otlpJsonOf, serializeSpansAsOtlpJson } from './otlp-json-spans.ts';

function reference(spans: ReadableSpan[]): unknown {
  return JSON.parse(new TextDecoder().decode(JsonTraceSerializer.serializeRequest(spans)));
}

function ours(spans: ReadableSpan[]): unknown {
  const text = new TextDecoder().decode(serializeSpansAsOtlpJson(spans));
  assert.equal(text, otlpJsonOf(spans));
  return JSON.parse(text);
}

function providerWith(attributes: Attributes, schemaUrl?: string) {
  const exporter = new InMemorySpanExporter();
  const resource = resourceFromAttributes(attributes, schemaUrl === undefined ? undefined : { schemaUrl });
  const provider = new TracerProvider({
    resource,
    sampler: new AlwaysOnSampler(),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  return { provider, exporter };
}

const awkward = 'quote " backslash \\ newline \n tab \t nul \u0000 bell \u0007 é ü 漢字 😀 lone \ud800 end';
const long = `${'x'.repeat(200)}"${'y'.repeat(50)}`;

describe('OTLP/JSON spans', () => {
  test('spans the SDK made: the same request as the transformer writes', async () => {
    const { provider, exporter } = providerWith({
      'service.name': 'odock-server',
      'service.instance.id': 'pod-7',
      'process.pid': 4242,
    });
    const tracer = provider.getTracer('odock-server');
    const other = provider.getTracer('other-scope', '1.2.3', {
      schemaUrl: 'https://opentelemetry.io/schemas/1.30.0',
    });

    const root = tracer.startSpan('http.request', {
      kind: SpanKind.SERVER,
      attributes: {
        'gateway.request_id': 'req-1',
        'http.response.status_code': 200,
        'gateway.ratio': 0.25,
        'gateway.stream': false,
        'gateway.cache.hit': true,
        'gen_ai.response.finish_reasons': ['stop', 'length'],
        'gateway.counts': [1, 2, 3],
        'gateway.fractions': [0.5, 1.5],
        'gateway.flags': [true, false],
        'gateway.awkward': awkward,
        'gateway.long': long,
        [awkward]: 'key needing escapes',
        'gateway.negative': -7,
        'gateway.huge': 2 ** 60,
        'gateway.empty': '',
        // One character needing an escape each, so each check of the writer's scan is needed.
        'only.quote': 'say "hi"',
        'only.backslash': 'C:\\path',
        'only.control': 'line\nbreak',
        'only.lone_surrogate': 'half \udc00 pair',
        'only.pair': 'emoji 😀 pair',
      },
    });
    const parentContext = trace.setSpan(ROOT_CONTEXT, root);
    const child = tracer.startSpan('gateway.provider.request', { kind: SpanKind.CLIENT }, parentContext);
    child.addEvent('retry', { 'gateway.retry_count': 1, reason: 'upstream_timeout' });
    child.addEvent('no attributes');
    child.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream_error' });
    child.end();
    const linked = other.startSpan(
      'gateway.publish.usage',
      {
        kind: SpanKind.PRODUCER,
        links: [
          { context: child.spanContext(), attributes: { 'link.kind': 'follows' } },
          {
            context: {
              traceId: '0af7651916cd43dd8448eb211c80319c',
              spanId: 'b7ad6b7169203331',
              traceFlags: TraceFlags.SAMPLED,
              isRemote: true,
              traceState: new TraceState('vendor=a,other=b'),
            },
          },
        ],
      },
      parentContext,
    );
    linked.setStatus({ code: SpanStatusCode.OK });
    linked.end();
    const consumer = other.startSpan('consume', { kind: SpanKind.CONSUMER }, parentContext);
    consumer.end();
    root.end();

    // A span under a remote parent (an incoming traceparent), with a trace state.
    const remoteParent = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
      traceState: new TraceState('congo=t61rcWkgMzE'),
    });
    context.with(remoteParent, () => tracer.startSpan('remote child', {}, remoteParent).end());

    await provider.forceFlush();
    const spans = exporter.getFinishedSpans();
    assert.equal(spans.length, 5);
    assert.deepEqual(ours(spans), reference(spans));

    // Two resources (two providers) and their scopes, interleaved, group as the transformer groups them.
    const second = providerWith({ 'service.name': 'second' }, 'https://opentelemetry.io/schemas/1.31.0');
    second.provider.getTracer('odock-server').startSpan('second.a').end();
    second.provider.getTracer('odock-server', '2.0.0').startSpan('second.b').end();
    await second.provider.forceFlush();
    const mixed = [spans[0]!, ...second.exporter.getFinishedSpans(), spans[2]!, spans[4]!];
    assert.deepEqual(ours(mixed), reference(mixed));
  });

  test('what only a hand-made span carries: bytes, key-value lists, empty and non-finite values', async () => {
    const { provider, exporter } = providerWith({ 'service.name': 'odock-server' });
    provider.getTracer('odock-server', undefined, {}).startSpan('template').end();
    await provider.forceFlush();
    const template = exporter.getFinishedSpans()[0]!;
    const attributes = {
      bytes: new Uint8Array([0, 1, 2, 250, 255]),
      list: { nested: 'value', count: 3, inner: { deep: [1, 'two', null] } },
      nothing: null,
      missing: undefined,
      notANumber: Number.NaN,
      infinite: Number.POSITIVE_INFINITY,
      mixed: ['a', 1, 1.5, true, null],
      emptyArray: [],
    } as unknown as Attributes;
    const span: ReadableSpan = {
      name: 'hand-made',
      kind: SpanKind.INTERNAL,
      spanContext: () => ({
        traceId: '0af7651916cd43dd8448eb211c80319c',
        spanId: 'b7ad6b7169203331',
        traceFlags: 3,
      }),
      parentSpanContext: {
        traceId: '0af7651916cd43dd8448eb211c80319c',
        spanId: '',
        traceFlags: 1,
      },
      startTime: [0, 5],
      endTime: [1_765_000_000, 42],
      status: { code: SpanStatusCode.UNSET },
      attributes,
      links: [],
      events: [{ name: 'event', time: [1_765_000_000, 999_999_999], droppedAttributesCount: 2 }],
      duration: [1, 0],
      ended: true,
      resource: template.resource,
      instrumentationScope: {
        name: 'scope with attributes',
        version: '0.1',
        attributes: { 'scope.key': 'scope value' },
        droppedAttributesCount: 1,
      } as ReadableSpan['instrumentationScope'],
      droppedAttributesCount: 3,
      droppedEventsCount: 4,
      droppedLinksCount: 5,
    };
    assert.deepEqual(ours([span]), reference([span]));
  });

  test('no spans: an empty request', () => {
    assert.deepEqual(ours([]), reference([]));
    assert.equal(otlpJsonOf([]), '{"resourceSpans":[]}');
  });
});
