/**
 * OpenAI Chat Completions wire format, as api.openai.com sends it: `chat.completion` bodies,
 * `chat.completion.chunk` SSE frames ended by `data: [DONE]`, the final usage-only chunk
 * (`choices: []`) when `stream_options.include_usage` is set (all other chunks then carry
 * `"usage":null`), in-stream errors as a `data: {"error":…}` frame, and `{error:{message,type,param,code}}`
 * error bodies.
 */
import {
  type ChatReading,
  type ChatTurn,
  type ChatWire,
  type ErrorKind,
  type IdentifierSource,
  isRecord,
  type RequestProblem,
  type StreamFrames,
} from './chat-wire.ts';
import { TextTally } from './conversation.ts';

const systemFingerprint = '"fp_6d0a6d10c4"';

function usageObject(inputTokens: number, outputTokens: number): string {
  return (
    `{"prompt_tokens":${inputTokens},"completion_tokens":${outputTokens},"total_tokens":${inputTokens + outputTokens},` +
    '"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},' +
    '"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}'
  );
}

const errorTypes: Readonly<Record<ErrorKind, { type: string; code: string | null }>> = {
  'bad-request': { type: 'invalid_request_error', code: null },
  'not-found': { type: 'invalid_request_error', code: null },
  'rate-limited': { type: 'requests', code: 'rate_limit_exceeded' },
  'server-error': { type: 'server_error', code: null },
};

const defaultMessages: Readonly<Record<ErrorKind, string>> = {
  'bad-request': 'The request was rejected by the mock upstream (x-mock-scenario: error-400).',
  'not-found': 'Invalid URL',
  'rate-limited':
    'Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 1s.',
  'server-error': 'The server had an error while processing your request. Sorry about that!',
};

/** An OpenAI-shaped error object; also used by the embeddings route and unknown routes. */
export function openAiErrorBody(kind: ErrorKind, message: string, param?: string): string {
  const { type, code } = errorTypes[kind];
  return JSON.stringify({ error: { message, type, param: param ?? null, code } });
}

export function openAiDefaultErrorMessage(kind: ErrorKind): string {
  return defaultMessages[kind];
}

/** Text of an OpenAI message `content`: a string, or the `text` of its text parts. */
export function openAiContentTexts(content: unknown): string[] {
  if (typeof content === 'string') return [content];
  if (!Array.isArray(content)) return [];
  const texts: string[] = [];
  for (const part of content) {
    if (isRecord(part) && part['type'] === 'text' && typeof part['text'] === 'string')
      texts.push(part['text']);
  }
  return texts;
}

function readChatRequest(body: unknown): ChatReading | RequestProblem {
  if (!isRecord(body)) return { problem: 'The request body must be a JSON object.' };
  const model = body['model'];
  if (typeof model !== 'string' || model.length === 0) {
    return { problem: 'you must provide a model parameter', param: 'model' };
  }
  const messages = body['messages'];
  if (!Array.isArray(messages))
    return { problem: "Missing required parameter: 'messages'.", param: 'messages' };
  if (messages.length === 0) return { problem: "Invalid 'messages': empty array.", param: 'messages' };
  const tally = new TextTally();
  for (const [index, message] of messages.entries()) {
    if (!isRecord(message) || typeof message['role'] !== 'string') {
      return {
        problem: `Invalid 'messages[${index}]': expected an object with a role.`,
        param: `messages.[${index}]`,
      };
    }
    const texts = openAiContentTexts(message['content']);
    if (message['role'] === 'user') tally.addUserTurn(texts);
    else for (const text of texts) tally.add(text);
  }
  const stream = body['stream'] === true;
  const streamOptions = body['stream_options'];
  if (streamOptions !== undefined && streamOptions !== null && !stream) {
    return {
      problem: "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
      param: 'stream_options',
    };
  }
  const includeUsage = stream && isRecord(streamOptions) && streamOptions['include_usage'] === true;
  return { model, stream, includeUsage, tally };
}

function chatStreamFrames(turn: ChatTurn): StreamFrames {
  const head =
    `data: {"id":"${turn.responseId}","object":"chat.completion.chunk","created":${turn.created},` +
    `"model":${turn.modelLiteral},"service_tier":"default","system_fingerprint":${systemFingerprint},"choices":[`;
  const tail = turn.includeUsage ? '],"usage":null}\n\n' : ']}\n\n';
  const usageChunk = turn.includeUsage
    ? `${head}],"usage":${usageObject(turn.inputTokens, turn.outputTokens)}}\n\n`
    : '';
  return {
    contentType: 'text/event-stream; charset=utf-8',
    preamble: `${head}{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}${tail}`,
    content: (pieceLiteral) =>
      `${head}{"index":0,"delta":{"content":${pieceLiteral}},"logprobs":null,"finish_reason":null}${tail}`,
    epilogue: `${head}{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}${tail}${usageChunk}data: [DONE]\n\n`,
    error: `data: ${openAiErrorBody('server-error', defaultMessages['server-error'])}\n\n`,
  };
}

export function createOpenAiChatWire(identifiers: IdentifierSource): ChatWire {
  return {
    family: 'openai',
    requestIdHeader: 'x-request-id',
    newRequestId: () => `req_${identifiers.nextHex(32)}`,
    newResponseId: () => `chatcmpl-${identifiers.next(29)}`,
    read: (body) => readChatRequest(body),
    unaryBody: (turn) =>
      `{"id":"${turn.responseId}","object":"chat.completion","created":${turn.created},"model":${turn.modelLiteral},` +
      `"choices":[{"index":0,"message":{"role":"assistant","content":${turn.reply.textLiteral},"refusal":null,"annotations":[]},` +
      `"logprobs":null,"finish_reason":"stop"}],"usage":${usageObject(turn.inputTokens, turn.outputTokens)},` +
      `"service_tier":"default","system_fingerprint":${systemFingerprint}}`,
    streamFrames: (turn) => chatStreamFrames(turn),
    errorBody: (kind, message, _requestId, param) => openAiErrorBody(kind, message, param),
    defaultErrorMessage: openAiDefaultErrorMessage,
  };
}

/** `GET /v1/models`: the mock's model ids in OpenAI's list shape; built once at start. */
export const modelListBody = JSON.stringify({
  object: 'list',
  data: ['mock-gpt', 'mock-claude', 'mock-embedding', 'mock-gemini'].map((id) => ({
    id,
    object: 'model',
    created: 1_700_000_000,
    owned_by: 'odock-mock-upstream',
  })),
});
