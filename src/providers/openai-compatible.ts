/**
 * Adapter for the OpenAI Chat Completions wire format (OpenAI API reference, "Chat Completions":
 * `POST /chat/completions`, "The chat completion chunk object", "Embeddings"). The unified
 * request is already OpenAI-shaped, so building a request is mostly a pass-through; the work is
 * in reading usage and the chunk stream. vLLM, Mistral, Ollama and other compatible servers are
 * served by configuring this class (`OpenAICompatibleOptions`), not by copying it.
 */
import {
  fallbackErrorMessage,
  isRetryableStatus,
  ProviderProtocolError,
  parseEventJson,
} from './provider-error.ts';
import {
  type JsonRecord,
  lookupStopReason,
  readArray,
  readCount,
  readHeader,
  readRecord,
  readString,
  startDelta,
  usageWith,
} from './response-fields.ts';
import type {
  ClassifiedError,
  EmbeddingsResult,
  ProviderAdapter,
  ProviderFamily,
  StopReason,
  StreamDelta,
  StreamParser,
  TokenUsage,
  UnifiedChatRequest,
  UnifiedChatResult,
  UnifiedMessage,
  UnifiedToolCall,
  UpstreamRequest,
} from './types.ts';

export interface OpenAICompatibleOptions {
  /** Family this instance reports; compatible servers are all `openai`. */
  family?: ProviderFamily;
  /** Path appended to the base URL (which already ends in `/v1`). */
  chatPath?: string;
  /**
   * Ask for the final usage chunk with `stream_options.include_usage`. Some older compatible
   * servers reject unknown fields; without usage a stream cannot be accounted, so keep it on.
   */
  includeStreamUsage?: boolean;
  /** Servers that predate the `developer` role (o1 onwards) get such messages as `system`. */
  developerAsSystem?: boolean;
}

/** Mapping per the `finish_reason` enum of the chat completion object. */
const stopReasons = {
  stop: 'stop',
  length: 'length',
  tool_calls: 'tool_calls',
  content_filter: 'content_filter',
  // Deprecated predecessor of `tool_calls`, still sent by some compatible servers.
  function_call: 'tool_calls',
} as const satisfies Record<string, StopReason>;

export function mapOpenAIStopReason(finishReason: unknown): StopReason | null {
  return lookupStopReason(stopReasons, finishReason);
}

/**
 * The chat completion `usage` object → `TokenUsage`. `prompt_tokens` already includes cached
 * and audio prompt tokens, and `completion_tokens` includes reasoning and audio output, which
 * matches the subset semantics of `TokenUsage`.
 */
export function parseOpenAIUsage(value: unknown): TokenUsage | undefined {
  const usage = readRecord(value);
  if (usage === undefined) return undefined;
  const promptDetails = readRecord(usage['prompt_tokens_details']);
  const completionDetails = readRecord(usage['completion_tokens_details']);
  return usageWith({
    input: readCount(usage['prompt_tokens']),
    output: readCount(usage['completion_tokens']),
    cachedInput: readCount(promptDetails?.['cached_tokens']),
    reasoning: readCount(completionDetails?.['reasoning_tokens']),
    audioInput: readCount(promptDetails?.['audio_tokens']),
    audioOutput: readCount(completionDetails?.['audio_tokens']),
    imageInput: readCount(promptDetails?.['image_tokens']),
  });
}

/** Message `content` as text: a string, or (Mistral, some vLLM models) an array of parts. */
function contentText(value: unknown): string {
  if (typeof value === 'string') return value;
  let text = '';
  for (const part of readArray(value)) {
    const record = readRecord(part);
    if (record?.['type'] === 'text') text += readString(record['text']) ?? '';
  }
  return text;
}

function parseToolCalls(value: unknown): UnifiedToolCall[] {
  const toolCalls: UnifiedToolCall[] = [];
  for (const item of readArray(value)) {
    const call = readRecord(item);
    const fn = readRecord(call?.['function']);
    if (call === undefined || fn === undefined) continue;
    toolCalls.push({
      id: readString(call['id']) ?? '',
      type: 'function',
      function: { name: readString(fn['name']) ?? '', arguments: readString(fn['arguments']) ?? '' },
    });
  }
  return toolCalls;
}

