/**
 * Adapter for the Anthropic Messages API (`POST /v1/messages`, API version 2023-06-01; docs:
 * "Messages", "Streaming Messages", "Errors", "Tool use"). Translates the OpenAI-shaped unified
 * request into Anthropic's content-block model and reads responses and event streams back.
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
  usageWith,
} from './response-fields.ts';
import type {
  ClassifiedError,
  ProviderAdapter,
  StopReason,
  StreamDelta,
  StreamParser,
  TokenUsage,
  UnifiedChatRequest,
  UnifiedChatResult,
  UnifiedContentPart,
  UnifiedMessage,
  UnifiedToolCall,
  UnifiedToolChoice,
  UpstreamRequest,
} from './types.ts';
import { contentParts, parseDataUrl, parseToolArguments, systemText } from './unified-content.ts';

export const anthropicVersion = '2023-06-01';
/** `max_tokens` is required by the Messages API; OpenAI callers often omit it. */
export const defaultMaxTokens = 4096;

/** Mapping per the `stop_reason` values of the Message object. */
const stopReasons = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  // A server-tool loop paused by Anthropic; the turn ended without an error.
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
} as const satisfies Record<string, StopReason>;

export function mapAnthropicStopReason(stopReason: unknown): StopReason | null {
  return lookupStopReason(stopReasons, stopReason);
}

/**
 * Anthropic's `input_tokens` excludes cache reads and cache writes ("Prompt caching": total input
 * = input_tokens + cache_creation_input_tokens + cache_read_input_tokens); `TokenUsage.input`
 * counts them all, with the cache parts as subsets.
 */
export function parseAnthropicUsage(value: unknown): TokenUsage | undefined {
  const usage = readRecord(value);
  if (usage === undefined) return undefined;
  const cacheRead = readCount(usage['cache_read_input_tokens']) ?? 0;
  const cacheWrite = readCount(usage['cache_creation_input_tokens']) ?? 0;
  return usageWith({
    input: (readCount(usage['input_tokens']) ?? 0) + cacheRead + cacheWrite,
    output: readCount(usage['output_tokens']),
    cachedInput: cacheRead,
    cacheWrite,
    reasoning: readCount(readRecord(usage['output_tokens_details'])?.['thinking_tokens']),
  });
}

function imageBlock(part: UnifiedContentPart & { type: 'image_url' }): JsonRecord {
  const inline = parseDataUrl(part.image_url.url);
  const source =
    inline === undefined
      ? { type: 'url', url: part.image_url.url }
      : { type: 'base64', media_type: inline.mediaType, data: inline.base64 };
  return { type: 'image', source };
}

function contentBlocks(content: string | UnifiedContentPart[] | null): JsonRecord[] {
  const blocks: JsonRecord[] = [];
  for (const part of contentParts(content)) {
    if (part.type === 'image_url') blocks.push(imageBlock(part));
    // Anthropic rejects empty text blocks ("text content blocks must be non-empty").
    else if (part.text !== '') blocks.push({ type: 'text', text: part.text });
  }
  return blocks;
}

function toolResultContent(content: string | UnifiedContentPart[]): string | JsonRecord[] {
  return typeof content === 'string' ? content : contentBlocks(content);
}

/** OpenAI messages → Anthropic `messages` (system messages are lifted out by the caller). */
function translateMessages(messages: UnifiedMessage[]): JsonRecord[] {
  const translated: JsonRecord[] = [];
  let pendingToolResults: JsonRecord[] | undefined;
  for (const message of messages) {
    if (message.role === 'tool') {
      const result = {
        type: 'tool_result',
        tool_use_id: message.tool_call_id,
        content: toolResultContent(message.content),
      };
      // Parallel tool results must come back together in one user turn ("Tool use": the
      // tool_result blocks answering one assistant turn form the next user message).
      if (pendingToolResults === undefined) {
        pendingToolResults = [result];
        translated.push({ role: 'user', content: pendingToolResults });
      } else {
        pendingToolResults.push(result);
      }
      continue;
    }
    pendingToolResults = undefined;
    if (message.role === 'user') {
      translated.push({
        role: 'user',
        content: typeof message.content === 'string' ? message.content : contentBlocks(message.content),
      });
      continue;
    }
    // System and developer messages were lifted out into the system prompt.
    if (message.role !== 'assistant') continue;
    const blocks = contentBlocks(message.content);
    for (const call of message.tool_calls ?? []) {
      blocks.push({
        type: 'tool_use',
        id: call.id,
        name: call.function.name,
        input: parseToolArguments(call.function.arguments, call.function.name),
      });
    }
    // An assistant turn with neither text nor tool calls carries nothing Anthropic accepts.
    if (blocks.length > 0) translated.push({ role: 'assistant', content: blocks });
  }
  return translated;
}

