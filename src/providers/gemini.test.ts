import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GeminiAdapter, GeminiStreamParser, mapGeminiStopReason } from './gemini.ts';
import { StreamAccumulator } from './openai-chunk-encoder.ts';
import { RequestTranslationError } from './provider-error.ts';
import { deltasOfType, fixtureJson, fixtureText, parseFixtureStream, textOf } from './recorded-fixtures.ts';
import { emptyUsage, type StreamDelta, type UnifiedChatRequest } from './types.ts';

const adapter = new GeminiAdapter();

function accumulate(deltas: StreamDelta[]) {
  const accumulator = new StreamAccumulator();
  for (const delta of deltas) accumulator.add(delta);
  return accumulator;
}

function body(request: UnifiedChatRequest): Record<string, unknown> {
  return JSON.parse(adapter.buildChatRequest(request, false).body);
}

describe('GeminiAdapter.parseChatResponse (recorded)', () => {
  it('reads a text answer and counts thoughts as output', () => {
    const result = adapter.parseChatResponse(fixtureJson('gemini', 'chat-unary.json'));
    assert.equal(
      result.content,
      "There are **3** r's in strawberry.\n\nHere is the breakdown: st**r**awbe**rr**y.",
    );
    assert.equal(result.stopReason, 'stop');
    assert.equal(result.responseModel, 'gemini-3-pro-preview');
    assert.equal(result.providerRequestId, 'Un6LacrVMcjUxs0PmJfWoQc');
    assert.deepEqual(result.toolCalls, []);
    assert.deepEqual(result.usage, { ...emptyUsage(), input: 9, output: 272, reasoning: 244 });
  });

  it('reads a function call with a positional id and reports tool_calls', () => {
    const result = adapter.parseChatResponse(fixtureJson('gemini', 'chat-tools-unary.json'));
    assert.equal(result.content, '');
    assert.equal(result.stopReason, 'tool_calls');
    assert.deepEqual(result.toolCalls, [
      {
        id: 'call_0',
        type: 'function',
        function: { name: 'weather', arguments: '{"location":"San Francisco"}' },
      },
    ]);
    assert.deepEqual(result.usage, { ...emptyUsage(), input: 29, output: 908, reasoning: 893 });
  });

  it('maps finish reasons', () => {
    assert.deepEqual(
      [
        'STOP',
        'MAX_TOKENS',
        'SAFETY',
        'RECITATION',
        'BLOCKLIST',
        'PROHIBITED_CONTENT',
        'OTHER',
        undefined,
      ].map((reason) => mapGeminiStopReason(reason, false)),
      ['stop', 'length', 'content_filter', 'content_filter', 'content_filter', 'content_filter', null, null],
    );
    assert.equal(mapGeminiStopReason('STOP', true), 'tool_calls');
    assert.equal(mapGeminiStopReason('MAX_TOKENS', true), 'length');
  });

  it('skips thought parts and reports a blocked prompt as content_filter', () => {
    const result = adapter.parseChatResponse({
      candidates: [
        {
          content: { parts: [{ text: 'thinking...', thought: true }, { text: 'Answer' }] },
          finishReason: 'STOP',
        },
      ],
    });
    assert.equal(result.content, 'Answer');
    const blocked = adapter.parseChatResponse({ promptFeedback: { blockReason: 'SAFETY' } });
    assert.equal(blocked.stopReason, 'content_filter');
    assert.equal(blocked.content, '');
  });
});

