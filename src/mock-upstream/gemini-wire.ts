/**
 * Gemini generateContent wire format, as generativelanguage.googleapis.com sends it:
 * `GenerateContentResponse` bodies; `streamGenerateContent?alt=sse` as `data:` frames separated
 * by CRLF (the real API's framing, which catches LF-only SSE parsers); without `alt=sse` the
 * stream is a JSON array of responses. Every stream chunk carries usageMetadata, complete only
 * on the last one (with finishReason). Errors are `{error:{code,message,status}}`, in streams
 * as a `data:` frame.
 */
import {
  type ChatReading,
  type ChatTurn,
  type ChatWire,
  type ErrorKind,
  errorStatus,
  type IdentifierSource,
  isRecord,
  type RequestProblem,
  type StreamFrames,
} from './chat-wire.ts';
import { TextTally } from './conversation.ts';

const errorStatuses: Readonly<Record<ErrorKind, string>> = {
  'bad-request': 'INVALID_ARGUMENT',
  'not-found': 'NOT_FOUND',
  'rate-limited': 'RESOURCE_EXHAUSTED',
  'server-error': 'INTERNAL',
};

const defaultMessages: Readonly<Record<ErrorKind, string>> = {
  'bad-request': 'The request was rejected by the mock upstream (x-mock-scenario: error-400).',
  'not-found': 'Requested entity was not found.',
  'rate-limited': 'Resource has been exhausted (e.g. check quota).',
  'server-error':
    'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting',
};

export function geminiErrorBody(kind: ErrorKind, message: string): string {
  return JSON.stringify({ error: { code: errorStatus[kind], message, status: errorStatuses[kind] } });
}

function partTexts(content: unknown): string[] {
  if (!isRecord(content) || !Array.isArray(content['parts'])) return [];
  const texts: string[] = [];
  for (const part of content['parts']) {
    if (isRecord(part) && typeof part['text'] === 'string') texts.push(part['text']);
  }
  return texts;
}

function readGenerateContentRequest(
  body: unknown,
  pathModel: string | undefined,
): ChatReading | RequestProblem {
  if (!isRecord(body)) return { problem: 'Invalid JSON payload received. Expected an object.' };
  const contents = body['contents'];
  if (!Array.isArray(contents) || contents.length === 0) {
    return { problem: '* GenerateContentRequest.contents: contents is not specified\n', param: 'contents' };
  }
  const tally = new TextTally();
  // The REST API accepts both spellings of the field.
  for (const text of partTexts(body['systemInstruction'] ?? body['system_instruction'])) tally.add(text);
  for (const [index, content] of contents.entries()) {
    if (!isRecord(content))
      return { problem: `* GenerateContentRequest.contents[${index}]: must be an object\n` };
    const texts = partTexts(content);
    // A content without a role is a user turn, as in the real API.
    if (content['role'] === 'model') for (const text of texts) tally.add(text);
    else tally.addUserTurn(texts);
  }
  return { model: pathModel ?? '', stream: false, includeUsage: false, tally };
}

function usageMetadata(inputTokens: number, outputTokens: number | undefined): string {
  const details = `"promptTokensDetails":[{"modality":"TEXT","tokenCount":${inputTokens}}]`;
  if (outputTokens === undefined)
    return `{"promptTokenCount":${inputTokens},"totalTokenCount":${inputTokens},${details}}`;
  return (
    `{"promptTokenCount":${inputTokens},"candidatesTokenCount":${outputTokens},` +
    `"totalTokenCount":${inputTokens + outputTokens},${details}}`
  );
}

function responseBody(turn: ChatTurn, textLiteral: string, last: boolean): string {
  const finish = last ? ',"finishReason":"STOP"' : '';
  return (
    `{"candidates":[{"content":{"parts":[{"text":${textLiteral}}],"role":"model"}${finish},"index":0}],` +
    `"usageMetadata":${usageMetadata(turn.inputTokens, last ? turn.outputTokens : undefined)},` +
    `"modelVersion":${turn.modelLiteral},"responseId":"${turn.responseId}"}`
  );
}

const streamErrorBody = geminiErrorBody('server-error', defaultMessages['server-error']);

function generateStreamFrames(turn: ChatTurn, query: string): StreamFrames {
  if (new URLSearchParams(query).get('alt') === 'sse') {
    return {
      contentType: 'text/event-stream',
      preamble: '',
      content: (pieceLiteral, _index, last) => `data: ${responseBody(turn, pieceLiteral, last)}\r\n\r\n`,
      epilogue: '',
      error: `data: ${streamErrorBody}\r\n\r\n`,
    };
  }
  return {
    contentType: 'application/json; charset=UTF-8',
    preamble: '',
    content: (pieceLiteral, index, last) =>
      `${index === 0 ? '[' : ',\r\n'}${responseBody(turn, pieceLiteral, last)}`,
    epilogue: ']',
    error: `,\r\n${streamErrorBody}]`,
  };
}

export function createGeminiChatWire(identifiers: IdentifierSource): ChatWire {
  return {
    family: 'gemini',
    // Gemini names no request id header; its id is `responseId` in the body.
    requestIdHeader: undefined,
    newRequestId: () => identifiers.next(22),
    newResponseId: () => identifiers.next(22),
    read: (body, pathModel) => readGenerateContentRequest(body, pathModel),
    unaryBody: (turn) => responseBody(turn, turn.reply.textLiteral, true),
    streamFrames: (turn, query) => generateStreamFrames(turn, query),
    errorBody: (kind, message) => geminiErrorBody(kind, message),
    defaultErrorMessage: (kind) => defaultMessages[kind],
  };
}