function translateToolChoice(choice: UnifiedToolChoice): JsonRecord {
  if (choice === 'auto') return { type: 'auto' };
  if (choice === 'none') return { type: 'none' };
  if (choice === 'required') return { type: 'any' };
  return { type: 'tool', name: choice.function.name };
}

export class AnthropicAdapter implements ProviderAdapter {
  readonly family = 'anthropic' as const;

  authHeaders(apiKey: string | undefined): Record<string, string> {
    return apiKey === undefined || apiKey === '' ? {} : { 'x-api-key': apiKey };
  }

  buildChatRequest(request: UnifiedChatRequest, stream: boolean): UpstreamRequest {
    const body: JsonRecord = {
      model: request.model,
      max_tokens: request.max_tokens ?? defaultMaxTokens,
    };
    const system = systemText(request.messages);
    if (system !== undefined) body['system'] = system;
    body['messages'] = translateMessages(request.messages);
    if (request.temperature !== undefined) body['temperature'] = request.temperature;
    if (request.top_p !== undefined) body['top_p'] = request.top_p;
    if (request.stop !== undefined) {
      body['stop_sequences'] = typeof request.stop === 'string' ? [request.stop] : request.stop;
    }
    if (request.tools !== undefined && request.tools.length > 0) {
      body['tools'] = request.tools.map((tool) => {
        const definition: JsonRecord = { name: tool.function.name };
        if (tool.function.description !== undefined) definition['description'] = tool.function.description;
        // `input_schema` is required; a tool without parameters takes an empty object.
        definition['input_schema'] = tool.function.parameters ?? { type: 'object', properties: {} };
        return definition;
      });
    }
    if (request.tool_choice !== undefined) body['tool_choice'] = translateToolChoice(request.tool_choice);
    if (request.user !== undefined) body['metadata'] = { user_id: request.user };
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'anthropic-version': anthropicVersion,
    };
    if (stream) {
      body['stream'] = true;
      headers['accept'] = 'text/event-stream';
    }
    return { path: '/v1/messages', headers, body: JSON.stringify(body) };
  }

  parseChatResponse(
    body: unknown,
    headers: Record<string, string | string[] | undefined>,
  ): UnifiedChatResult {
    const message = readRecord(body);
    if (message === undefined) throw new ProviderProtocolError('Anthropic response is not a JSON object');
    let content = '';
    const toolCalls: UnifiedToolCall[] = [];
    for (const item of readArray(message['content'])) {
      const block = readRecord(item);
      if (block?.['type'] === 'text') content += readString(block['text']) ?? '';
      else if (block?.['type'] === 'tool_use') {
        toolCalls.push({
          id: readString(block['id']) ?? '',
          type: 'function',
          function: {
            name: readString(block['name']) ?? '',
            arguments: JSON.stringify(block['input'] ?? {}),
          },
        });
      }
      // thinking, server_tool_use and server results are Anthropic-side detail, not the answer.
    }
    return {
      responseModel: readString(message['model']),
      providerRequestId: readHeader(headers, 'request-id') ?? readString(message['id']),
      content,
      stopReason: mapAnthropicStopReason(message['stop_reason']),
      toolCalls,
      usage: parseAnthropicUsage(message['usage']),
      rawUsage: message['usage'] ?? undefined,
    };
  }

  createStreamParser(): StreamParser {
    return new AnthropicStreamParser();
  }

  parseError(status: number, body: unknown): ClassifiedError {
    // Errors docs: `{"type": "error", "error": {"type": "...", "message": "..."}, "request_id": ...}`.
    const record = readRecord(body);
    const error = readRecord(record?.['error']);
    const message =
      readString(error?.['message']) ??
      (typeof body === 'string' && body.trim() !== '' ? body.trim().slice(0, 1000) : undefined) ??
      fallbackErrorMessage(status);
    return { message, type: readString(error?.['type']), retryable: isRetryableStatus(status) };
  }
}