describe('GeminiStreamParser (recorded)', () => {
  it('parses a text stream and emits done after the finish chunk', () => {
    const deltas = parseFixtureStream(adapter, 'chat-stream.sse');
    assert.deepEqual(deltas[0], {
      type: 'start',
      responseModel: 'gemini-3-pro-preview',
      providerRequestId: 'bH6LaZW8Fp_3nsEPqtaSwQ4',
    });
    assert.equal(textOf(deltas), 'There are **3** "r"s in strawberry.\n\nst**r**awbe**rr**y');
    assert.deepEqual(deltas.slice(-3), [
      { type: 'finish', stopReason: 'stop' },
      {
        type: 'usage',
        usage: { ...emptyUsage(), input: 9, output: 208, reasoning: 185 },
        rawUsage: {
          promptTokenCount: 9,
          candidatesTokenCount: 23,
          totalTokenCount: 217,
          promptTokensDetails: [{ modality: 'TEXT', tokenCount: 9 }],
          thoughtsTokenCount: 185,
        },
      },
      { type: 'done' },
    ]);
    // Running totals of earlier chunks are not emitted: one usage, the final one.
    assert.equal(deltasOfType(deltas, 'usage').length, 1);
  });

  it('parses a streamed function call', () => {
    const deltas = parseFixtureStream(adapter, 'chat-tools-stream.sse');
    assert.deepEqual(deltasOfType(deltas, 'tool_call'), [
      {
        type: 'tool_call',
        index: 0,
        id: 'call_0',
        name: 'weather',
        argumentsDelta: '{"location":"San Francisco"}',
      },
    ]);
    const result = accumulate(deltas).result();
    assert.equal(result.stopReason, 'tool_calls');
    assert.deepEqual(result.usage, { ...emptyUsage(), input: 29, output: 60, reasoning: 45 });
    assert.equal(deltas.at(-1)?.type, 'done');
  });

  it('reads a usage-only chunk with cached and tool-use prompt tokens', () => {
    const deltas = parseFixtureStream(adapter, 'chat-usage-only-stream.sse');
    const [usage] = deltasOfType(deltas, 'usage');
    // input + output equals the recorded totalTokenCount of 237.
    assert.deepEqual(usage?.usage, {
      ...emptyUsage(),
      input: 77,
      output: 160,
      cachedInput: 4,
      reasoning: 89,
    });
    assert.deepEqual(deltasOfType(deltas, 'done'), []);
  });

  it('turns an error object in the stream into an error delta', () => {
    const parser = new GeminiStreamParser();
    assert.deepEqual(parser.parse({ data: fixtureText('gemini', 'error-429.json') }), [
      {
        type: 'error',
        message: 'You exceeded your current quota, please check your plan.',
        errorType: 'RESOURCE_EXHAUSTED',
      },
    ]);
  });

  it('numbers function calls across chunks', () => {
    const parser = new GeminiStreamParser();
    const chunk = (name: string, finishReason?: string) => ({
      data: JSON.stringify({
        candidates: [{ content: { parts: [{ functionCall: { name, args: {} } }] }, finishReason }],
      }),
    });
    const deltas = [...parser.parse(chunk('first')), ...parser.parse(chunk('second', 'STOP'))];
    assert.deepEqual(
      deltasOfType(deltas, 'tool_call').map((delta) => [delta.index, delta.id, delta.name]),
      [
        [0, 'call_0', 'first'],
        [1, 'call_1', 'second'],
      ],
    );
  });
});

