/**
 * Decoders for the request bodies of each endpoint. Native endpoints check only what the
 * gateway itself relies on (model, messages, stream flags) and pass everything else through to
 * the provider untouched; the unified endpoint checks its whole OpenAI-shaped input because
 * it is translated field by field. A violation answers 400 `invalid_request` naming the field.
 */
import { z } from 'zod';
import { GatewayError } from '../errors.ts';
import type { UnifiedChatRequest } from '../providers/types.ts';

const modelName = z.string().min(1, 'must not be empty').max(256);

const chatCompletionsBody = z.looseObject({
  model: modelName,
  messages: z.array(z.looseObject({ role: z.string() })).min(1, 'must contain at least one message'),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
});

const embeddingsBody = z.looseObject({
  model: modelName,
  input: z.union([
    z.string(),
    z.array(z.string()).min(1),
    z.array(z.number().int()).min(1),
    z.array(z.array(z.number().int()).min(1)).min(1),
  ]),
});

const messagesBody = z.looseObject({
  model: modelName,
  messages: z.array(z.looseObject({ role: z.enum(['user', 'assistant']) })).min(1),
  max_tokens: z.number().int().positive(),
  stream: z.boolean().nullish(),
});

const text = z.string();
const contentPart = z.union([
  z.object({ type: z.literal('text'), text }),
  z.object({
    type: z.literal('image_url'),
    image_url: z.object({ url: z.string(), detail: z.string().optional() }),
  }),
]);
const content = z.union([text, z.array(contentPart)]);
const toolCall = z.object({
  id: z.string(),
  type: z.literal('function'),
  function: z.object({ name: z.string(), arguments: z.string() }),
});
const unifiedMessage = z.discriminatedUnion('role', [
  z.object({ role: z.enum(['system', 'developer']), content }),
  z.object({ role: z.literal('user'), content }),
  z.object({
    role: z.literal('assistant'),
    content: content.nullable(),
    tool_calls: z.array(toolCall).optional(),
  }),
  z.object({ role: z.literal('tool'), content, tool_call_id: z.string() }),
]);
const unifiedBody = z.object({
  model: modelName,
  messages: z.array(unifiedMessage).min(1),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
  max_tokens: z.number().int().positive().optional(),
  max_completion_tokens: z.number().int().positive().optional(),
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().min(0).max(1).optional(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).optional(),
  tools: z
    .array(
      z.object({
        type: z.literal('function'),
        function: z.object({
          name: z.string(),
          description: z.string().optional(),
          parameters: z.record(z.string(), z.unknown()).optional(),
        }),
      }),
    )
    .optional(),
  tool_choice: z
    .union([
      z.enum(['auto', 'none', 'required']),
      z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) }),
    ])
    .optional(),
  user: z.string().optional(),
});

function decode<Schema extends z.ZodType>(schema: Schema, body: unknown): z.output<Schema> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const param = issue.path.join('.');
  throw new GatewayError('invalid_request', param.length > 0 ? `${param}: ${issue.message}` : issue.message, {
    details: param.length > 0 ? { param } : undefined,
  });
}

export interface DecodedNative {
  model: string;
  stream: boolean;
  /** The client asked for the final usage chunk (OpenAI `stream_options.include_usage`). */
  includeUsage: boolean;
  body: Record<string, unknown>;
}

export function decodeChatCompletions(body: Record<string, unknown>): DecodedNative {
  const decoded = decode(chatCompletionsBody, body);
  return {
    model: decoded.model,
    stream: decoded.stream === true,
    includeUsage: decoded.stream_options?.include_usage === true,
    body,
  };
}

export function decodeEmbeddings(body: Record<string, unknown>): DecodedNative {
  const decoded = decode(embeddingsBody, body);
  return { model: decoded.model, stream: false, includeUsage: false, body };
}

export function decodeMessages(body: Record<string, unknown>): DecodedNative {
  const decoded = decode(messagesBody, body);
  return { model: decoded.model, stream: decoded.stream === true, includeUsage: false, body };
}

export interface DecodedUnified {
  model: string;
  body: Record<string, unknown>;
  stream: boolean;
  includeUsage: boolean;
  /** The request for the adapter; `model` is replaced by each candidate's upstream slug. */
  request: UnifiedChatRequest;
}

export function decodeUnifiedChat(body: Record<string, unknown>): DecodedUnified {
  const decoded = decode(unifiedBody, body);
  const request: UnifiedChatRequest = { model: decoded.model, messages: decoded.messages };
  const maxTokens = decoded.max_completion_tokens ?? decoded.max_tokens;
  if (maxTokens !== undefined) request.max_tokens = maxTokens;
  if (decoded.temperature !== undefined) request.temperature = decoded.temperature;
  if (decoded.top_p !== undefined) request.top_p = decoded.top_p;
  if (decoded.stop !== undefined) request.stop = decoded.stop;
  if (decoded.tools !== undefined) request.tools = decoded.tools;
  if (decoded.tool_choice !== undefined) request.tool_choice = decoded.tool_choice;
  if (decoded.user !== undefined) request.user = decoded.user;
  return {
    model: decoded.model,
    body,
    stream: decoded.stream === true,
    includeUsage: decoded.stream_options?.include_usage === true,
    request,
  };
}

const releasedBody: Record<string, unknown> = Object.freeze({});

/**
 * Lets go of the client's body once the provider has accepted the call: nothing reads it
 * afterwards (candidates are retried only before), and a stream can last minutes. Every async
 * frame that saw `decoded` keeps it until the request is over (V8 keeps an async function's
 * variables across `await` whether or not they are used again), so without this the whole
 * prompt, parsed, would stay in memory for as long as its answer streams.
 */
export function releaseRequestBody(decoded: DecodedNative | DecodedUnified): void {
  decoded.body = releasedBody;
  if ('request' in decoded) decoded.request = { model: decoded.request.model, messages: [] };
}
