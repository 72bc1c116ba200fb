import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AnthropicAdapter, AnthropicStreamParser, mapAnthropicStopReason } from './anthropic.ts';
import { StreamAccumulator } from './openai-chunk-encoder.ts';
import { RequestTranslationError } from './provider-error.ts';
import { deltasOfType, fixtureJson, parseFixtureStream, textOf } from './recorded-fixtures.ts';
import { emptyUsage, type StreamDelta, type UnifiedChatRequest } from './types.ts';

const adapter = new AnthropicAdapter();

function accumulate(deltas: StreamDelta[]) {
  const accumulator = new StreamAccumulator();
  for (const delta of deltas) accumulator.add(delta);
  return accumulator;
}

function body(request: UnifiedChatRequest, stream = false): Record<string, unknown> {
  return JSON.parse(adapter.buildChatRequest(request, stream).body);
}

describe('AnthropicAdapter.parseChatResponse (recorded)', () => {
  it('reads a text message', () => {
    const result = adapter.parseChatResponse(fixtureJson('anthropic', 'chat-unary.json'), {});
    assert.equal(result.content, 'Hello!');
    assert.equal(result.stopReason, 'stop');
    assert.equal(result.responseModel, 'claude-opus-4-7');
    assert.equal(result.providerRequestId, 'msg_01TestTextResponse');
    assert.deepEqual(result.toolCalls, []);
    assert.deepEqual(result.usage, { ...emptyUsage(), input: 10, output: 5 });
  });

  it('prefers the request-id header', () => {
    const result = adapter.parseChatResponse(fixtureJson('anthropic', 'chat-unary.json'), {
      'request-id': 'req_011CSHoEeqs5C35K2UUqR7Fy',
    });
    assert.equal(result.providerRequestId, 'req_011CSHoEeqs5C35K2UUqR7Fy');
  });

  it('reads text and a tool_use block with empty input', () => {
    const result = adapter.parseChatResponse(fixtureJson('anthropic', 'chat-tools-unary.json'), {});
    assert.ok(result.content.endsWith('</thinking>\n\nOkay, I will update the current issue list:'));
    assert.equal(result.stopReason, 'tool_calls');
    assert.deepEqual(result.toolCalls, [
      {
        id: 'toolu_01LRmxn9vGM1d2DZSDBowdZ1',
        type: 'function',
        function: { name: 'updateIssueList', arguments: '{}' },
      },
    ]);
    assert.deepEqual(result.usage, { ...emptyUsage(), input: 602, output: 93 });
  });

  it('stringifies tool input with quotes intact', () => {
    const fixture = fixtureJson('anthropic', 'chat-tools-quoted-input-unary.json') as {
      content: [{ input: unknown }];
    };
    const [call] = adapter.parseChatResponse(fixture, {}).toolCalls;
    assert.equal(call?.function.name, 'website_update');
    assert.deepEqual(JSON.parse(call?.function.arguments ?? ''), fixture.content[0].input);
    assert.ok(call?.function.arguments.includes('\\"What should I do next after this run?\\"'));
  });

  it('maps every documented stop reason', () => {
    assert.deepEqual(
      [
        'end_turn',
        'stop_sequence',
        'max_tokens',
        'tool_use',
        'refusal',
        'pause_turn',
        'something_new',
        null,
      ].map(mapAnthropicStopReason),
      ['stop', 'stop', 'length', 'tool_calls', 'content_filter', 'stop', null, null],
    );
  });

  it('counts cache reads and writes into input', () => {
    const result = adapter.parseChatResponse(
      {
        content: [],
        usage: {
          input_tokens: 3,
          cache_read_input_tokens: 100,
          cache_creation_input_tokens: 20,
          output_tokens: 7,
        },
      },
      {},
    );
    assert.deepEqual(result.usage, {
      ...emptyUsage(),
      input: 123,
      output: 7,
      cachedInput: 100,
      cacheWrite: 20,
    });
  });
});

