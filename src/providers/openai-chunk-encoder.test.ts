import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  OpenAIChunkEncoder,
  StreamAccumulator,
  toOpenAIUsage,
  toUnifiedResponse,
} from './openai-chunk-encoder.ts';
import { OpenAIChatStreamParser } from './openai-compatible.ts';
import { fixtureJson, parseFixtureStream } from './recorded-fixtures.ts';
import { adapterFor } from './registry.ts';
import { decodeSseBody } from './sse.ts';
import { emptyUsage, type ProviderFamily, type StreamDelta, type TokenUsage } from './types.ts';

const identity = { id: 'chatcmpl-gw1', model: 'gateway-model', created: 1700000000 };
const chunkHead =
  '{"id":"chatcmpl-gw1","object":"chat.completion.chunk","created":1700000000,"model":"gateway-model"';

function accumulate(deltas: StreamDelta[]): StreamAccumulator {
  const accumulator = new StreamAccumulator();
  for (const delta of deltas) accumulator.add(delta);
  return accumulator;
}

describe('OpenAIChunkEncoder', () => {
  it('writes the role on the first chunk, then content, tool calls and the finish reason', () => {
    const encoder = new OpenAIChunkEncoder(identity);
    assert.equal(
      encoder.encode({ type: 'start', responseModel: 'claude-x' }),
      `data: ${chunkHead},"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n`,
    );
    assert.equal(
      encoder.encode({ type: 'text', text: 'Hi "there"\n' }),
      `data: ${chunkHead},"choices":[{"index":0,"delta":{"content":"Hi \\"there\\"\\n"},"finish_reason":null}]}\n\n`,
    );
    assert.equal(
      encoder.encode({ type: 'tool_call', index: 0, id: 'call_1', name: 'f', argumentsDelta: '' }),
      `data: ${chunkHead},"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"arguments":"","name":"f"}}]},"finish_reason":null}]}\n\n`,
    );
    assert.equal(
      encoder.encode({ type: 'tool_call', index: 0, argumentsDelta: '{"a":1}' }),
      `data: ${chunkHead},"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"a\\":1}"}}]},"finish_reason":null}]}\n\n`,
    );
    assert.equal(
      encoder.encode({ type: 'finish', stopReason: 'tool_calls' }),
      `data: ${chunkHead},"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}\n\n`,
    );
  });

  it('puts the role on the first content chunk when no start delta came', () => {
    const encoder = new OpenAIChunkEncoder(identity);
    assert.equal(
      encoder.encode({ type: 'text', text: 'x' }),
      `data: ${chunkHead},"choices":[{"index":0,"delta":{"role":"assistant","content":"x"},"finish_reason":null}]}\n\n`,
    );
    assert.equal(encoder.encode({ type: 'start' }), '');
  });

  it('holds usage back and sends the last one before [DONE] when asked to', () => {
    const encoder = new OpenAIChunkEncoder({ ...identity, includeUsage: true });
    const early: TokenUsage = { ...emptyUsage(), input: 5, output: 1 };
    const final: TokenUsage = { ...emptyUsage(), input: 5, output: 9, cachedInput: 2, reasoning: 3 };
    assert.equal(encoder.encode({ type: 'usage', usage: early, rawUsage: {} }), '');
    assert.equal(encoder.encode({ type: 'usage', usage: final, rawUsage: {} }), '');
    assert.equal(
      encoder.encode({ type: 'done' }),
      `data: ${chunkHead},"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":9,"total_tokens":14,"prompt_tokens_details":{"cached_tokens":2,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":3,"audio_tokens":0}}}\n\ndata: [DONE]\n\n`,
    );
    assert.equal(encoder.done(), '');
  });

  it('finishes with the usage the caller accumulated', () => {
    const encoder = new OpenAIChunkEncoder({ ...identity, includeUsage: true });
    assert.equal(
      encoder.finish({ ...emptyUsage(), input: 3, output: 4 }),
      `data: ${chunkHead},"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0}}}\n\ndata: [DONE]\n\n`,
    );
    assert.equal(
      new OpenAIChunkEncoder({ ...identity, includeUsage: true }).finish(undefined),
      'data: [DONE]\n\n',
    );
  });

  it('sends no usage chunk unless the client asked for one', () => {
    const encoder = new OpenAIChunkEncoder(identity);
    encoder.encode({ type: 'usage', usage: emptyUsage(), rawUsage: {} });
    assert.equal(encoder.done(), 'data: [DONE]\n\n');
  });

  it('writes an upstream failure in the gateway error shape', () => {
    const encoder = new OpenAIChunkEncoder(identity);
    assert.equal(
      encoder.encode({ type: 'error', message: 'Overloaded', errorType: 'overloaded_error' }),
      'data: {"error":{"code":"upstream_error","message":"Overloaded"}}\n\n',
    );
  });

  it('names a finish the family could not classify as stop', () => {
    const encoder = new OpenAIChunkEncoder(identity);
    encoder.encode({ type: 'start' });
    assert.match(encoder.encode({ type: 'finish', stopReason: null }), /"finish_reason":"stop"/);
  });
});

