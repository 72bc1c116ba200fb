import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StreamAccumulator } from './openai-chunk-encoder.ts';
import { OpenAIChatStreamParser, OpenAICompatibleAdapter } from './openai-compatible.ts';
import { ProviderProtocolError } from './provider-error.ts';
import { deltasOfType, fixtureJson, parseFixtureStream, textOf } from './recorded-fixtures.ts';
import { emptyUsage, type StreamDelta, type UnifiedChatRequest } from './types.ts';

const adapter = new OpenAICompatibleAdapter();

function accumulate(deltas: StreamDelta[]) {
  const accumulator = new StreamAccumulator();
  for (const delta of deltas) accumulator.add(delta);
  return accumulator;
}

describe('OpenAICompatibleAdapter.parseChatResponse (recorded)', () => {
  it('reads a text completion', () => {
    const body = fixtureJson('openai', 'chat-unary.json') as { choices: [{ message: { content: string } }] };
    const result = adapter.parseChatResponse(body, {});
    assert.equal(result.content, body.choices[0].message.content);
    assert.ok(result.content.startsWith('**Holiday Name:** Galaxy Day  \n\n**Date:** October 31st'));
    assert.ok(result.content.includes('vast darkness\u2014mirroring our quest'));
    assert.equal(result.stopReason, 'stop');
    assert.equal(result.responseModel, 'gpt-4.1-nano-2025-04-14');
    assert.equal(result.providerRequestId, 'chatcmpl-D8Z5f52zQqikDBEKQMQoYcWMcWPeU');
    assert.deepEqual(result.toolCalls, []);
    assert.deepEqual(result.usage, { ...emptyUsage(), input: 16, output: 363 });
    assert.deepEqual(result.rawUsage, (body as unknown as { usage: unknown }).usage);
  });

  it('prefers the x-request-id header as the provider request id', () => {
    const body = fixtureJson('openai', 'chat-unary.json');
    assert.equal(
      adapter.parseChatResponse(body, { 'x-request-id': 'req_7f3a' }).providerRequestId,
      'req_7f3a',
    );
    assert.equal(
      adapter.parseChatResponse(body, { 'X-Request-Id': ['req_first', 'x'] }).providerRequestId,
      'req_first',
    );
  });

  it('reads parallel tool calls with a null content', () => {
    const result = adapter.parseChatResponse(fixtureJson('openai', 'chat-tools-unary.json'), {});
    assert.equal(result.content, '');
    assert.equal(result.stopReason, 'tool_calls');
    assert.deepEqual(result.toolCalls, [
      {
        id: 'call_fdNz3vOBKYgOIpMdWotB9MjY',
        type: 'function',
        function: {
          name: 'GetWeatherArgs',
          arguments: '{"city": "Edinburgh", "country": "GB", "units": "c"}',
        },
      },
      {
        id: 'call_h1DWI1POMJLb0KwIyQHWXD4p',
        type: 'function',
        function: { name: 'get_stock_price', arguments: '{"ticker": "AAPL", "exchange": "NASDAQ"}' },
      },
    ]);
    assert.deepEqual(result.usage, { ...emptyUsage(), input: 149, output: 60 });
  });

  it('maps cached, reasoning and image counts of a compatible server (xAI)', () => {
    const result = adapter.parseChatResponse(fixtureJson('openai', 'compatible-xai-tools-unary.json'), {});
    assert.equal(result.responseModel, 'grok-3-mini');
    assert.deepEqual(result.usage, {
      ...emptyUsage(),
      input: 307,
      output: 26,
      cachedInput: 244,
      reasoning: 255,
    });
    assert.deepEqual(result.toolCalls, [
      {
        id: 'call_46427107',
        type: 'function',
        function: { name: 'weather', arguments: '{"location":"San Francisco"}' },
      },
    ]);
    assert.equal(result.stopReason, 'tool_calls');
  });

  it('maps audio output tokens', () => {
    const result = adapter.parseChatResponse(fixtureJson('openai', 'chat-audio-unary.json'), {});
    assert.equal(result.content, '');
    assert.deepEqual(result.usage, { ...emptyUsage(), input: 17, output: 40, audioOutput: 30 });
  });

  it('rejects a body that is not an object and reads content arrays of compatible servers', () => {
    assert.throws(() => adapter.parseChatResponse('oops', {}), ProviderProtocolError);
    const result = adapter.parseChatResponse(
      {
        choices: [
          {
            message: {
              content: [
                { type: 'text', text: 'a' },
                { type: 'text', text: 'b' },
              ],
            },
            finish_reason: 'eos',
          },
        ],
      },
      {},
    );
    assert.equal(result.content, 'ab');
    assert.equal(result.stopReason, null);
    assert.equal(result.usage, undefined);
  });
});

