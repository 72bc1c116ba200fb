/**
 * The official SDKs (dev dependencies) as independent judges of the wire format: if they parse
 * the mock's answers, streams and errors, so should any adapter written against the real APIs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { type MockUpstream, startMockUpstream } from './server.ts';

describe('mock upstream: official SDK compatibility', () => {
  let mock: MockUpstream;
  let openai: OpenAI;
  let anthropic: Anthropic;
  before(async () => {
    mock = await startMockUpstream({ streamChunks: 3, outputTokens: 4 });
    openai = new OpenAI({ apiKey: 'sk-test', baseURL: `${mock.url}/v1`, maxRetries: 0 });
    anthropic = new Anthropic({ apiKey: 'sk-ant-test', baseURL: mock.url, maxRetries: 0 });
  });
  after(() => mock.close());

  const openAiMessages = [{ role: 'user' as const, content: 'Hello SDK' }];

  it('openai: unary, streamed with usage, embeddings (base64 by default) and errors', async () => {
    const completion = await openai.chat.completions.create({ model: 'mock-gpt', messages: openAiMessages });
    assert.equal(completion.choices[0]?.message.content, 'Hello SDK');
    assert.deepEqual([completion.usage?.prompt_tokens, completion.usage?.completion_tokens], [3, 4]);
    assert.match(String(completion._request_id), /^req_/);

    const stream = await openai.chat.completions.create({
      model: 'mock-gpt',
      messages: openAiMessages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let totalTokens: number | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      totalTokens = chunk.usage?.total_tokens ?? totalTokens;
    }
    assert.deepEqual([text, totalTokens], ['Hello SDK', 7]);

    const embeddings = await openai.embeddings.create({ model: 'mock-embedding', input: ['hi', 'there'] });
    assert.deepEqual(
      embeddings.data.map((item) => item.embedding.length),
      [8, 8],
    );

    const failing = await openai.chat.completions.create(
      { model: 'mock-gpt', messages: openAiMessages, stream: true },
      { headers: { 'x-mock-scenario': 'mid-stream-error' } },
    );
    await assert.rejects(
      async () => {
        for await (const _chunk of failing) {
          // drain
        }
      },
      (error: unknown) => error instanceof OpenAI.APIError && /server had an error/.test(error.message),
    );
    await assert.rejects(
      openai.chat.completions.create(
        { model: 'mock-gpt', messages: openAiMessages },
        { headers: { 'x-mock-scenario': 'error-429' } },
      ),
      (error: unknown) => error instanceof OpenAI.RateLimitError && error.code === 'rate_limit_exceeded',
    );
  });

  it('anthropic: unary, streamed to a final message, in-stream and HTTP errors', async () => {
    const request = {
      model: 'mock-claude',
      max_tokens: 16,
      messages: [{ role: 'user' as const, content: 'Hello Claude' }],
    };
    const message = await anthropic.messages.create(request);
    assert.deepEqual(message.content, [{ type: 'text', text: 'Hello Claude' }]);
    assert.deepEqual([message.usage.input_tokens, message.usage.output_tokens], [3, 4]);
    assert.match(String(message._request_id), /^req_01/);

    const final = await anthropic.messages.stream(request).finalMessage();
    assert.deepEqual(final.content, [{ type: 'text', text: 'Hello Claude' }]);
    assert.deepEqual(
      [final.usage.input_tokens, final.usage.output_tokens, final.stop_reason],
      [3, 4, 'end_turn'],
    );

    await assert.rejects(
      anthropic.messages
        .stream(request, { headers: { 'x-mock-scenario': 'mid-stream-error' } })
        .finalMessage(),
      (error: unknown) => error instanceof Anthropic.APIError && /overloaded_error/.test(error.message),
    );
    await assert.rejects(
      anthropic.messages.create(request, { headers: { 'x-mock-scenario': 'error-500' } }),
      (error: unknown) =>
        error instanceof Anthropic.InternalServerError && error.requestID?.startsWith('req_01') === true,
    );
  });
});