describe('AnthropicStreamParser (recorded)', () => {
  it('parses a text stream', () => {
    const deltas = parseFixtureStream(adapter, 'chat-stream.sse');
    assert.deepEqual(deltas[0], {
      type: 'start',
      responseModel: 'claude-sonnet-4-5-20250929',
      providerRequestId: 'msg_01QC4g3HwBThD4BaNtBckFDJ',
    });
    assert.equal(
      textOf(deltas),
      "Hello! I'm doing well, thank you for asking. How are you doing today? Is there anything I can help you with?",
    );
    assert.deepEqual(
      deltas.slice(-3).map((delta) => delta.type),
      ['finish', 'usage', 'done'],
    );
    const result = accumulate(deltas).result();
    assert.equal(result.stopReason, 'stop');
    assert.deepEqual(result.usage, { ...emptyUsage(), input: 12, output: 30 });
  });

  it('numbers tool calls by tool_use block, not by content block', () => {
    const deltas = parseFixtureStream(adapter, 'chat-tools-stream.sse');
    const calls = deltasOfType(deltas, 'tool_call');
    assert.deepEqual(calls[0], {
      type: 'tool_call',
      index: 0,
      id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6',
      name: 'get_weather',
      argumentsDelta: '',
    });
    assert.ok(calls.every((call) => call.index === 0));
    const result = accumulate(deltas).result();
    assert.equal(result.content, "Okay, let's check the weather for San Francisco, CA:");
    assert.deepEqual(result.toolCalls, [
      {
        id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6',
        type: 'function',
        function: {
          name: 'get_weather',
          arguments: '{"location": "San Francisco, CA", "unit": "fahrenheit"}',
        },
      },
    ]);
    assert.equal(result.stopReason, 'tool_calls');
    assert.deepEqual(result.usage, { ...emptyUsage(), input: 472, output: 89 });
  });

  it('streams the same tool input the unary answer returns', () => {
    const streamed = accumulate(parseFixtureStream(adapter, 'chat-tools-quoted-input-stream.sse')).result();
    const unary = fixtureJson('anthropic', 'chat-tools-quoted-input-unary.json') as {
      content: [{ input: unknown }];
    };
    assert.equal(streamed.toolCalls.length, 1);
    assert.deepEqual(JSON.parse(streamed.toolCalls[0]?.function.arguments ?? ''), unary.content[0].input);
    assert.deepEqual(streamed.usage, { ...emptyUsage(), input: 912, output: 118 });
  });

  it('ignores server tools and merges cumulative cache usage', () => {
    const deltas = parseFixtureStream(adapter, 'chat-prompt-cache-stream.sse');
    assert.deepEqual(deltasOfType(deltas, 'tool_call'), []);
    const result = accumulate(deltas).result();
    assert.equal(result.content, 'The sum of the squares of the numbers 1 through 12 is **650**.');
    assert.equal(result.stopReason, 'stop');
    // message_delta restates input counts (6 + 6289 read + 3337 written) over message_start's.
    assert.deepEqual(result.usage, {
      ...emptyUsage(),
      input: 9632,
      output: 198,
      cachedInput: 6289,
      cacheWrite: 3337,
    });
    assert.deepEqual((result.rawUsage as { cache_creation: unknown }).cache_creation, {
      ephemeral_5m_input_tokens: 3068,
      ephemeral_1h_input_tokens: 0,
    });
  });

  it('turns an error event into an error delta', () => {
    assert.deepEqual(parseFixtureStream(adapter, 'stream-error.sse'), [
      { type: 'error', message: 'Overloaded', errorType: 'overloaded_error' },
    ]);
  });

  it('emits usage at message_stop when no message_delta carried any', () => {
    const parser = new AnthropicStreamParser();
    parser.parse({
      data: '{"type":"message_start","message":{"id":"m","model":"x","usage":{"input_tokens":5}}}',
    });
    assert.deepEqual(parser.parse({ event: 'message_stop', data: '{"type":"message_stop"}' }), [
      { type: 'usage', usage: { ...emptyUsage(), input: 5 }, rawUsage: { input_tokens: 5 } },
      { type: 'done' },
    ]);
  });

  it('tolerates unknown event types and rejects non-JSON data', () => {
    const parser = new AnthropicStreamParser();
    assert.deepEqual(parser.parse({ event: 'future_event', data: '{"type":"future_event"}' }), []);
    assert.throws(() => parser.parse({ data: 'not json' }), /not JSON/);
  });
});

