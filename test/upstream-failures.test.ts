/**
 * Upstream failures as a client sees them: status errors mapped to the registry, deadlines,
 * resets, mid-stream failures reported as error events (never a normal end), and a client
 * disconnect that cancels the upstream request.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { RequestContext } from '../src/gateway/request-context.ts';
import { keys, postJson, startTestGateway, type TestGateway } from './helpers/gateway-harness.ts';

function sseDataLines(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(5).trim());
}

/**
 * The context the usage seat recorded for a request: the seat is called when the server sees the
 * response close, a moment after the client's end.
 */
async function recordedContext(
  recorded: readonly RequestContext[],
  requestId: string | null,
): Promise<RequestContext | undefined> {
  for (let waited = 0; waited < 3_000; waited += 20) {
    const context = recorded.find((entry) => entry.requestId === requestId);
    if (context !== undefined) return context;
    await delay(20);
  }
  return undefined;
}

describe('upstream failures', () => {
  let harness: TestGateway;
  const recorded: RequestContext[] = [];
  const bearer = { authorization: `Bearer ${keys.all}` };
  const chat = (model: string, extra: Record<string, unknown> = {}) =>
    postJson(
      `${harness.url}/v1/chat/completions`,
      { model, messages: [{ role: 'user', content: 'hi' }], ...extra },
      bearer,
    );

  const contextOf = (requestId: string | null) => recordedContext(recorded, requestId);

  before(async () => {
    harness = await startTestGateway({
      mock: { chunkIntervalMs: 50, streamChunks: 40 },
      stages: { usage: { record: (context) => recorded.push(context) } },
    });
  });
  after(() => harness.close());

  test('upstream 500 → 502 upstream_error', async () => {
    const response = await chat('fails-500');
    assert.equal(response.status, 502);
    assert.equal(response.json.error.code, 'upstream_error');
  });

  test('upstream 429 → 429 upstream_rate_limited with Retry-After', async () => {
    const response = await chat('fails-429');
    assert.equal(response.status, 429);
    assert.equal(response.json.error.code, 'upstream_rate_limited');
  });

  test('upstream 400 → 400 upstream_rejected carrying the provider message', async () => {
    const response = await chat('fails-400');
    assert.equal(response.status, 400);
    assert.equal(response.json.error.code, 'upstream_rejected');
    assert.ok(response.json.error.message.length > 0);
  });

  test('an upstream past its deadline → 504 upstream_timeout', async () => {
    const started = performance.now();
    const response = await chat('times-out');
    assert.equal(response.status, 504);
    assert.equal(response.json.error.code, 'upstream_timeout');
    assert.ok(performance.now() - started < 5_000, 'the 300 ms model deadline applied');
  });

  test('an upstream reset → 502 upstream_error', async () => {
    const response = await chat('resets');
    assert.equal(response.status, 502);
    assert.equal(response.json.error.code, 'upstream_error');
  });

  test('a mid-stream upstream failure ends the OpenAI stream with an error event, not [DONE]', async () => {
    const response = await chat('midstream', { stream: true });
    assert.equal(response.status, 200);
    const data = sseDataLines(response.text);
    assert.ok(data.length >= 2, response.text);
    assert.notEqual(data.at(-1), '[DONE]');
    const last = JSON.parse(data.at(-1)!);
    assert.ok(last.error, response.text);
    const context = await contextOf(response.headers.get('x-request-id'));
    assert.equal(context?.outcome.streamOutcome, 'upstream_error');
    assert.equal(context?.outcome.errorCode, 'upstream_error');
  });

  test('a mid-stream upstream failure ends the Anthropic stream with an error event', async () => {
    const response = await postJson(
      `${harness.url}/v1/messages`,
      {
        model: 'midstream-claude',
        max_tokens: 32,
        stream: true,
        messages: [{ role: 'user', content: 'hi' }],
      },
      { 'x-api-key': keys.all },
    );
    assert.equal(response.status, 200);
    assert.match(response.text, /event: error/);
    assert.doesNotMatch(response.text, /event: message_stop/);
  });

  test('the unified endpoint reports a mid-stream failure as an error chunk', async () => {
    const response = await postJson(
      `${harness.url}/v1/llm/chat`,
      { model: 'midstream', stream: true, messages: [{ role: 'user', content: 'hi' }] },
      bearer,
    );
    const data = sseDataLines(response.text);
    assert.notEqual(data.at(-1), '[DONE]');
    assert.equal(JSON.parse(data.at(-1)!).error.code, 'upstream_error');
  });

  test('a client that disconnects mid-stream cancels the upstream request', async () => {
    const abortedBefore = harness.mock.stats().aborted;
    const controller = new AbortController();
    const response = await fetch(`${harness.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer },
      body: JSON.stringify({
        model: 'chat',
        stream: true,
        messages: [{ role: 'user', content: 'long one' }],
      }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    await reader.read();
    const requestId = response.headers.get('x-request-id');
    controller.abort();
    for (let waited = 0; waited < 3_000 && harness.mock.stats().aborted === abortedBefore; waited += 50)
      await delay(50);
    assert.equal(harness.mock.stats().aborted, abortedBefore + 1);
    const context = await contextOf(requestId);
    assert.equal(context?.outcome.streamOutcome, 'client_aborted');
  });

  test('a completed stream is accounted with usage and cost', async () => {
    const response = await chat('chat', { stream: true });
    const context = await contextOf(response.headers.get('x-request-id'));
    assert.equal(context?.outcome.streamOutcome, 'completed');
    assert.ok((context?.outcome.usage?.input ?? 0) > 0);
    assert.ok((context?.outcome.usage?.output ?? 0) > 0);
    assert.ok((context?.outcome.costNanos ?? 0n) > 0n);
  });
});

/**
 * An upstream whose answer starts (status and headers sent) and then fails: the body is read
 * after the provider call has already succeeded, so its failure is classified apart.
 */
describe('upstream answers that fail after their headers', () => {
  let harness: TestGateway;
  const recorded: RequestContext[] = [];
  const bearer = { authorization: `Bearer ${keys.all}` };
  // Answers 200 with a Content-Length it never reaches: `/cut/...` resets the connection after
  // the first bytes, `/stall/...` sends nothing more until the gateway's deadline passes.
  const upstream = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      response.write('{"id":"chatcmpl-cut","choices":[');
      if (request.url?.startsWith('/cut/')) setTimeout(() => response.socket?.resetAndDestroy(), 20);
    });
  });
  let upstreamUrl = '';

  before(async () => {
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    harness = await startTestGateway({
      stages: { usage: { record: (context) => recorded.push(context) } },
      configYaml: () =>
        [
          'organizations:\n  - id: demo',
          'providers:',
          `  - name: cuts\n    type: openai\n    base_url: ${upstreamUrl}/cut/v1`,
          `  - name: stalls\n    type: openai\n    base_url: ${upstreamUrl}/stall/v1`,
          'models:',
          '  - name: cut-body\n    provider: cuts\n    upstream_model: mock-gpt',
          '  - name: stalled-body\n    provider: stalls\n    upstream_model: mock-gpt\n    timeout_ms: 300',
          'api_keys:',
          '  - id: all-key\n    organization: demo\n    secret_env: ODOCK_TEST_ALL_KEY\n    models: ["*"]',
          '',
        ].join('\n'),
    });
  });
  after(async () => {
    await harness.close();
    upstream.closeAllConnections();
    upstream.close();
  });

  const contextOf = (requestId: string | null) => recordedContext(recorded, requestId);

  const body = (model: string) => ({ model, messages: [{ role: 'user', content: 'hi' }] });

  for (const [endpoint, path] of [
    ['the native endpoint', '/v1/chat/completions'],
    ['the unified endpoint', '/v1/llm/chat'],
  ] as const) {
    test(`${endpoint}: a body cut after its headers → 502 upstream_error, its end recorded`, async () => {
      const response = await postJson(`${harness.url}${path}`, body('cut-body'), bearer);
      assert.equal(response.status, 502);
      assert.equal(response.json.error.code, 'upstream_error');
      assert.equal(response.json.error.message, 'The upstream response was interrupted.');
      const context = await contextOf(response.headers.get('x-request-id'));
      assert.equal(context?.outcome.attempts[0]?.status, 200);
      // The exchange ended when the body failed (the reset comes 20 ms after the headers), not
      // when the headers came.
      const { upstreamStartedAt = Infinity, upstreamEndedAt = 0 } = context?.outcome ?? {};
      assert.ok(upstreamEndedAt - upstreamStartedAt >= 15, `${upstreamEndedAt - upstreamStartedAt} ms`);
    });

    test(`${endpoint}: a body stalled past the model's deadline → 504 upstream_timeout`, async () => {
      const started = performance.now();
      const response = await postJson(`${harness.url}${path}`, body('stalled-body'), bearer);
      assert.equal(response.status, 504);
      assert.equal(response.json.error.code, 'upstream_timeout');
      assert.ok(performance.now() - started < 5_000, 'the 300 ms model deadline applied');
      const context = await contextOf(response.headers.get('x-request-id'));
      const { upstreamStartedAt = Infinity, upstreamEndedAt = 0 } = context?.outcome ?? {};
      assert.ok(upstreamEndedAt - upstreamStartedAt >= 250, `${upstreamEndedAt - upstreamStartedAt} ms`);
    });
  }
});
