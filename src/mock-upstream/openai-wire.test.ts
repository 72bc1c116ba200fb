import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { maximumEchoLength } from './conversation.ts';
import { type MockUpstream, startMockUpstream } from './server.ts';
import { eventData, parseEventStream, send, sendJson } from './upstream-client.ts';

const completionUsage = (prompt: number, completion: number) => ({
  prompt_tokens: prompt,
  completion_tokens: completion,
  total_tokens: prompt + completion,
  prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
  completion_tokens_details: {
    reasoning_tokens: 0,
    audio_tokens: 0,
    accepted_prediction_tokens: 0,
    rejected_prediction_tokens: 0,
  },
});

// 14 + 8 + 12 characters = 34 → ceil(34 / 4) = 9 input tokens (the image counts nothing); the user turn is echoed.
const messages = [
  { role: 'system', content: 'You are terse.' },
  {
    role: 'assistant',
    content: [
      { type: 'text', text: 'Earlier.' },
      { type: 'image_url', image_url: { url: 'x' } },
    ],
  },
  { role: 'user', content: 'Hello there!' },
];
const inputTokens = Math.ceil((14 + 8 + 12) / 4);

describe('mock upstream: OpenAI chat completions', () => {
  let mock: MockUpstream;
  before(async () => {
    mock = await startMockUpstream({ streamChunks: 3, outputTokens: 5 });
  });
  after(() => mock.close());

  it('answers a unary request in the exact chat.completion shape, echoing the model and the last user message', async () => {
    const { status, headers, body } = await sendJson(mock.url, '/v1/chat/completions', {
      body: { model: 'mock-gpt', messages },
    });
    assert.equal(status, 200);
    assert.match(String(headers['content-type']), /^application\/json/);
    assert.match(String(headers['x-request-id']), /^req_[0-9a-f]{32}$/);
    assert.match(String(body['id']), /^chatcmpl-[0-9A-Za-z]{29}$/);
    assert.equal(typeof body['created'], 'number');
    assert.deepEqual(
      { ...body, id: 'ID', created: 0 },
      {
        id: 'ID',
        object: 'chat.completion',
        created: 0,
        model: 'mock-gpt',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: 'Hello there!', refusal: null, annotations: [] },
            logprobs: null,
            finish_reason: 'stop',
          },
        ],
        usage: completionUsage(inputTokens, 5),
        service_tier: 'default',
        system_fingerprint: 'fp_6d0a6d10c4',
      },
    );
  });

  it('gives every response a distinct request id and completion id', async () => {
    const first = await sendJson(mock.url, '/v1/chat/completions', { body: { model: 'm', messages } });
    const second = await sendJson(mock.url, '/v1/chat/completions', { body: { model: 'm', messages } });
    assert.notEqual(first.headers['x-request-id'], second.headers['x-request-id']);
    assert.notEqual(first.body['id'], second.body['id']);
  });

  it('streams chat.completion.chunk events: role chunk, content chunks, finish chunk, [DONE], and no usage', async () => {
    const response = await send(mock.url, '/v1/chat/completions', {
      body: { model: 'mock-gpt', stream: true, messages },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.match(String(response.headers['x-request-id']), /^req_[0-9a-f]{32}$/);
    const events = parseEventStream(response.text);
    assert.ok(events.every((event) => event.event === undefined));
    const data = eventData(events);
    assert.equal(data.at(-1), '[DONE]');
    const chunks = data.slice(0, -1) as Record<string, unknown>[];
    assert.equal(chunks.length, 1 + 3 + 1);
    const id = chunks[0]?.['id'];
    assert.match(String(id), /^chatcmpl-/);
    for (const chunk of chunks) {
      assert.equal(chunk['id'], id);
      assert.equal(chunk['object'], 'chat.completion.chunk');
      assert.equal(chunk['model'], 'mock-gpt');
      assert.equal('usage' in chunk, false);
    }
    const choices = chunks.map((chunk) => (chunk['choices'] as unknown[])[0]);
    assert.deepEqual(choices[0], {
      index: 0,
      delta: { role: 'assistant', content: '', refusal: null },
      logprobs: null,
      finish_reason: null,
    });
    assert.deepEqual(choices[1], {
      index: 0,
      delta: { content: 'Hell' },
      logprobs: null,
      finish_reason: null,
    });
    const text = choices
      .slice(1, -1)
      .map((choice) => (choice as { delta: { content: string } }).delta.content)
      .join('');
    assert.equal(text, 'Hello there!');
    assert.deepEqual(choices.at(-1), { index: 0, delta: {}, logprobs: null, finish_reason: 'stop' });
  });

  it('with stream_options.include_usage, sends usage:null on every chunk and a final choices:[] usage chunk', async () => {
    const response = await send(mock.url, '/v1/chat/completions', {
      body: { model: 'mock-gpt', stream: true, stream_options: { include_usage: true }, messages },
    });
    const data = eventData(parseEventStream(response.text));
    assert.equal(data.at(-1), '[DONE]');
    const chunks = data.slice(0, -1) as Record<string, unknown>[];
    assert.equal(chunks.length, 1 + 3 + 1 + 1);
    for (const chunk of chunks.slice(0, -1)) assert.equal(chunk['usage'], null);
    const usageChunk = chunks.at(-1) as Record<string, unknown>;
    assert.deepEqual(usageChunk['choices'], []);
    assert.deepEqual(usageChunk['usage'], completionUsage(inputTokens, 5));
  });

  it('rejects requests the real API rejects, in the OpenAI error shape', async () => {
    const noModel = await sendJson(mock.url, '/v1/chat/completions', { body: { messages } });
    assert.equal(noModel.status, 400);
    assert.deepEqual(noModel.body, {
      error: {
        message: 'you must provide a model parameter',
        type: 'invalid_request_error',
        param: 'model',
        code: null,
      },
    });
    const strayOptions = await sendJson(mock.url, '/v1/chat/completions', {
      body: { model: 'm', messages, stream_options: { include_usage: true } },
    });
    assert.equal(strayOptions.status, 400);
    assert.equal((strayOptions.body['error'] as Record<string, unknown>)['param'], 'stream_options');
    const badJson = await send(mock.url, '/v1/chat/completions', {
      body: undefined,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(badJson.status, 400);
    assert.equal(
      (JSON.parse(badJson.text) as { error: { type: string } }).error.type,
      'invalid_request_error',
    );
  });

  it('truncates a long echo but counts every input character', async () => {
    const long = 'x'.repeat(1000);
    const { body } = await sendJson(mock.url, '/v1/chat/completions', {
      body: { model: 'm', messages: [{ role: 'user', content: long }] },
    });
    const choice = (body['choices'] as { message: { content: string } }[])[0];
    assert.equal(choice?.message.content, 'x'.repeat(maximumEchoLength));
    assert.deepEqual((body['usage'] as Record<string, number>)['prompt_tokens'], 250);
  });
});

describe('mock upstream: fixed reply (echo off)', () => {
  it('answers the pre-built reply, one word per chunk, whatever was asked', async () => {
    const mock = await startMockUpstream({ echo: false, streamChunks: 4 });
    try {
      const { body } = await sendJson(mock.url, '/v1/chat/completions', { body: { model: 'm', messages } });
      const choice = (body['choices'] as { message: { content: string } }[])[0];
      assert.equal(choice?.message.content, 'Mock reply from the');
      assert.equal((body['usage'] as Record<string, number>)['completion_tokens'], 4);
      const stream = await send(mock.url, '/v1/chat/completions', {
        body: { model: 'm', stream: true, messages },
      });
      const deltas = eventData(parseEventStream(stream.text))
        .slice(1, -2)
        .map((chunk) => (chunk as { choices: { delta: { content: string } }[] }).choices[0]?.delta.content);
      assert.deepEqual(deltas, ['Mock', ' reply', ' from', ' the']);
    } finally {
      await mock.close();
    }
  });
});

describe('mock upstream: embeddings, model list, health, unknown routes', () => {
  let mock: MockUpstream;
  before(async () => {
    mock = await startMockUpstream();
  });
  after(() => mock.close());

  it('returns deterministic unit vectors of 8 floats and counts prompt tokens', async () => {
    const { status, headers, body } = await sendJson(mock.url, '/v1/embeddings', {
      body: { model: 'mock-embedding', input: ['hello world', 'abc'] },
    });
    assert.equal(status, 200);
    assert.match(String(headers['x-request-id']), /^req_/);
    assert.equal(body['object'], 'list');
    assert.equal(body['model'], 'mock-embedding');
    assert.deepEqual(body['usage'], { prompt_tokens: 4, total_tokens: 4 });
    const data = body['data'] as { object: string; index: number; embedding: number[] }[];
    assert.deepEqual(
      data.map((item) => [item.object, item.index, item.embedding.length]),
      [
        ['embedding', 0, 8],
        ['embedding', 1, 8],
      ],
    );
    for (const item of data) {
      const norm = Math.hypot(...item.embedding);
      assert.ok(Math.abs(norm - 1) < 1e-6, `norm ${norm}`);
    }
    assert.notDeepEqual(data[0]?.embedding, data[1]?.embedding);
    const again = await sendJson(mock.url, '/v1/embeddings', { body: { model: 'x', input: 'hello world' } });
    assert.deepEqual((again.body['data'] as { embedding: number[] }[])[0]?.embedding, data[0]?.embedding);
    assert.deepEqual(again.body['usage'], { prompt_tokens: 3, total_tokens: 3 });
  });

  it('encodes base64 as little-endian float32 and honours dimensions', async () => {
    const floats = await sendJson(mock.url, '/v1/embeddings', {
      body: { model: 'e', input: 'same', dimensions: 3 },
    });
    const encoded = await sendJson(mock.url, '/v1/embeddings', {
      body: { model: 'e', input: 'same', dimensions: 3, encoding_format: 'base64' },
    });
    const vector = (floats.body['data'] as { embedding: number[] }[])[0]?.embedding ?? [];
    assert.equal(vector.length, 3);
    const base64 = (encoded.body['data'] as { embedding: string }[])[0]?.embedding ?? '';
    const bytes = Buffer.from(base64, 'base64');
    const decoded = Array.from({ length: bytes.length / 4 }, (_, index) => bytes.readFloatLE(index * 4));
    assert.deepEqual(decoded, vector);
  });

  it('counts token-array inputs by their length and rejects a missing input', async () => {
    const tokens = await sendJson(mock.url, '/v1/embeddings', {
      body: { model: 'e', input: [[1, 2, 3, 4, 5]] },
    });
    assert.deepEqual(tokens.body['usage'], { prompt_tokens: 5, total_tokens: 5 });
    const missing = await sendJson(mock.url, '/v1/embeddings', { body: { model: 'e' } });
    assert.equal(missing.status, 400);
    assert.equal((missing.body['error'] as Record<string, unknown>)['param'], 'input');
  });

  it('lists models, answers health checks and 404s unknown routes in the OpenAI error shape', async () => {
    const models = await sendJson(mock.url, '/v1/models');
    assert.equal(models.body['object'], 'list');
    assert.deepEqual(
      (models.body['data'] as { id: string; object: string }[]).map((model) => [model.id, model.object]),
      [
        ['mock-gpt', 'model'],
        ['mock-claude', 'model'],
        ['mock-embedding', 'model'],
        ['mock-gemini', 'model'],
      ],
    );
    const health = await sendJson(mock.url, '/healthz');
    assert.deepEqual([health.status, health.body], [200, { status: 'ok' }]);
    const unknown = await sendJson(mock.url, '/v1/nothing?x=1', { body: {} });
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body, {
      error: {
        message: 'Invalid URL (POST /v1/nothing)',
        type: 'invalid_request_error',
        param: null,
        code: null,
      },
    });
    const wrongMethod = await sendJson(mock.url, '/v1/chat/completions');
    assert.equal(wrongMethod.status, 404);
  });
});
