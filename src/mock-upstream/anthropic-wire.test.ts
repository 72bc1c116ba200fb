import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type MockUpstream, startMockUpstream } from './server.ts';
import { parseEventStream, send, sendJson } from './upstream-client.ts';

// system 10 + user 5 + assistant 3 + tool_result 6 + user 8 = 32 characters → 8 input tokens.
const request = {
  model: 'mock-claude',
  max_tokens: 64,
  system: [{ type: 'text', text: 'Be brief. ' }],
  messages: [
    { role: 'user', content: 'Hello' },
    {
      role: 'assistant',
      content: [
        { type: 'text', text: 'Hi!' },
        { type: 'tool_use', id: 't', name: 'f', input: {} },
      ],
    },
    {
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 't', content: [{ type: 'text', text: 'result' }] },
        { type: 'text', text: 'And now?' },
      ],
    },
  ],
};

describe('mock upstream: Anthropic messages', () => {
  let mock: MockUpstream;
  before(async () => {
    mock = await startMockUpstream({ streamChunks: 2, outputTokens: 7 });
  });
  after(() => mock.close());

  it('answers a unary request in the exact message shape with a request-id header', async () => {
    const { status, headers, body } = await sendJson(mock.url, '/v1/messages', { body: request });
    assert.equal(status, 200);
    assert.match(String(headers['request-id']), /^req_01[0-9A-Za-z]{22}$/);
    assert.equal(headers['x-request-id'], undefined);
    assert.match(String(body['id']), /^msg_01[0-9A-Za-z]{22}$/);
    assert.deepEqual(
      { ...body, id: 'ID' },
      {
        id: 'ID',
        type: 'message',
        role: 'assistant',
        model: 'mock-claude',
        content: [{ type: 'text', text: 'result\nAnd now?' }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: {
          input_tokens: 8,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 0,
          output_tokens: 7,
          service_tier: 'standard',
        },
      },
    );
  });

  it('streams the documented event sequence, each event line matching its data type', async () => {
    const response = await send(mock.url, '/v1/messages', { body: { ...request, stream: true } });
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.match(String(response.headers['request-id']), /^req_01/);
    const events = parseEventStream(response.text);
    assert.deepEqual(
      events.map((event) => event.event),
      [
        'message_start',
        'content_block_start',
        'ping',
        'content_block_delta',
        'content_block_delta',
        'content_block_stop',
        'message_delta',
        'message_stop',
      ],
    );
    const data = events.map((event) => JSON.parse(event.data) as Record<string, unknown>);
    for (const [index, item] of data.entries()) assert.equal(item['type'], events[index]?.event);
    const start = data[0]?.['message'] as Record<string, unknown>;
    assert.match(String(start['id']), /^msg_01/);
    assert.deepEqual(
      { ...start, id: 'ID' },
      {
        id: 'ID',
        type: 'message',
        role: 'assistant',
        model: 'mock-claude',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: {
          input_tokens: 8,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 0,
          output_tokens: 1,
          service_tier: 'standard',
        },
      },
    );
    assert.deepEqual(data[1], {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'text', text: '' },
    });
    assert.deepEqual(data[3], {
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'text_delta', text: 'result\nA' },
    });
    const text = data
      .filter((item) => item['type'] === 'content_block_delta')
      .map((item) => (item['delta'] as { text: string }).text)
      .join('');
    assert.equal(text, 'result\nAnd now?');
    assert.deepEqual(data[5], { type: 'content_block_stop', index: 0 });
    assert.deepEqual(data[6], {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: 7 },
    });
    assert.deepEqual(data[7], { type: 'message_stop' });
  });

  it('rejects a request without max_tokens in the Anthropic error shape', async () => {
    const { status, headers, body } = await sendJson(mock.url, '/v1/messages', {
      body: { model: 'mock-claude', messages: [{ role: 'user', content: 'x' }] },
    });
    assert.equal(status, 400);
    assert.deepEqual(body, {
      type: 'error',
      error: { type: 'invalid_request_error', message: 'max_tokens: Field required' },
      request_id: headers['request-id'],
    });
  });
});
