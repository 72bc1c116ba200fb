/**
 * Traces as a collector receives them: the span tree of a streaming request and of a request
 * whose upstream failed, the resource from OBSERVABILITY_* variables, an incoming traceparent
 * honoured and carried on to the provider, and the same trace id in the request's log lines.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { spanNames } from '../src/observability/catalog.ts';
import { keys, postJson, startTestGateway, type TestGateway } from './helpers/gateway-harness.ts';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from './helpers/otlp-receiver.ts';

describe('OTLP traces', () => {
  let harness: TestGateway;
  let receiver: OtlpReceiver;

  before(async () => {
    receiver = await startOtlpReceiver();
    harness = await startTestGateway({
      env: {
        OBSERVABILITY_OTEL_EXPORTER: 'otlphttp',
        OBSERVABILITY_OTEL_ENDPOINT: receiver.url,
        OBSERVABILITY_SAMPLE_RATE: '1',
        OBSERVABILITY_OTEL_METRICS_EXPORTER: 'otlphttp',
        OBSERVABILITY_OTEL_METRICS_INTERVAL_MS: '200',
        OBSERVABILITY_SERVICE_NAME: 'odock-under-test',
        OBSERVABILITY_SERVICE_VERSION: '9.9.9',
        OBSERVABILITY_SERVICE_INSTANCE_ID: '',
        POD_NAME: 'gateway-pod-7',
        OBSERVABILITY_DEPLOYMENT_ENVIRONMENT: 'staging',
        OBSERVABILITY_K8S_CLUSTER_NAME: 'cluster-a',
        OBSERVABILITY_K8S_NAMESPACE_NAME: 'ai',
      },
    });
  });
  after(async () => {
    await harness.close();
    await receiver.close();
  });

  async function traceOf(requestId: string): Promise<ReceivedSpan[]> {
    for (let waited = 0; waited < 5_000; waited += 50) {
      await harness.gateway.telemetry.flush();
      const root = receiver.spans.find(
        (span) => span.name === 'http.request' && span.attributes['gateway.request_id'] === requestId,
      );
      if (root !== undefined) return receiver.spans.filter((span) => span.traceId === root.traceId);
      await delay(50);
    }
    assert.fail(`no trace exported for ${requestId}`);
  }

  const childrenOf = (spans: ReceivedSpan[], parent: ReceivedSpan) =>
    spans.filter((span) => span.parentSpanId === parent.spanId);
  const one = (spans: ReceivedSpan[], name: string) => {
    const matches = spans.filter((span) => span.name === name);
    assert.equal(matches.length, 1, `exactly one ${name} in ${spans.map((span) => span.name).join(', ')}`);
    return matches[0]!;
  };

  test('a streaming request exports the contract span tree with GenAI attributes and resource', async () => {
    const response = await postJson(`${harness.url}/v1/chat/completions`, {
      model: 'chat',
      stream: true,
      messages: [{ role: 'user', content: 'trace this stream' }],
    });
    assert.equal(response.status, 200);
    const requestId = response.headers.get('x-request-id')!;
    const spans = await traceOf(requestId);

    const root = one(spans, 'http.request');
    assert.equal(root.parentSpanId, undefined);
    assert.equal(root.attributes['gateway.route'], '/v1/chat/completions');
    assert.equal(root.attributes['gateway.endpoint'], 'chat_completions');
    assert.equal(root.attributes['http.response.status_code'], 200);
    assert.equal(root.attributes['organization.id'], 'demo');
    assert.equal(root.attributes['gateway.model'], 'chat');
    assert.equal(root.attributes['gateway.provider'], 'mock-openai');
    assert.equal(root.attributes['gateway.stream'], true);
    const rootChildren = childrenOf(spans, root).map((span) => span.name);
    for (const name of ['gateway.auth', 'gateway.request.decode', 'gateway.provider.route'])
      assert.equal(rootChildren.filter((child) => child === name).length, 1, `one ${name} under the root`);
    for (const name of rootChildren)
      assert.ok((Object.values(spanNames) as string[]).includes(name), `${name} is a contract span name`);
    const auth = one(spans, 'gateway.auth');
    assert.ok(childrenOf(spans, auth).some((span) => span.name === 'gateway.cache.lookup'));
    const decode = one(spans, 'gateway.request.decode');
    assert.deepEqual(
      childrenOf(spans, decode).map((span) => span.name),
      ['gateway.route.resolve'],
    );
    const route = one(spans, 'gateway.provider.route');
    const attempt = one(spans, 'gateway.provider.request');
    assert.equal(attempt.parentSpanId, route.spanId);
    assert.equal(attempt.kind, 3, 'CLIENT');
    assert.equal(attempt.attributes['gen_ai.operation.name'], 'chat');
    assert.equal(attempt.attributes['gen_ai.provider.name'], 'openai');
    assert.equal(attempt.attributes['gen_ai.request.model'], 'mock-gpt');
    assert.equal(attempt.attributes['gen_ai.response.model'], 'mock-gpt');
    assert.ok(Number(attempt.attributes['gen_ai.usage.input_tokens']) > 0);
    assert.ok(Number(attempt.attributes['gen_ai.usage.output_tokens']) > 0);
    assert.deepEqual(attempt.attributes['gen_ai.response.finish_reasons'], ['stop']);
    const stream = one(spans, 'gateway.provider.stream');
    assert.equal(stream.parentSpanId, attempt.spanId);
    assert.ok(stream.events.some((event) => event.name === 'first_chunk'));
    assert.equal(stream.attributes['gateway.decision'], 'completed');

    assert.equal(root.resource['service.name'], 'odock-under-test');
    assert.equal(root.resource['service.version'], '9.9.9');
    assert.equal(root.resource['service.instance.id'], 'gateway-pod-7', 'falls back to POD_NAME');
    assert.equal(root.resource['deployment.environment.name'], 'staging');
    assert.equal(root.resource['k8s.cluster.name'], 'cluster-a');
    assert.equal(root.resource['k8s.namespace.name'], 'ai');

    const json = JSON.stringify(spans);
    assert.doesNotMatch(json, /trace this stream/, 'no message content on spans');

    const logLine = harness.logs
      .join('')
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => line.request_id === requestId);
    assert.equal(logLine?.trace_id, root.traceId);
    assert.equal(logLine?.['service.instance.id'], 'gateway-pod-7');
  });

  test('an upstream failure exports an error tree, and the 502 is on the root span', async () => {
    const response = await postJson(
      `${harness.url}/v1/chat/completions`,
      { model: 'fails-500', messages: [{ role: 'user', content: 'x' }] },
      { authorization: `Bearer ${keys.all}` },
    );
    assert.equal(response.status, 502);
    const spans = await traceOf(response.headers.get('x-request-id')!);
    const root = one(spans, 'http.request');
    assert.equal(root.attributes['http.response.status_code'], 502);
    assert.equal(root.attributes['error.class'], 'upstream_error');
    assert.equal(root.status.code, 2, 'ERROR');
    const attempt = one(spans, 'gateway.provider.request');
    assert.equal(attempt.attributes['http.response.status_code'], 500);
    assert.equal(attempt.attributes['error.class'], 'upstream_error');
    assert.equal(attempt.status.code, 2);
    assert.equal(one(spans, 'gateway.provider.route').status.code, 2);
  });

  test('an incoming traceparent becomes the parent, and the provider call carries the trace onward', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const response = await postJson(
      `${harness.url}/v1/chat/completions`,
      { model: 'chat', messages: [{ role: 'user', content: 'x' }] },
      { authorization: `Bearer ${keys.demo}`, traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    );
    assert.equal(response.status, 200);
    const spans = await traceOf(response.headers.get('x-request-id')!);
    const root = one(spans, 'http.request');
    assert.equal(root.traceId, traceId);
    assert.equal(root.parentSpanId, '00f067aa0ba902b7');
    const attempt = one(spans, 'gateway.provider.request');
    const upstreamTraceparent = String(harness.mock.lastRequestHeaders().traceparent);
    assert.equal(upstreamTraceparent, `00-${traceId}-${attempt.spanId}-01`);
  });

  test('OTLP metric push carries the catalog instruments, and /metrics keeps answering', async () => {
    await postJson(`${harness.url}/v1/chat/completions`, {
      model: 'chat',
      messages: [{ role: 'user', content: 'x' }],
    });
    let pushed: string | undefined;
    for (let waited = 0; waited < 5_000 && pushed === undefined; waited += 100) {
      pushed = receiver.bodies.find((body) => body.includes('"gateway.requests.total"'));
      if (pushed === undefined) await delay(100);
    }
    assert.ok(pushed, 'an OTLP metrics export with gateway.requests.total arrived');
    assert.match(pushed, /"gateway.request.duration"/);
    assert.match(pushed, /"service.instance.id"/);
    const scrape = await fetch(`${harness.url}/metrics`);
    assert.equal(scrape.status, 200);
    assert.match(await scrape.text(), /gateway_requests_total\{/);
  });

  test('no export carries more than a batch of spans: the serialisation that stops the event loop stays short', async () => {
    const bodiesBefore = receiver.bodies.length;
    const answers = await Promise.all(
      Array.from({ length: 40 }, () =>
        postJson(`${harness.url}/v1/chat/completions`, {
          model: 'chat',
          messages: [{ role: 'user', content: 'one of many traced requests' }],
        }),
      ),
    );
    for (const answer of answers) assert.equal(answer.status, 200);
    await harness.gateway.telemetry.flush();
    const spansPerExport = receiver.bodies
      .slice(bodiesBefore)
      .filter((body) => body.startsWith('{"resourceSpans"'))
      .map((body) => body.split('"spanId"').length - 1);
    const exported = spansPerExport.reduce((total, count) => total + count, 0);
    assert.ok(exported >= 40 * 4, `the 40 traces were exported (${exported} spans)`);
    // An export serialises its batch in one go on the event loop: 128 spans take about half a
    // millisecond, 512 (the SDK's default) held every request in flight 2-10 ms.
    assert.ok(
      spansPerExport.every((count) => count <= 128),
      `spans per export: ${spansPerExport.join(', ')}`,
    );
  });

  test('a collector that fails does not fail requests and is counted', async () => {
    receiver.failWith = 503;
    try {
      const response = await postJson(`${harness.url}/v1/chat/completions`, {
        model: 'chat',
        messages: [{ role: 'user', content: 'x' }],
      });
      assert.equal(response.status, 200);
      await harness.gateway.telemetry.flush().catch(() => {});
      const metrics = await (await fetch(`${harness.url}/metrics`)).text();
      assert.match(
        metrics,
        /gateway_async_tasks_total\{async_pool_name="trace_export",outcome="failed"\} [1-9]/,
      );
    } finally {
      receiver.failWith = undefined;
    }
  });
});
