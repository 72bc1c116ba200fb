/**
 * The output side of the unified endpoint. Whatever family answered, a streaming client receives
 * OpenAI `chat.completion.chunk` events (OpenAI API reference, "The chat completion chunk
 * object") and a unary client receives the gateway's normalized JSON. `StreamAccumulator` folds
 * the same deltas into a `UnifiedChatResult` so streams are accounted like unary answers.
 */
import { encodeSseEvent } from './sse.ts';
import type { StopReason, StreamDelta, TokenUsage, UnifiedChatResult, UnifiedToolCall } from './types.ts';

export interface OpenAIChunkEncoderOptions {
  /** `chatcmpl-...` id shared by every chunk of the stream. */
  id: string;
  /** Model name shown to the client (the gateway's name for it, not necessarily upstream's). */
  model: string;
  /** Unix seconds, shared by every chunk. */
  created: number;
  /** The client sent `stream_options.include_usage`: send the usage chunk before `[DONE]`. */
  includeUsage?: boolean;
}

/** OpenAI's `usage` object rebuilt from `TokenUsage`. */
export function toOpenAIUsage(usage: TokenUsage): Record<string, unknown> {
  return {
    prompt_tokens: usage.input,
    completion_tokens: usage.output,
    total_tokens: usage.input + usage.output,
    prompt_tokens_details: { cached_tokens: usage.cachedInput, audio_tokens: usage.audioInput },
    completion_tokens_details: { reasoning_tokens: usage.reasoning, audio_tokens: usage.audioOutput },
  };
}

export class OpenAIChunkEncoder {
  #id: string;
  #model: string;
  #created: number;
  #includeUsage: boolean;
  #roleSent = false;
  #usage: TokenUsage | undefined;
  #finished = false;

  constructor(options: OpenAIChunkEncoderOptions) {
    this.#id = options.id;
    this.#model = options.model;
    this.#created = options.created;
    this.#includeUsage = options.includeUsage ?? false;
  }

  /** The SSE text for one delta; an empty string when the delta has nothing to send yet. */
  encode(delta: StreamDelta): string {
    switch (delta.type) {
      case 'start':
        // OpenAI's first chunk carries the role and empty content.
        return this.#roleSent ? '' : this.#chunk({ content: '' }, null);
      case 'text':
        return delta.text === '' ? '' : this.#chunk({ content: delta.text }, null);
      case 'tool_call': {
        const fn: Record<string, string> = { arguments: delta.argumentsDelta };
        if (delta.name !== undefined) fn['name'] = delta.name;
        const call: Record<string, unknown> = { index: delta.index };
        // Like OpenAI, id and type appear on the fragment that opens a call.
        if (delta.id !== undefined) {
          call['id'] = delta.id;
          call['type'] = 'function';
        }
        call['function'] = fn;
        return this.#chunk({ tool_calls: [call] }, null);
      }
      case 'finish':
        // A finish reason the family could not name is still an ended choice.
        return this.#chunk({}, delta.stopReason ?? 'stop');
      case 'usage':
        // Families may report usage more than once (running totals); only the last is final,
        // and OpenAI sends it once, right before [DONE].
        this.#usage = delta.usage;
        return '';
      case 'error':
        // The gateway's error shape, so a client sees a failure and never a clean end.
        return encodeSseEvent({
          data: JSON.stringify({ error: { code: 'upstream_error', message: delta.message } }),
        });
      case 'done':
        return this.done();
    }
  }

  /**
   * The end of the stream with the final usage known to the caller (for example a
   * `StreamAccumulator`'s), overriding any usage delta encoded earlier.
   */
  finish(usage: TokenUsage | undefined): string {
    if (usage !== undefined) this.#usage = usage;
    return this.done();
  }