describe('OpenAIChatStreamParser (recorded)', () => {
  it('parses a text stream with the include_usage chunk and [DONE]', () => {
    const deltas = parseFixtureStream(adapter, 'chat-stream.sse');
    assert.deepEqual(deltas[0], {
      type: 'start',
      responseModel: 'gpt-4o-2024-08-06',
      providerRequestId: 'chatcmpl-9tXjg9DdaOfymTPDrSLfxslQEH0C2',
    });
    assert.equal(
      textOf(deltas),
      "I'm unable to provide real-time updates, including current weather information. For the latest weather in San Francisco, I recommend checking a reliable weather website or app such as the Weather Channel, BBC Weather, or a local San Francisco news station.",
    );
    assert.equal(deltasOfType(deltas, 'text').length, 47);
    assert.deepEqual(deltas.slice(-3), [
      { type: 'finish', stopReason: 'stop' },
      {
        type: 'usage',
        usage: { ...emptyUsage(), input: 14, output: 47 },
        rawUsage: { prompt_tokens: 14, completion_tokens: 47, total_tokens: 61 },
      },
      { type: 'done' },
    ]);
  });

  it('parses parallel tool-call fragments by index', () => {
    const deltas = parseFixtureStream(adapter, 'chat-tools-stream.sse');
    const calls = deltasOfType(deltas, 'tool_call');
    assert.deepEqual(calls[0], {
      type: 'tool_call',
      index: 0,
      id: 'call_lQnnsesjFMWMQ5IeWPHzR4th',
      name: 'GetWeatherArgs',
      argumentsDelta: '',
    });
    assert.deepEqual(calls[1], { type: 'tool_call', index: 0, argumentsDelta: '{"ci' });
    const result = accumulate(deltas).result();
    assert.deepEqual(result.toolCalls, [
      {
        id: 'call_lQnnsesjFMWMQ5IeWPHzR4th',
        type: 'function',
        function: {
          name: 'GetWeatherArgs',
          arguments: '{"city": "Edinburgh", "country": "UK", "units": "c"}',
        },
      },
      {
        id: 'call_2xjOUgaCdiwAcl9ZBL9LyMUU',
        type: 'function',
        function: { name: 'get_stock_price', arguments: '{"ticker": "AAPL", "exchange": "NASDAQ"}' },
      },
    ]);
    assert.equal(result.content, '');
    assert.equal(result.stopReason, 'tool_calls');
    assert.deepEqual(result.usage, { ...emptyUsage(), input: 149, output: 60 });
  });

  it('turns an in-stream error object into an error delta', () => {
    const deltas = parseFixtureStream(adapter, 'chat-stream-error.sse');
    assert.deepEqual(deltas, [
      {
        type: 'error',
        message:
          'The server had an error processing your request. Sorry about that! You can retry your request, or contact us through our help center at help.openai.com if you keep seeing this error.',
        errorType: 'server_error',
      },
      { type: 'done' },
    ]);
  });

  it('throws a protocol error on an event that is not JSON', () => {
    assert.throws(() => new OpenAIChatStreamParser().parse({ data: '{"id": ' }), ProviderProtocolError);
  });

  it('numbers tool calls by id when a compatible server omits the index', () => {
    const parser = new OpenAIChatStreamParser();
    const chunk = (call: object) => ({
      data: JSON.stringify({ choices: [{ delta: { tool_calls: [call] } }] }),
    });
    const deltas = [
      ...parser.parse(chunk({ id: 'a', function: { name: 'one', arguments: '{}' } })),
      ...parser.parse(chunk({ id: 'b', function: { name: 'two', arguments: '{"x":' } })),
      ...parser.parse(chunk({ function: { arguments: '1}' } })),
    ];
    assert.deepEqual(
      deltasOfType(deltas, 'tool_call').map((delta) => delta.index),
      [0, 1, 1],
    );
  });
});

