import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type MockUpstream, startMockUpstream } from './server.ts';
import { parseEventStream, send, sendJson } from './upstream-client.ts';

// systemInstruction 6 + user 11 + model 4 + user 3 = 24 characters → 6 input tokens.
const request = {
  systemInstruction: { parts: [{ text: 'Short.' }] },
  contents: [
    { role: 'user', parts: [{ text: 'First words' }] },
    { role: 'model', parts: [{ text: 'Okay' }] },
    { parts: [{ text: 'Hey' }, { inlineData: { mimeType: 'image/png', data: 'AAAA' } }] },
  ],
  generationConfig: { maxOutputTokens: 20 },
};

const promptDetails = [{ modality: 'TEXT', tokenCount: 6 }];

describe('mock upstream: Gemini generateContent', () => {
  let mock: MockUpstream;
  before(async () => {
    mock = await startMockUpstream({ streamChunks: 3, outputTokens: 4 });
  });
  after(() => mock.close());

  it('answers generateContent in the exact GenerateContentResponse shape, model taken from the path', async () => {
    const { status, body } = await sendJson(mock.url, '/v1beta/models/gemini-2.5-flash:generateContent', {
      body: request,
    });
    assert.equal(status, 200);
    assert.match(String(body['responseId']), /^[0-9A-Za-z]{22}$/);
    assert.deepEqual(
      { ...body, responseId: 'ID' },
      {
        candidates: [
          { content: { parts: [{ text: 'Hey' }], role: 'model' }, finishReason: 'STOP', index: 0 },
        ],
        usageMetadata: {
          promptTokenCount: 6,
          candidatesTokenCount: 4,
          totalTokenCount: 10,
          promptTokensDetails: promptDetails,
        },
        modelVersion: 'gemini-2.5-flash',
        responseId: 'ID',
      },
    );
  });

  it('streams with alt=sse in CRLF-framed data events; only the last has finishReason and full usage', async () => {
    const response = await send(mock.url, '/v1beta/models/mock-gemini:streamGenerateContent?alt=sse', {
      body: request,
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-type'], 'text/event-stream');
    assert.ok(response.text.includes('\r\n\r\n'), 'frames are CRLF separated, as the real API sends them');
    assert.ok(!/[^\r]\n/.test(response.text), 'no bare LF');
    const events = parseEventStream(response.text);
    assert.equal(events.length, 3);
    const chunks = events.map((event) => JSON.parse(event.data) as Record<string, unknown>);
    const responseId = chunks[0]?.['responseId'];
    assert.deepEqual(chunks[0], {
      candidates: [{ content: { parts: [{ text: 'H' }], role: 'model' }, index: 0 }],
      usageMetadata: { promptTokenCount: 6, totalTokenCount: 6, promptTokensDetails: promptDetails },
      modelVersion: 'mock-gemini',
      responseId,
    });
    assert.deepEqual(chunks[2], {
      candidates: [{ content: { parts: [{ text: 'y' }], role: 'model' }, finishReason: 'STOP', index: 0 }],
      usageMetadata: {
        promptTokenCount: 6,
        candidatesTokenCount: 4,
        totalTokenCount: 10,
        promptTokensDetails: promptDetails,
      },
      modelVersion: 'mock-gemini',
      responseId,
    });
  });

  it('streams a JSON array of responses without alt=sse', async () => {
    const response = await send(mock.url, '/v1beta/models/mock-gemini:streamGenerateContent', {
      body: request,
    });
    assert.equal(response.headers['content-type'], 'application/json; charset=UTF-8');
    const chunks = JSON.parse(response.text) as {
      candidates: { content: { parts: { text: string }[] } }[];
    }[];
    assert.equal(chunks.map((chunk) => chunk.candidates[0]?.content.parts[0]?.text).join(''), 'Hey');
  });

  it('rejects a request without contents in the Gemini error shape', async () => {
    const { status, body } = await sendJson(mock.url, '/v1beta/models/m:generateContent', { body: {} });
    assert.equal(status, 400);
    assert.deepEqual(body, {
      error: {
        code: 400,
        message: '* GenerateContentRequest.contents: contents is not specified\n',
        status: 'INVALID_ARGUMENT',
      },
    });
  });
});