describe('OpenAIChunkEncoder round trip', () => {
  const streams: [ProviderFamily, string][] = [
    ['openai', 'chat-stream.sse'],
    ['openai', 'chat-tools-stream.sse'],
    ['anthropic', 'chat-stream.sse'],
    ['anthropic', 'chat-tools-stream.sse'],
    ['anthropic', 'chat-prompt-cache-stream.sse'],
    ['gemini', 'chat-stream.sse'],
    ['gemini', 'chat-tools-stream.sse'],
  ];

  for (const [family, name] of streams) {
    it(`re-encodes ${family}/${name} into chunks the OpenAI parser reads back identically`, () => {
      const deltas = parseFixtureStream(adapterFor(family), name);
      const encoder = new OpenAIChunkEncoder({ ...identity, includeUsage: true });
      const wire = deltas.map((delta) => encoder.encode(delta)).join('') + encoder.done();
      assert.ok(wire.endsWith('data: [DONE]\n\n'));

      const parser = new OpenAIChatStreamParser();
      const reparsed = decodeSseBody(wire).flatMap((event) => parser.parse(event));
      const original = accumulate(deltas).result();
      const roundTrip = accumulate(reparsed);
      const result = roundTrip.result();
      assert.equal(roundTrip.done, true);
      assert.equal(result.responseModel, 'gateway-model');
      assert.equal(result.content, original.content);
      assert.deepEqual(result.toolCalls, original.toolCalls);
      assert.equal(result.stopReason, original.stopReason);
      // OpenAI's usage object has no field for cache writes or image input.
      assert.deepEqual(result.usage, { ...original.usage, cacheWrite: 0, imageInput: 0 });
    });
  }
});

describe('toUnifiedResponse', () => {
  it('normalizes a tool-calling answer', () => {
    const result = adapterFor('anthropic').parseChatResponse(
      fixtureJson('anthropic', 'chat-tools-unary.json'),
      {},
    );
    const response = toUnifiedResponse('anthropic', 'claude-3-opus', result);
    assert.deepEqual(Object.keys(response), [
      'provider',
      'model',
      'content',
      'stop_reason',
      'input_tokens',
      'output_tokens',
      'tool_calls',
    ]);
    assert.equal(response.stop_reason, 'tool_calls');
    assert.equal(response.input_tokens, 602);
    assert.equal(response.output_tokens, 93);
    assert.deepEqual(response.tool_calls, [
      {
        id: 'toolu_01LRmxn9vGM1d2DZSDBowdZ1',
        type: 'function',
        function: { name: 'updateIssueList', arguments: '{}' },
      },
    ]);
  });

  it('omits tool_calls when there are none and reports unknown usage as null', () => {
    const result = adapterFor('gemini').parseChatResponse(fixtureJson('gemini', 'chat-unary.json'), {});
    assert.deepEqual(toUnifiedResponse('gemini', 'gemini-3-pro', result), {
      provider: 'gemini',
      model: 'gemini-3-pro',
      content: "There are **3** r's in strawberry.\n\nHere is the breakdown: st**r**awbe**rr**y.",
      stop_reason: 'stop',
      input_tokens: 9,
      output_tokens: 272,
    });
    const withoutUsage = toUnifiedResponse('openai', 'm', { ...result, usage: undefined });
    assert.equal(withoutUsage.input_tokens, null);
    assert.equal(withoutUsage.output_tokens, null);
  });
});

describe('StreamAccumulator', () => {
  it('orders tool calls by index and records errors and the end', () => {
    const accumulator = accumulate([
      { type: 'start', responseModel: 'm', providerRequestId: 'r' },
      { type: 'tool_call', index: 1, id: 'b', name: 'second', argumentsDelta: '{' },
      { type: 'tool_call', index: 0, id: 'a', name: 'first', argumentsDelta: '{}' },
      { type: 'tool_call', index: 1, argumentsDelta: '}' },
      { type: 'error', message: 'boom' },
    ]);
    const result = accumulator.result();
    assert.deepEqual(
      result.toolCalls.map((call) => [call.id, call.function.name, call.function.arguments]),
      [
        ['a', 'first', '{}'],
        ['b', 'second', '{}'],
      ],
    );
    assert.equal(result.providerRequestId, 'r');
    assert.deepEqual(accumulator.error, { message: 'boom' });
    assert.equal(accumulator.done, false);
    assert.equal(result.usage, undefined);
  });

  it('keeps no text or tool calls when asked to account only, and everything else', () => {
    const usage: TokenUsage = { ...emptyUsage(), input: 3, output: 2 };
    const accumulator = new StreamAccumulator({ keepContent: false });
    for (const delta of [
      { type: 'start', responseModel: 'm', providerRequestId: 'r' },
      { type: 'text', text: 'secret answer' },
      { type: 'tool_call', index: 0, id: 'a', name: 'f', argumentsDelta: '{"x":1}' },
      { type: 'finish', stopReason: 'stop' },
      { type: 'usage', usage, rawUsage: { prompt_tokens: 3 } },
      { type: 'done' },
    ] satisfies StreamDelta[])
      accumulator.add(delta);
    const result = accumulator.result();
    assert.equal(result.content, '');
    assert.deepEqual(result.toolCalls, []);
    assert.equal(result.responseModel, 'm');
    assert.equal(result.providerRequestId, 'r');
    assert.equal(result.stopReason, 'stop');
    assert.deepEqual(result.usage, usage);
    assert.deepEqual(result.rawUsage, { prompt_tokens: 3 });
    assert.equal(accumulator.done, true);
  });

  it('maps usage back to OpenAI field names', () => {
    assert.deepEqual(
      toOpenAIUsage({ ...emptyUsage(), input: 10, output: 4, audioInput: 1, audioOutput: 2 }),
      {
        prompt_tokens: 10,
        completion_tokens: 4,
        total_tokens: 14,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 1 },
        completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 2 },
      },
    );
  });
});

describe('adapterFor', () => {
  it('returns one adapter per family', () => {
    for (const family of ['openai', 'anthropic', 'gemini'] as const) {
      assert.equal(adapterFor(family).family, family);
      assert.equal(adapterFor(family), adapterFor(family));
    }
  });
});