describe('OpenAICompatibleAdapter.buildChatRequest', () => {
  const request: UnifiedChatRequest = {
    model: 'gpt-4o-mini',
    messages: [
      { role: 'developer', content: 'Be terse.' },
      { role: 'user', content: 'Hi' },
    ],
    max_tokens: 64,
    temperature: 0.2,
    stop: ['\n\n'],
    tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }],
    tool_choice: 'required',
    user: 'user-1',
  };

  it('passes the unified request through as the body', () => {
    const upstream = adapter.buildChatRequest(request, false);
    assert.equal(upstream.path, '/chat/completions');
    assert.deepEqual(upstream.headers, { 'content-type': 'application/json' });
    assert.deepEqual(JSON.parse(upstream.body), {
      model: 'gpt-4o-mini',
      messages: request.messages,
      max_tokens: 64,
      temperature: 0.2,
      stop: ['\n\n'],
      tools: request.tools,
      tool_choice: 'required',
      user: 'user-1',
    });
  });

  it('asks for a stream with the final usage chunk', () => {
    const upstream = adapter.buildChatRequest(
      { model: 'm', messages: [{ role: 'user', content: 'x' }] },
      true,
    );
    assert.deepEqual(JSON.parse(upstream.body), {
      model: 'm',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(upstream.headers['accept'], 'text/event-stream');
  });

  it('is configurable for servers without developer role or stream_options', () => {
    const compatible = new OpenAICompatibleAdapter({
      chatPath: '/api/chat/completions',
      includeStreamUsage: false,
      developerAsSystem: true,
    });
    const upstream = compatible.buildChatRequest(request, true);
    const body = JSON.parse(upstream.body);
    assert.equal(upstream.path, '/api/chat/completions');
    assert.deepEqual(body.messages[0], { role: 'system', content: 'Be terse.' });
    assert.equal(body.stream_options, undefined);
    assert.equal(compatible.family, 'openai');
  });

  it('sends a bearer token only when there is a key', () => {
    assert.deepEqual(adapter.authHeaders('sk-test'), { authorization: 'Bearer sk-test' });
    assert.deepEqual(adapter.authHeaders(undefined), {});
  });
});

describe('OpenAICompatibleAdapter.parseError', () => {
  it('classifies a recorded 429 as retryable with its code', () => {
    assert.deepEqual(adapter.parseError(429, fixtureJson('openai', 'error-429.json')), {
      message:
        'Rate limit reached for gpt-4 in organization org-********** on tokens per min (TPM): Limit 10000, Used 9348, Requested 5086. Please try again in 26.604s. Visit https://platform.openai.com/account/rate-limits to learn more.',
      type: 'rate_limit_exceeded',
      retryable: true,
    });
  });

  it('classifies a recorded 400 as final', () => {
    assert.deepEqual(adapter.parseError(400, fixtureJson('openai', 'error-400.json')), {
      message: 'Requested 1228288 tokens, max 300000 tokens per request',
      type: 'max_tokens_per_request',
      retryable: false,
    });
  });

  it('retries 408, 409, 429 and 5xx only', () => {
    const retryable = [400, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503, 529].filter(
      (status) => adapter.parseError(status, {}).retryable,
    );
    assert.deepEqual(retryable, [408, 409, 429, 500, 502, 503, 529]);
  });

  it('reads the error shapes of compatible servers and proxies', () => {
    assert.equal(
      adapter.parseError(400, { object: 'error', message: 'bad model', type: 'NotFoundError' }).message,
      'bad model',
    );
    assert.equal(
      adapter.parseError(400, { object: 'error', message: 'bad', type: 'NotFoundError' }).type,
      'NotFoundError',
    );
    assert.equal(adapter.parseError(500, { error: 'model crashed' }).message, 'model crashed');
    assert.equal(adapter.parseError(502, '<html>Bad Gateway</html>').message, '<html>Bad Gateway</html>');
    assert.equal(adapter.parseError(503, undefined).message, 'The upstream provider answered HTTP 503.');
  });
});

describe('OpenAICompatibleAdapter.parseEmbeddingsResponse', () => {
  it('counts prompt tokens as input and embedding tokens', () => {
    const result = adapter.parseEmbeddingsResponse(fixtureJson('openai', 'embeddings.json'));
    assert.deepEqual(result, {
      responseModel: 'text-embedding-3-small',
      usage: { ...emptyUsage(), input: 12, embeddings: 12 },
      rawUsage: { prompt_tokens: 12, total_tokens: 12 },
    });
  });
});