  /** The end of the stream: the usage chunk when asked for, then `data: [DONE]`. Idempotent. */
  done(): string {
    if (this.#finished) return '';
    this.#finished = true;
    let text = '';
    if (this.#includeUsage && this.#usage !== undefined) {
      text += encodeSseEvent({
        data: JSON.stringify({
          id: this.#id,
          object: 'chat.completion.chunk',
          created: this.#created,
          model: this.#model,
          choices: [],
          usage: toOpenAIUsage(this.#usage),
        }),
      });
    }
    return `${text}data: [DONE]\n\n`;
  }

  #chunk(delta: Record<string, unknown>, finishReason: StopReason | null): string {
    const body = this.#roleSent ? delta : { role: 'assistant', ...delta };
    this.#roleSent = true;
    return encodeSseEvent({
      data: JSON.stringify({
        id: this.#id,
        object: 'chat.completion.chunk',
        created: this.#created,
        model: this.#model,
        choices: [{ index: 0, delta: body, finish_reason: finishReason }],
      }),
    });
  }
}

export interface UnifiedResponse {
  provider: string;
  model: string;
  content: string;
  stop_reason: StopReason | null;
  /** `null` when the provider reported no usage: unknown is not zero. */
  input_tokens: number | null;
  output_tokens: number | null;
  tool_calls?: UnifiedToolCall[];
}

/** The unary answer of `POST /v1/llm/chat`; `tool_calls` only when the model called tools. */
export function toUnifiedResponse(
  provider: string,
  model: string,
  result: UnifiedChatResult,
): UnifiedResponse {
  const response: UnifiedResponse = {
    provider,
    model,
    content: result.content,
    stop_reason: result.stopReason,
    input_tokens: result.usage?.input ?? null,
    output_tokens: result.usage?.output ?? null,
  };
  if (result.toolCalls.length > 0) response.tool_calls = result.toolCalls;
  return response;
}

/**
 * Folds a stream's deltas into the result a unary call would have produced. Usage deltas are
 * complete snapshots (parsers merge running totals themselves), so the last one wins.
 */
export interface StreamAccumulatorOptions {
  /**
   * Keep the text and tool calls (default). The stream relay passes false: it accounts for a
   * stream (usage, model, ids, stop reason) and never needs what it relayed, which would otherwise
   * stay in memory for the stream's whole life, one string piece per token.
   */
  keepContent?: boolean;
}

export class StreamAccumulator {
  readonly #keepContent: boolean;
  #responseModel: string | undefined;
  #providerRequestId: string | undefined;
  #content = '';
  #stopReason: StopReason | null = null;
  /** Made at the first tool call: most streams have none, and a gateway holds thousands open. */
  #toolCalls: Map<number, UnifiedToolCall> | undefined;
  #usage: TokenUsage | undefined;
  #rawUsage: unknown;
  #done = false;
  #error: { message: string; errorType?: string } | undefined;

  constructor(options: StreamAccumulatorOptions = {}) {
    this.#keepContent = options.keepContent ?? true;
  }

  add(delta: StreamDelta): void {
    switch (delta.type) {
      case 'start':
        this.#responseModel = delta.responseModel ?? this.#responseModel;
        this.#providerRequestId = delta.providerRequestId ?? this.#providerRequestId;
        break;
      case 'text':
        if (this.#keepContent) this.#content += delta.text;
        break;
      case 'tool_call': {
        if (!this.#keepContent) break;
        this.#toolCalls ??= new Map();
        let call = this.#toolCalls.get(delta.index);
        if (call === undefined) {
          call = { id: '', type: 'function', function: { name: '', arguments: '' } };
          this.#toolCalls.set(delta.index, call);
        }
        if (delta.id !== undefined) call.id = delta.id;
        if (delta.name !== undefined) call.function.name = delta.name;
        call.function.arguments += delta.argumentsDelta;
        break;
      }
      case 'finish':
        this.#stopReason = delta.stopReason;
        break;
      case 'usage':
        this.#usage = delta.usage;
        this.#rawUsage = delta.rawUsage;
        break;
      case 'error':
        this.#error =
          delta.errorType === undefined
            ? { message: delta.message }
            : { message: delta.message, errorType: delta.errorType };
        break;
      case 'done':
        this.#done = true;
        break;
    }
  }

  /** The upstream ended the stream explicitly (`[DONE]`, `message_stop`, Gemini's finish). */
  get done(): boolean {
    return this.#done;
  }

  get error(): { message: string; errorType?: string } | undefined {
    return this.#error;
  }

  result(): UnifiedChatResult {
    return {
      responseModel: this.#responseModel,
      providerRequestId: this.#providerRequestId,
      content: this.#content,
      stopReason: this.#stopReason,
      toolCalls: [...(this.#toolCalls?.entries() ?? [])]
        .sort(([left], [right]) => left - right)
        .map(([, call]) => ({ ...call, function: { ...call.function } })),
      usage: this.#usage,
      rawUsage: this.#rawUsage,
    };
  }
}
