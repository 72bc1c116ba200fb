/**
 * Anthropic Messages wire format, as api.anthropic.com sends it: `message` bodies, the SSE
 * sequence message_start → content_block_start → ping → content_block_delta… →
 * content_block_stop → message_delta → message_stop (each with its `event:` line), an
 * `event: error` frame for in-stream failures, and `{type:'error',error:{type,message}}` bodies.
 * Like the real API, `message_start` reports output_tokens 1 and `message_delta` the final total.
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

const errorTypes: Readonly<Record<ErrorKind, string>> = {
  'bad-request': 'invalid_request_error',
  'not-found': 'not_found_error',
  'rate-limited': 'rate_limit_error',
  'server-error': 'api_error',
};

const defaultMessages: Readonly<Record<ErrorKind, string>> = {
  'bad-request': 'The request was rejected by the mock upstream (x-mock-scenario: error-400).',
  'not-found': 'Not found',
  'rate-limited': 'This request would exceed the rate limit for your organization. Please try again later.',
  'server-error': 'Internal server error',
};

/** Texts of a content value: a string, or the text blocks (and tool_result texts) of a block list. */
function contentTexts(content: unknown, texts: string[]): void {
  if (typeof content === 'string') {
    texts.push(content);
    return;
  }
  if (!Array.isArray(content)) return;
  for (const block of content) {
    if (!isRecord(block)) continue;
    if (block['type'] === 'text' && typeof block['text'] === 'string') texts.push(block['text']);
    else if (block['type'] === 'tool_result') contentTexts(block['content'], texts);
  }
}

function readMessagesRequest(body: unknown): ChatReading | RequestProblem {
  if (!isRecord(body)) return { problem: 'The request body must be a JSON object.' };
  const model = body['model'];
  if (typeof model !== 'string' || model.length === 0)
    return { problem: 'model: Field required', param: 'model' };
  const maxTokens = body['max_tokens'];
  if (maxTokens === undefined) return { problem: 'max_tokens: Field required', param: 'max_tokens' };
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1) {
    return { problem: 'max_tokens: Input should be a valid integer greater than 0', param: 'max_tokens' };
  }
  const messages = body['messages'];
  if (!Array.isArray(messages)) return { problem: 'messages: Field required', param: 'messages' };
  const tally = new TextTally();
  const systemTexts: string[] = [];
  contentTexts(body['system'], systemTexts);
  for (const text of systemTexts) tally.add(text);
  for (const [index, message] of messages.entries()) {
    if (!isRecord(message) || (message['role'] !== 'user' && message['role'] !== 'assistant')) {
      return {
        problem: `messages.${index}.role: Input should be 'user' or 'assistant'`,
        param: `messages.${index}.role`,
      };
    }
    const texts: string[] = [];
    contentTexts(message['content'], texts);
    if (message['role'] === 'user') tally.addUserTurn(texts);
    else for (const text of texts) tally.add(text);
  }
  return { model, stream: body['stream'] === true, includeUsage: false, tally };
}

function event(name: string, data: string): string {
  return `event: ${name}\ndata: ${data}\n\n`;
}

function usageObject(inputTokens: number, outputTokens: number): string {
  return (
    `{"input_tokens":${inputTokens},"cache_creation_input_tokens":0,"cache_read_input_tokens":0,` +
    `"output_tokens":${outputTokens},"service_tier":"standard"}`
  );
}

export function anthropicErrorBody(kind: ErrorKind, message: string, requestId: string): string {
  return JSON.stringify({ type: 'error', error: { type: errorTypes[kind], message }, request_id: requestId });
}

// Overloaded is what Anthropic documents (and most often sends) inside a stream.
const streamError = event(
  'error',
  '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
);

function messageStreamFrames(turn: ChatTurn): StreamFrames {
  const message =
    `{"id":"${turn.responseId}","type":"message","role":"assistant","model":${turn.modelLiteral},"content":[],` +
    `"stop_reason":null,"stop_sequence":null,"usage":${usageObject(turn.inputTokens, Math.min(1, turn.outputTokens))}}`;
  return {
    contentType: 'text/event-stream; charset=utf-8',
    preamble:
      event('message_start', `{"type":"message_start","message":${message}}`) +
      event(
        'content_block_start',
        '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
      ) +
      event('ping', '{"type":"ping"}'),
    content: (pieceLiteral) =>
      event(
        'content_block_delta',
        `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":${pieceLiteral}}}`,
      ),
    epilogue:
      event('content_block_stop', '{"type":"content_block_stop","index":0}') +
      event(
        'message_delta',
        `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":${turn.outputTokens}}}`,
      ) +
      event('message_stop', '{"type":"message_stop"}'),
    error: streamError,
  };
}

export function createAnthropicChatWire(identifiers: IdentifierSource): ChatWire {
  return {
    family: 'anthropic',
    requestIdHeader: 'request-id',
    newRequestId: () => `req_01${identifiers.next(22)}`,
    newResponseId: () => `msg_01${identifiers.next(22)}`,
    read: (body) => readMessagesRequest(body),
    unaryBody: (turn) =>
      `{"id":"${turn.responseId}","type":"message","role":"assistant","model":${turn.modelLiteral},` +
      `"content":[{"type":"text","text":${turn.reply.textLiteral}}],"stop_reason":"end_turn","stop_sequence":null,` +
      `"usage":${usageObject(turn.inputTokens, turn.outputTokens)}}`,
    streamFrames: (turn) => messageStreamFrames(turn),
    errorBody: (kind, message, requestId) => anthropicErrorBody(kind, message, requestId),
    defaultErrorMessage: (kind) => defaultMessages[kind],
  };
}