describe('AnthropicAdapter.buildChatRequest', () => {
  it('targets /v1/messages with the API version and defaults max_tokens to 4096', () => {
    const upstream = adapter.buildChatRequest(
      { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Hi' }] },
      false,
    );
    assert.equal(upstream.path, '/v1/messages');
    assert.deepEqual(upstream.headers, {
      'content-type': 'application/json',
      'anthropic-version': '2023-06-01',
    });
    assert.deepEqual(JSON.parse(upstream.body), {
      model: 'claude-sonnet-4-5',
      max_tokens: 4096,
      messages: [{ role: 'user', content: 'Hi' }],
    });
  });

  it('keeps an explicit max_tokens, maps sampling, stop and user, and streams on request', () => {
    const upstream = adapter.buildChatRequest(
      {
        model: 'm',
        messages: [{ role: 'user', content: 'x' }],
        max_tokens: 10,
        temperature: 0.5,
        top_p: 0.9,
        stop: 'END',
        user: 'u-1',
      },
      true,
    );
    assert.deepEqual(JSON.parse(upstream.body), {
      model: 'm',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'x' }],
      temperature: 0.5,
      top_p: 0.9,
      stop_sequences: ['END'],
      metadata: { user_id: 'u-1' },
      stream: true,
    });
    assert.equal(upstream.headers['accept'], 'text/event-stream');
  });

  it('lifts system and developer messages into the top-level system prompt', () => {
    const translated = body({
      model: 'm',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
        { role: 'user', content: 'Hello' },
      ],
    });
    assert.equal(translated['system'], 'You are terse.\n\nAnswer in French.');
    assert.deepEqual(translated['messages'], [{ role: 'user', content: 'Hello' }]);
  });

  it('turns assistant tool calls into tool_use blocks and merges consecutive tool results', () => {
    const translated = body({
      model: 'm',
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            {
              id: 'toolu_1',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
            {
              id: 'toolu_2',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Rome"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: '18C' },
        { role: 'tool', tool_call_id: 'toolu_2', content: [{ type: 'text', text: '24C' }] },
        { role: 'user', content: 'Thanks' },
      ],
    });
    assert.deepEqual(translated['messages'], [
      { role: 'user', content: 'Weather in Paris and Rome?' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: { city: 'Rome' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: '18C' },
          { type: 'tool_result', tool_use_id: 'toolu_2', content: [{ type: 'text', text: '24C' }] },
        ],
      },
      { role: 'user', content: 'Thanks' },
    ]);
  });

  it('translates data URLs to base64 images and http URLs to url images', () => {
    const translated = body({
      model: 'm',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Compare' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'high' } },
          ],
        },
      ],
    });
    assert.deepEqual(translated['messages'], [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Compare' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
        ],
      },
    ]);
  });

  it('translates tools and every tool_choice form', () => {
    const tools: UnifiedChatRequest['tools'] = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Current weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
      },
      { type: 'function', function: { name: 'ping' } },
    ];
    const request: UnifiedChatRequest = { model: 'm', messages: [{ role: 'user', content: 'x' }], tools };
    assert.deepEqual(body(request)['tools'], [
      {
        name: 'get_weather',
        description: 'Current weather',
        input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
      { name: 'ping', input_schema: { type: 'object', properties: {} } },
    ]);
    const choices: [UnifiedChatRequest['tool_choice'], unknown][] = [
      ['auto', { type: 'auto' }],
      ['none', { type: 'none' }],
      ['required', { type: 'any' }],
      [
        { type: 'function', function: { name: 'ping' } },
        { type: 'tool', name: 'ping' },
      ],
    ];
    for (const [choice, expected] of choices) {
      assert.deepEqual(body({ ...request, tool_choice: choice })['tool_choice'], expected);
    }
  });

  it('refuses tool-call arguments that are not a JSON object', () => {
    const request = (argumentsJson: string): UnifiedChatRequest => ({
      model: 'm',
      messages: [
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: argumentsJson } }],
        },
      ],
    });
    assert.throws(() => adapter.buildChatRequest(request('{oops'), false), RequestTranslationError);
    assert.throws(() => adapter.buildChatRequest(request('[1]'), false), RequestTranslationError);
    assert.deepEqual(body(request(''))['messages'], [
      { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'f', input: {} }] },
    ]);
  });

  it('authenticates with x-api-key', () => {
    assert.deepEqual(adapter.authHeaders('sk-ant-test'), { 'x-api-key': 'sk-ant-test' });
  });
});

describe('AnthropicAdapter.parseError', () => {
  it('classifies a recorded 429', () => {
    assert.deepEqual(adapter.parseError(429, fixtureJson('anthropic', 'error-429.json')), {
      message: "This request would exceed your account's rate limit. Please try again later.",
      type: 'rate_limit_error',
      retryable: true,
    });
  });

  it('classifies a recorded 400 as final', () => {
    const classified = adapter.parseError(400, fixtureJson('anthropic', 'error-400.json'));
    assert.equal(classified.type, 'invalid_request_error');
    assert.equal(classified.retryable, false);
    assert.ok(classified.message.startsWith('messages.2.content.0: unexpected `tool_use_id`'));
  });

  it('retries 529 overloaded', () => {
    const overloaded = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };
    assert.deepEqual(adapter.parseError(529, overloaded), {
      message: 'Overloaded',
      type: 'overloaded_error',
      retryable: true,
    });
  });
});