describe('GeminiAdapter.buildChatRequest', () => {
  it('targets generateContent and the SSE variant of streamGenerateContent', () => {
    const request: UnifiedChatRequest = {
      model: 'gemini-2.5-flash',
      messages: [{ role: 'user', content: 'Hi' }],
    };
    const unary = adapter.buildChatRequest(request, false);
    assert.equal(unary.path, '/v1beta/models/gemini-2.5-flash:generateContent');
    assert.deepEqual(unary.headers, { 'content-type': 'application/json' });
    assert.deepEqual(JSON.parse(unary.body), { contents: [{ role: 'user', parts: [{ text: 'Hi' }] }] });
    const streaming = adapter.buildChatRequest(request, true);
    assert.equal(streaming.path, '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    assert.equal(streaming.headers['accept'], 'text/event-stream');
    assert.equal(
      adapter.buildChatRequest({ ...request, model: 'tunedModels/mine' }, false).path,
      '/v1beta/tunedModels/mine:generateContent',
    );
  });

  it('moves system messages to systemInstruction and maps generationConfig', () => {
    const translated = body({
      model: 'g',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: 'Use metric units.' },
        { role: 'user', content: 'Temperature?' },
      ],
      max_tokens: 100,
      temperature: 0.3,
      top_p: 0.8,
      stop: 'STOP!',
    });
    assert.deepEqual(translated, {
      contents: [{ role: 'user', parts: [{ text: 'Temperature?' }] }],
      systemInstruction: { parts: [{ text: 'Be brief.' }, { text: 'Use metric units.' }] },
      generationConfig: { maxOutputTokens: 100, temperature: 0.3, topP: 0.8, stopSequences: ['STOP!'] },
    });
  });

  it('turns tool calls into functionCall parts and tool results into named functionResponses', () => {
    const translated = body({
      model: 'g',
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_0',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
            { id: 'call_1', type: 'function', function: { name: 'get_time', arguments: '{"city":"Rome"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_0', content: '18C' },
        { role: 'tool', tool_call_id: 'call_1', content: '14:00' },
        { role: 'assistant', content: 'Paris is 18C; it is 14:00 in Rome.' },
      ],
    });
    assert.deepEqual(translated['contents'], [
      { role: 'user', parts: [{ text: 'Weather in Paris and Rome?' }] },
      {
        role: 'model',
        parts: [
          { functionCall: { name: 'get_weather', args: { city: 'Paris' } } },
          { functionCall: { name: 'get_time', args: { city: 'Rome' } } },
        ],
      },
      {
        role: 'user',
        parts: [
          { functionResponse: { name: 'get_weather', response: { content: '18C' } } },
          { functionResponse: { name: 'get_time', response: { content: '14:00' } } },
        ],
      },
      { role: 'model', parts: [{ text: 'Paris is 18C; it is 14:00 in Rome.' }] },
    ]);
  });

  it('refuses a tool result whose call it cannot name', () => {
    assert.throws(
      () => body({ model: 'g', messages: [{ role: 'tool', tool_call_id: 'call_9', content: 'x' }] }),
      RequestTranslationError,
    );
  });

  it('translates images to inlineData and fileData', () => {
    const translated = body({
      model: 'g',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: 'data:image/webp;base64,UklGRg==' } },
            { type: 'image_url', image_url: { url: 'https://example.com/chart.PNG?size=2' } },
            { type: 'text', text: 'Describe both.' },
          ],
        },
      ],
    });
    assert.deepEqual(translated['contents'], [
      {
        role: 'user',
        parts: [
          { inlineData: { mimeType: 'image/webp', data: 'UklGRg==' } },
          { fileData: { mimeType: 'image/png', fileUri: 'https://example.com/chart.PNG?size=2' } },
          { text: 'Describe both.' },
        ],
      },
    ]);
  });

  it('declares tools as functionDeclarations and maps tool_choice to toolConfig', () => {
    const request: UnifiedChatRequest = {
      model: 'g',
      messages: [{ role: 'user', content: 'x' }],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Weather',
            parameters: { type: 'object', properties: {} },
          },
        },
      ],
    };
    assert.deepEqual(body(request)['tools'], [
      {
        functionDeclarations: [
          {
            name: 'get_weather',
            description: 'Weather',
            parametersJsonSchema: { type: 'object', properties: {} },
          },
        ],
      },
    ]);
    const choices: [UnifiedChatRequest['tool_choice'], unknown][] = [
      ['auto', { functionCallingConfig: { mode: 'AUTO' } }],
      ['none', { functionCallingConfig: { mode: 'NONE' } }],
      ['required', { functionCallingConfig: { mode: 'ANY' } }],
      [
        { type: 'function', function: { name: 'get_weather' } },
        { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } },
      ],
    ];
    for (const [choice, expected] of choices) {
      assert.deepEqual(body({ ...request, tool_choice: choice })['toolConfig'], expected);
    }
  });

  it('authenticates with x-goog-api-key', () => {
    assert.deepEqual(adapter.authHeaders('AIza-test'), { 'x-goog-api-key': 'AIza-test' });
  });
});

describe('GeminiAdapter.parseError', () => {
  it('classifies a recorded 429', () => {
    assert.deepEqual(adapter.parseError(429, fixtureJson('gemini', 'error-429.json')), {
      message: 'You exceeded your current quota, please check your plan.',
      type: 'RESOURCE_EXHAUSTED',
      retryable: true,
    });
  });

  it('reads an error wrapped in an array and a 400 as final', () => {
    const classified = adapter.parseError(400, [
      { error: { code: 400, message: 'API key not valid.', status: 'INVALID_ARGUMENT' } },
    ]);
    assert.deepEqual(classified, {
      message: 'API key not valid.',
      type: 'INVALID_ARGUMENT',
      retryable: false,
    });
  });
});
