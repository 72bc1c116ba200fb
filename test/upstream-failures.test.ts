/**
 * Upstream failures as a client sees them: status errors mapped to the registry, deadlines,
 * resets, mid-stream failures reported as error events (never a normal end), and a client
 * disconnect that cancels the upstream request.
 */
import assert from 'node:assert/strict';
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

  /** The usage seat is called when the server sees the response close, a moment after the client's end. */
  async function contextOf(requestId: string | null): Promise<RequestContext | undefined> {
    for (let waited = 0; waited < 3_000; waited += 20) {
      const context = recorded.find((entry) => entry.requestId === requestId);
      if (context !== undefined) return context;
      await delay(20);
    }
    return undefined;
  }

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
