/**
 * The official `openai` client as a real caller of the gateway: unary, streaming (raw and the
 * SDK's stream helper), embeddings, the unified endpoint, and typed errors carrying the request id.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import type { Stream } from 'openai/streaming';
import { keys, startTestGateway, type TestGateway } from './helpers/gateway-harness.ts';

describe('OpenAI SDK against the gateway', () => {
  let harness: TestGateway;
  let client: OpenAI;

  before(async () => {
    harness = await startTestGateway();
    client = new OpenAI({ apiKey: keys.demo, baseURL: `${harness.url}/v1`, maxRetries: 0 });
  });
  after(() => harness.close());

  test('unary chat completion', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'chat', messages: [{ role: 'user', content: 'Hello, gateway' }] })
      .withResponse();
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.choices[0]?.message.role, 'assistant');
    assert.match(data.choices[0]?.message.content ?? '', /Hello, gateway/);
    assert.equal(data.choices[0]?.finish_reason, 'stop');
    assert.ok((data.usage?.prompt_tokens ?? 0) > 0);
    assert.match(response.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  });

  test('streaming chat completion yields chunks and ends normally, without an unrequested usage chunk', async () => {
    const stream = await client.chat.completions.create({
      model: 'chat',
      stream: true,
      messages: [{ role: 'user', content: 'Stream to me' }],
    });
    let text = '';
    let finishReason: string | null | undefined;
    let usageChunks = 0;
    for await (const chunk of stream) {
      if (chunk.usage) usageChunks += 1;
      text += chunk.choices[0]?.delta.content ?? '';
      finishReason = chunk.choices[0]?.finish_reason ?? finishReason;
    }
    assert.match(text, /Stream to me/);
    assert.equal(finishReason, 'stop');
    assert.equal(usageChunks, 0);
  });

  test('streaming with include_usage returns the usage chunk', async () => {
    const stream = await client.chat.completions.create({
      model: 'chat',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'count me' }],
    });
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    assert.ok(usage);
    assert.ok(usage.prompt_tokens > 0);
    assert.ok(usage.completion_tokens > 0);
  });

  test('the SDK stream helper assembles the final completion', async () => {
    const runner = client.chat.completions.stream({
      model: 'chat',
      messages: [{ role: 'user', content: 'helper please' }],
    });
    const deltas: string[] = [];
    runner.on('content', (delta) => deltas.push(delta));
    const completion = await runner.finalChatCompletion();
    assert.match(completion.choices[0]?.message.content ?? '', /helper please/);
    assert.equal(deltas.join(''), completion.choices[0]?.message.content);
  });

  test('embeddings', async () => {
    const result = await client.embeddings.create({ model: 'embed', input: ['one', 'two'] });
    assert.equal(result.data.length, 2);
    assert.ok(Array.isArray(result.data[0]?.embedding));
    assert.ok(result.usage.prompt_tokens > 0);
  });

  test('the unified endpoint answers in OpenAI chunks for every provider family', async () => {
    const unified = new OpenAI({ apiKey: keys.all, baseURL: `${harness.url}/v1`, maxRetries: 0 });
    for (const model of ['chat', 'claude', 'gemini']) {
      // The SDK's generic `post` with `stream: true` parses the SSE body as chat.completion.chunk events.
      const stream = (await unified.post('/llm/chat', {
        body: { model, stream: true, messages: [{ role: 'user', content: `unified ${model}` }] },
        stream: true,
      })) as unknown as Stream<OpenAI.ChatCompletionChunk>;
      let text = '';
      let finishReason: string | null | undefined;
      for await (const chunk of stream) {
        assert.equal(chunk.object, 'chat.completion.chunk');
        text += chunk.choices[0]?.delta.content ?? '';
        finishReason = chunk.choices[0]?.finish_reason ?? finishReason;
      }
      assert.match(text, new RegExp(`unified ${model}`), model);
      assert.equal(finishReason, 'stop', model);
    }
  });

  test('the unified endpoint answers normalized JSON for every provider family', async () => {
    const unified = new OpenAI({ apiKey: keys.all, baseURL: `${harness.url}/v1`, maxRetries: 0 });
    for (const [model, provider] of [
      ['chat', 'mock-openai'],
      ['claude', 'mock-anthropic'],
      ['gemini', 'mock-gemini'],
    ]) {
      const answer = (await unified.post('/llm/chat', {
        body: { model, messages: [{ role: 'user', content: `normalized ${model}` }] },
      })) as Record<string, unknown>;
      assert.equal(answer.provider, provider);
      assert.equal(answer.model, model);
      assert.match(String(answer.content), new RegExp(`normalized ${model}`));
      assert.equal(answer.stop_reason, 'stop');
      assert.ok(Number(answer.input_tokens) > 0, model);
      assert.ok(Number(answer.output_tokens) > 0, model);
    }
  });

  test('models list shows only the granted models', async () => {
    const list = await client.models.list();
    assert.deepEqual(list.data.map((model) => model.id).sort(), ['chat', 'claude', 'embed']);
  });

  test('errors raise the typed SDK error with status, code and request id', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
      (error: unknown) => {
        assert.ok(error instanceof OpenAI.BadRequestError);
        assert.equal(error.status, 400);
        assert.equal(error.code, 'model_not_found');
        assert.match(error.requestID ?? '', /^[0-9a-f-]{36}$/);
        return true;
      },
    );
    const unauthorized = new OpenAI({ apiKey: 'sk-wrong', baseURL: `${harness.url}/v1`, maxRetries: 0 });
    await assert.rejects(
      unauthorized.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'x' }] }),
      (error: unknown) => error instanceof OpenAI.AuthenticationError && error.code === 'unauthorized',
    );
    await assert.rejects(
      client.chat.completions.create({ model: 'claude', messages: [{ role: 'user', content: 'x' }] }),
      (error: unknown) => error instanceof OpenAI.BadRequestError && error.code === 'provider_not_allowed',
    );
  });
});