export class OpenAICompatibleAdapter implements ProviderAdapter {
  readonly family: ProviderFamily;
  #chatPath: string;
  #includeStreamUsage: boolean;
  #developerAsSystem: boolean;

  constructor(options: OpenAICompatibleOptions = {}) {
    this.family = options.family ?? 'openai';
    this.#chatPath = options.chatPath ?? '/chat/completions';
    this.#includeStreamUsage = options.includeStreamUsage ?? true;
    this.#developerAsSystem = options.developerAsSystem ?? false;
  }

  authHeaders(apiKey: string | undefined): Record<string, string> {
    // Local servers (Ollama, vLLM without --api-key) take no credential at all.
    return apiKey === undefined || apiKey === '' ? {} : { authorization: `Bearer ${apiKey}` };
  }

  buildChatRequest(request: UnifiedChatRequest, stream: boolean): UpstreamRequest {
    const body: JsonRecord = { model: request.model, messages: this.#messages(request.messages) };
    if (request.max_tokens !== undefined) body['max_tokens'] = request.max_tokens;
    if (request.temperature !== undefined) body['temperature'] = request.temperature;
    if (request.top_p !== undefined) body['top_p'] = request.top_p;
    if (request.stop !== undefined) body['stop'] = request.stop;
    if (request.tools !== undefined && request.tools.length > 0) body['tools'] = request.tools;
    if (request.tool_choice !== undefined) body['tool_choice'] = request.tool_choice;
    if (request.user !== undefined) body['user'] = request.user;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (stream) {
      body['stream'] = true;
      // Without include_usage a stream reports no usage at all (API reference, stream_options).
      if (this.#includeStreamUsage) body['stream_options'] = { include_usage: true };
      headers['accept'] = 'text/event-stream';
    }
    return { path: this.#chatPath, headers, body: JSON.stringify(body) };
  }

  #messages(messages: UnifiedMessage[]): UnifiedMessage[] {
    if (!this.#developerAsSystem) return messages;
    return messages.map((message) =>
      message.role === 'developer' ? { role: 'system', content: message.content } : message,
    );
  }

  parseChatResponse(
    body: unknown,
    headers: Record<string, string | string[] | undefined>,
  ): UnifiedChatResult {
    const completion = readRecord(body);
    if (completion === undefined)
      throw new ProviderProtocolError('OpenAI chat response is not a JSON object');
    const choice = readRecord(readArray(completion['choices'])[0]);
    const message = readRecord(choice?.['message']);
    return {
      responseModel: readString(completion['model']),
      providerRequestId: readHeader(headers, 'x-request-id') ?? readString(completion['id']),
      content: contentText(message?.['content']),
      stopReason: mapOpenAIStopReason(choice?.['finish_reason']),
      toolCalls: parseToolCalls(message?.['tool_calls']),
      usage: parseOpenAIUsage(completion['usage']),
      rawUsage: completion['usage'] ?? undefined,
    };
  }

  createStreamParser(): StreamParser {
    return new OpenAIChatStreamParser();
  }

  parseError(status: number, body: unknown): ClassifiedError {
    const record = readRecord(body);
    const error = readRecord(record?.['error']);
    // OpenAI nests `{error: {message, type, code}}`; vLLM answers `{object: "error", message, type}`;
    // some servers send `{error: "text"}` or FastAPI's `{detail: "text"}`; proxies send plain text.
    const message =
      readString(error?.['message']) ??
      readString(record?.['error']) ??
      readString(record?.['message']) ??
      readString(record?.['detail']) ??
      (typeof body === 'string' && body.trim() !== '' ? body.trim().slice(0, 1000) : undefined) ??
      fallbackErrorMessage(status);
    // `code` is the precise one (`rate_limit_exceeded`, `invalid_api_key`); `type` is the class.
    const type = readString(error?.['code']) ?? readString(error?.['type']) ?? readString(record?.['type']);
    return { message, type, retryable: isRetryableStatus(status) };
  }

  /**
   * Embeddings bill input tokens only: `prompt_tokens` is both the input and the embedding
   * token count (API reference, "The embedding object" / `usage`).
   */
  parseEmbeddingsResponse(body: unknown): EmbeddingsResult {
    const response = readRecord(body);
    if (response === undefined)
      throw new ProviderProtocolError('OpenAI embeddings response is not a JSON object');
    const usage = readRecord(response['usage']);
    const promptTokens = readCount(usage?.['prompt_tokens']);
    return {
      responseModel: readString(response['model']),
      usage: usage === undefined ? undefined : usageWith({ input: promptTokens, embeddings: promptTokens }),
      rawUsage: response['usage'] ?? undefined,
    };
  }
}

/**
 * One stream of `chat.completion.chunk` events. The first chunk names the model and id; text
 * arrives in `delta.content`; tool calls arrive as fragments keyed by `index`; the chunk with
 * `finish_reason` ends the choice; with `include_usage` a last chunk has `choices: []` and the
 * usage; `data: [DONE]` ends the stream. A mid-stream failure arrives as `{"error": {...}}`.
 */
export class OpenAIChatStreamParser implements StreamParser {
  #started = false;
  /**
   * Compatible servers that omit `index` on tool-call fragments are keyed by call id instead.
   * Made at the first call id: most streams have none, and a gateway holds thousands open.
   */
  #toolIndexById: Map<string, number> | undefined;
  #lastToolIndex = -1;

  parse(event: { data: string }): StreamDelta[] {
    const data = event.data.trim();
    if (data === '[DONE]') return [{ type: 'done' }];
    if (data === '') return [];
    const chunk = parseEventJson(data, 'OpenAI');
    const error = chunk['error'];
    if (error !== undefined && error !== null) {
      const details = readRecord(error);
      return [
        {
          type: 'error',
          message: readString(details?.['message']) ?? readString(error) ?? 'The upstream stream failed.',
          errorType: readString(details?.['code']) ?? readString(details?.['type']),
        },
      ];
    }
    const deltas: StreamDelta[] = [];
    if (!this.#started) {
      this.#started = true;
      deltas.push(startDelta(chunk['model'], chunk['id']));
    }
    // The gateway never asks for `n > 1`, so choice 0 is the whole answer.
    const choice = readRecord(readArray(chunk['choices'])[0]);
    if (choice !== undefined) this.#parseChoice(choice, deltas);
    const usage = parseOpenAIUsage(chunk['usage']);
    if (usage !== undefined) deltas.push({ type: 'usage', usage, rawUsage: chunk['usage'] });
    return deltas;
  }

  #parseChoice(choice: JsonRecord, deltas: StreamDelta[]): void {
    const delta = readRecord(choice['delta']);
    const text = contentText(delta?.['content']);
    if (text !== '') deltas.push({ type: 'text', text });
    for (const item of readArray(delta?.['tool_calls'])) {
      const call = readRecord(item);
      if (call === undefined) continue;
      const fn = readRecord(call['function']);
      const id = readString(call['id']);
      const toolCall: StreamDelta & { type: 'tool_call' } = {
        type: 'tool_call',
        index: this.#toolIndex(readCount(call['index']), id),
        argumentsDelta: readString(fn?.['arguments']) ?? '',
      };
      const name = readString(fn?.['name']);
      if (id !== undefined) toolCall.id = id;
      if (name !== undefined) toolCall.name = name;
      deltas.push(toolCall);
    }
    const finishReason = choice['finish_reason'];
    if (finishReason !== undefined && finishReason !== null) {
      deltas.push({ type: 'finish', stopReason: mapOpenAIStopReason(finishReason) });
    }
  }

  #toolIndex(index: number | undefined, id: string | undefined): number {
    if (index !== undefined) {
      this.#lastToolIndex = index;
      if (id !== undefined) {
        this.#toolIndexById ??= new Map();
        this.#toolIndexById.set(id, index);
      }
      return index;
    }
    if (id === undefined) return Math.max(this.#lastToolIndex, 0);
    this.#toolIndexById ??= new Map();
    const known = this.#toolIndexById.get(id);
    if (known !== undefined) return known;
    this.#lastToolIndex += 1;
    this.#toolIndexById.set(id, this.#lastToolIndex);
    return this.#lastToolIndex;
  }
}