/**
 * One Messages stream ("Streaming Messages": message_start, content blocks with
 * content_block_start/delta/stop, one or more message_delta, message_stop; ping and error may
 * appear anywhere; unknown event types must be tolerated). `message_delta` usage is cumulative
 * and may restate input counts, so usage is merged field by field and re-emitted in full.
 */
export class AnthropicStreamParser implements StreamParser {
  /** Content-block index → tool-call index; only client `tool_use` blocks are numbered. */
  #toolIndexByBlock = new Map<number, number>();
  #rawUsage: JsonRecord = {};
  #usageEmitted = false;

  parse(event: { event?: string | undefined; data: string }): StreamDelta[] {
    const payload = parseEventJson(event.data, 'Anthropic');
    const type = readString(payload['type']) ?? event.event;
    switch (type) {
      case 'message_start':
        return this.#messageStart(readRecord(payload['message']));
      case 'content_block_start':
        return this.#blockStart(readCount(payload['index']), readRecord(payload['content_block']));
      case 'content_block_delta':
        return this.#blockDelta(readCount(payload['index']), readRecord(payload['delta']));
      case 'message_delta': {
        const deltas: StreamDelta[] = [];
        const delta = readRecord(payload['delta']);
        if (delta !== undefined && 'stop_reason' in delta && delta['stop_reason'] !== null) {
          deltas.push({ type: 'finish', stopReason: mapAnthropicStopReason(delta['stop_reason']) });
        }
        const usage = readRecord(payload['usage']);
        if (usage !== undefined) {
          this.#rawUsage = { ...this.#rawUsage, ...usage };
          deltas.push(this.#usageDelta());
        }
        return deltas;
      }
      case 'message_stop': {
        const deltas: StreamDelta[] = [];
        if (!this.#usageEmitted && Object.keys(this.#rawUsage).length > 0) deltas.push(this.#usageDelta());
        deltas.push({ type: 'done' });
        return deltas;
      }
      case 'error': {
        const error = readRecord(payload['error']);
        return [
          {
            type: 'error',
            message: readString(error?.['message']) ?? 'The upstream stream failed.',
            errorType: readString(error?.['type']),
          },
        ];
      }
      default:
        // ping, content_block_stop, and event types added later under the versioning policy.
        return [];
    }
  }

  #messageStart(message: JsonRecord | undefined): StreamDelta[] {
    this.#rawUsage = { ...(readRecord(message?.['usage']) ?? {}) };
    const start: StreamDelta & { type: 'start' } = { type: 'start' };
    const model = readString(message?.['model']);
    const id = readString(message?.['id']);
    if (model !== undefined) start.responseModel = model;
    if (id !== undefined) start.providerRequestId = id;
    return [start];
  }

  #blockStart(blockIndex: number | undefined, block: JsonRecord | undefined): StreamDelta[] {
    if (blockIndex === undefined || block === undefined) return [];
    if (block['type'] === 'text') {
      const text = readString(block['text']) ?? '';
      return text === '' ? [] : [{ type: 'text', text }];
    }
    if (block['type'] !== 'tool_use') return [];
    const index = this.#toolIndexByBlock.size;
    this.#toolIndexByBlock.set(blockIndex, index);
    const toolCall: StreamDelta & { type: 'tool_call' } = { type: 'tool_call', index, argumentsDelta: '' };
    const id = readString(block['id']);
    const name = readString(block['name']);
    if (id !== undefined) toolCall.id = id;
    if (name !== undefined) toolCall.name = name;
    return [toolCall];
  }

  #blockDelta(blockIndex: number | undefined, delta: JsonRecord | undefined): StreamDelta[] {
    if (delta?.['type'] === 'text_delta') {
      const text = readString(delta['text']) ?? '';
      return text === '' ? [] : [{ type: 'text', text }];
    }
    if (delta?.['type'] === 'input_json_delta' && blockIndex !== undefined) {
      // Server tools (code execution, web search) also stream input JSON; they are not ours.
      const index = this.#toolIndexByBlock.get(blockIndex);
      const partialJson = readString(delta['partial_json']) ?? '';
      if (index === undefined || partialJson === '') return [];
      return [{ type: 'tool_call', index, argumentsDelta: partialJson }];
    }
    // thinking_delta, signature_delta, citations_delta: not part of the unified answer.
    return [];
  }

  #usageDelta(): StreamDelta {
    this.#usageEmitted = true;
    return {
      type: 'usage',
      usage: parseAnthropicUsage(this.#rawUsage) ?? usageWith({}),
      rawUsage: this.#rawUsage,
    };
  }
}
