/**
 * The one small interface every provider adapter implements (after vercel/ai's provider spec):
 * adapters are pure translators. They build an upstream request, parse a response, parse one
 * stream event, and classify an error; they never do I/O. The gateway owns transport
 * (one undici Agent, deadlines, aborts), telemetry and accounting.
 */

export type ProviderFamily = 'openai' | 'anthropic' | 'gemini';

/** OpenAI-shaped chat message, the input of the unified endpoint (`POST /v1/llm/chat`). */
export type UnifiedContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string; detail?: string } };

export interface UnifiedToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export type UnifiedMessage =
  | { role: 'system' | 'developer'; content: string | UnifiedContentPart[] }
  | { role: 'user'; content: string | UnifiedContentPart[] }
  | { role: 'assistant'; content: string | UnifiedContentPart[] | null; tool_calls?: UnifiedToolCall[] }
  | { role: 'tool'; content: string | UnifiedContentPart[]; tool_call_id: string };

export interface UnifiedTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

export type UnifiedToolChoice =
  | 'auto'
  | 'none'
  | 'required'
  | { type: 'function'; function: { name: string } };

/** Request of the unified endpoint, already validated; `model` is the upstream slug. */
export interface UnifiedChatRequest {
  model: string;
  messages: UnifiedMessage[];
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  stop?: string | string[];
  tools?: UnifiedTool[];
  tool_choice?: UnifiedToolChoice;
  user?: string;
}

/** Normalized stop reasons use OpenAI's `finish_reason` vocabulary. */
export type StopReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

/**
 * Token counts as the provider reported them, normalized:
 * `input` counts every input token (including cache reads and writes), `cachedInput` and
 * `cacheWrite` are subsets of it; `reasoning` is a subset of `output`.
 */
export interface TokenUsage {
  input: number;
  output: number;
  cachedInput: number;
  cacheWrite: number;
  reasoning: number;
  audioInput: number;
  audioOutput: number;
  imageInput: number;
  embeddings: number;
}

export const emptyUsage = (): TokenUsage => ({
  input: 0,
  output: 0,
  cachedInput: 0,
  cacheWrite: 0,
  reasoning: 0,
  audioInput: 0,
  audioOutput: 0,
  imageInput: 0,
  embeddings: 0,
});

export interface UnifiedChatResult {
  /** Model the provider says answered (`gen_ai.response.model`). */
  responseModel: string | undefined;
  providerRequestId: string | undefined;
  content: string;
  stopReason: StopReason | null;
  toolCalls: UnifiedToolCall[];
  usage: TokenUsage | undefined;
  /** The provider's own usage object, kept verbatim for the usage record. */
  rawUsage: unknown;
}

/** One parsed Server-Sent Event (WHATWG HTML, "server-sent events"). */
export interface SseEvent {
  event: string | undefined;
  data: string;
  id: string | undefined;
}

/** What one upstream stream event means, whatever the family. */
export type StreamDelta =
  | { type: 'start'; responseModel?: string; providerRequestId?: string }
  | { type: 'text'; text: string }
  | { type: 'tool_call'; index: number; id?: string; name?: string; argumentsDelta: string }
  | { type: 'finish'; stopReason: StopReason | null }
  | { type: 'usage'; usage: TokenUsage; rawUsage: unknown }
  /** The upstream reported a failure inside the stream: the client must see an error, never a normal end. */
  | { type: 'error'; message: string; errorType?: string }
  /** The upstream's explicit end of stream (`[DONE]`, `message_stop`). */
  | { type: 'done' };

export interface StreamParser {
  /** Parses one SSE event; returns zero or more deltas. Throws only on a protocol violation. */
  parse(event: SseEvent): StreamDelta[];
}

/** An HTTP request for the transport to send; `path` is appended to the provider's base URL. */
export interface UpstreamRequest {
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface ClassifiedError {
  /** Message from the provider's error body, safe to relay (never our internals). */
  message: string;
  /** Provider error type or code, when present (`rate_limit_error`, `invalid_api_key`, ...). */
  type: string | undefined;
  /** Whether another attempt (same or other route) may succeed: 408, 409, 429, 5xx. */
  retryable: boolean;
}

export interface EmbeddingsResult {
  responseModel: string | undefined;
  usage: TokenUsage | undefined;
  rawUsage: unknown;
}

export interface ProviderAdapter {
  readonly family: ProviderFamily;
  /** Authentication headers for a credential (`Authorization: Bearer`, `x-api-key`, `x-goog-api-key`). */
  authHeaders(apiKey: string | undefined): Record<string, string>;
  /** Unified request → this family's wire request (`stream` selects the streaming variant). */
  buildChatRequest(request: UnifiedChatRequest, stream: boolean): UpstreamRequest;
  /** This family's unary chat response body (already JSON-parsed) → unified result. */
  parseChatResponse(body: unknown, headers: Record<string, string | string[] | undefined>): UnifiedChatResult;
  /** A fresh parser for one stream of this family's chat SSE events. */
  createStreamParser(): StreamParser;
  /** A non-2xx answer → relayable message and retryability. */
  parseError(status: number, body: unknown): ClassifiedError;
  /** Native embeddings support (OpenAI family only). */
  parseEmbeddingsResponse?(body: unknown): EmbeddingsResult;
}
