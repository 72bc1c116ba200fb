/**
 * Adapter for the Gemini API `generateContent` / `streamGenerateContent` (v1beta; docs:
 * "Generating content", "Function calling", "GenerateContentResponse", "UsageMetadata").
 * Translates OpenAI-shaped messages into `contents` of `user`/`model` turns made of parts.
 */
import {
  fallbackErrorMessage,
  isRetryableStatus,
  ProviderProtocolError,
  parseEventJson,
  RequestTranslationError,
} from './provider-error.ts';
import {
  type JsonRecord,
  lookupStopReason,
  readArray,
  readCount,
  readRecord,
  readString,
  startDelta,
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
import { contentParts, contentText, parseDataUrl, parseToolArguments } from './unified-content.ts';

/** Mapping per the `FinishReason` enum of `Candidate`. */
const stopReasons = {
  STOP: 'stop',
  MAX_TOKENS: 'length',
  SAFETY: 'content_filter',
  RECITATION: 'content_filter',
  BLOCKLIST: 'content_filter',
  PROHIBITED_CONTENT: 'content_filter',
  SPII: 'content_filter',
  IMAGE_SAFETY: 'content_filter',
} as const satisfies Record<string, StopReason>;

/** Gemini reports STOP even when the turn ends in function calls; OpenAI says `tool_calls`. */
export function mapGeminiStopReason(finishReason: unknown, hasToolCalls: boolean): StopReason | null {
  const mapped = lookupStopReason(stopReasons, finishReason);
  return mapped === 'stop' && hasToolCalls ? 'tool_calls' : mapped;
}

function modalityCount(details: unknown, modality: string): number | undefined {
  let total: number | undefined;
  for (const item of readArray(details)) {
    const detail = readRecord(item);
    if (detail?.['modality'] === modality) total = (total ?? 0) + (readCount(detail['tokenCount']) ?? 0);
  }
  return total;
}

/**
 * `UsageMetadata` → `TokenUsage`. `candidatesTokenCount` excludes thinking, which Gemini bills
 * as output, so output = candidates + thoughts. `promptTokenCount` includes cached content;
 * tokens of tool-use prompts (grounding results) are billed as input and counted apart, so they
 * are added: input + output then equals `totalTokenCount`.
 */
export function parseGeminiUsage(value: unknown): TokenUsage | undefined {
  const usage = readRecord(value);
  if (usage === undefined) return undefined;
  const thoughts = readCount(usage['thoughtsTokenCount']) ?? 0;
  return usageWith({
    input: (readCount(usage['promptTokenCount']) ?? 0) + (readCount(usage['toolUsePromptTokenCount']) ?? 0),
    output: (readCount(usage['candidatesTokenCount']) ?? 0) + thoughts,
    cachedInput: readCount(usage['cachedContentTokenCount']),
    reasoning: thoughts,
    audioInput: modalityCount(usage['promptTokensDetails'], 'AUDIO'),
    audioOutput: modalityCount(usage['candidatesTokensDetails'], 'AUDIO'),
    imageInput: modalityCount(usage['promptTokensDetails'], 'IMAGE'),
  });
}

const imageTypesByExtension: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  heic: 'image/heic',
  heif: 'image/heif',
};

function imagePart(part: UnifiedContentPart & { type: 'image_url' }): JsonRecord {
  const inline = parseDataUrl(part.image_url.url);
  if (inline !== undefined) return { inlineData: { mimeType: inline.mediaType, data: inline.base64 } };
  // `fileData` needs a MIME type and OpenAI image URLs carry none: guess from the extension.
  const extension = /\.([a-z0-9]+)(?:[?#].*)?$/i.exec(part.image_url.url)?.[1]?.toLowerCase() ?? '';
  return {
    fileData: { mimeType: imageTypesByExtension[extension] ?? 'image/jpeg', fileUri: part.image_url.url },
  };
}

function parts(content: string | UnifiedContentPart[] | null): JsonRecord[] {
  const translated: JsonRecord[] = [];
  for (const part of contentParts(content)) {
    if (part.type === 'image_url') translated.push(imagePart(part));
    else if (part.text !== '') translated.push({ text: part.text });
  }
  return translated;
}

/** OpenAI messages → Gemini `contents`; system messages go to `systemInstruction` instead. */
function translateContents(messages: UnifiedMessage[]): JsonRecord[] {
  const contents: JsonRecord[] = [];
  // A tool message names only the call id; Gemini's functionResponse needs the function name.
  const toolNameById = new Map<string, string>();
  let pendingResponses: JsonRecord[] | undefined;
  for (const message of messages) {
    if (message.role === 'tool') {
      const name = toolNameById.get(message.tool_call_id);
      if (name === undefined) {
        throw new RequestTranslationError(
          `Tool result "${message.tool_call_id}" answers no tool call of an earlier assistant message.`,
        );
      }
      const response = { functionResponse: { name, response: { content: contentText(message.content) } } };
      // "Function calling": responses to parallel calls go back together in one turn.
      if (pendingResponses === undefined) {
        pendingResponses = [response];
        contents.push({ role: 'user', parts: pendingResponses });
      } else {
        pendingResponses.push(response);
      }
      continue;
    }
    pendingResponses = undefined;
    if (message.role === 'user') {
      contents.push({ role: 'user', parts: parts(message.content) });
      continue;
    }
    // System and developer messages were lifted out into the system prompt.
    if (message.role !== 'assistant') continue;
    const modelParts = parts(message.content);
    for (const call of message.tool_calls ?? []) {
      toolNameById.set(call.id, call.function.name);
      modelParts.push({
        functionCall: {
          name: call.function.name,
          args: parseToolArguments(call.function.arguments, call.function.name),
        },
      });
    }
    if (modelParts.length > 0) contents.push({ role: 'model', parts: modelParts });
  }
  return contents;
}

function translateToolChoice(choice: UnifiedToolChoice): JsonRecord {
  if (choice === 'auto') return { functionCallingConfig: { mode: 'AUTO' } };
  if (choice === 'none') return { functionCallingConfig: { mode: 'NONE' } };
  if (choice === 'required') return { functionCallingConfig: { mode: 'ANY' } };
  return { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [choice.function.name] } };
}

/** `gemini-2.5-flash` → `models/gemini-2.5-flash`; `tunedModels/x` and `models/x` stay as given. */
function modelResource(model: string): string {
  return model.includes('/') ? model : `models/${model}`;
}

/** Reads one candidate's parts; tool-call ids continue from `firstToolIndex`. */
function readCandidateParts(
  candidate: JsonRecord | undefined,
  firstToolIndex: number,
): { text: string; toolCalls: UnifiedToolCall[] } {
  let text = '';
  const toolCalls: UnifiedToolCall[] = [];
  for (const item of readArray(readRecord(candidate?.['content'])?.['parts'])) {
    const part = readRecord(item);
    if (part === undefined) continue;
    const functionCall = readRecord(part['functionCall']);
    if (functionCall !== undefined) {
      // Gemini ids calls only in some APIs; a positional id keeps tool results matchable.
      toolCalls.push({
        id: readString(functionCall['id']) ?? `call_${firstToolIndex + toolCalls.length}`,
        type: 'function',
        function: {
          name: readString(functionCall['name']) ?? '',
          arguments: JSON.stringify(functionCall['args'] ?? {}),
        },
      });
    } else if (part['thought'] !== true) {
      // Thought summaries (`thought: true`) are reasoning, not the answer.
      text += readString(part['text']) ?? '';
    }
  }
  return { text, toolCalls };
}

function blockedPrompt(response: JsonRecord): boolean {
  return readString(readRecord(response['promptFeedback'])?.['blockReason']) !== undefined;
}

export class GeminiAdapter implements ProviderAdapter {
  readonly family = 'gemini' as const;

  authHeaders(apiKey: string | undefined): Record<string, string> {
    return apiKey === undefined || apiKey === '' ? {} : { 'x-goog-api-key': apiKey };
  }

  buildChatRequest(request: UnifiedChatRequest, stream: boolean): UpstreamRequest {
    const body: JsonRecord = { contents: translateContents(request.messages) };
    const systemParts = request.messages
      .filter((message) => message.role === 'system' || message.role === 'developer')
      .map((message) => ({ text: contentText(message.content) }));
    if (systemParts.length > 0) body['systemInstruction'] = { parts: systemParts };
    if (request.tools !== undefined && request.tools.length > 0) {
      body['tools'] = [
        {
          functionDeclarations: request.tools.map((tool) => {
            const declaration: JsonRecord = { name: tool.function.name };
            if (tool.function.description !== undefined)
              declaration['description'] = tool.function.description;
            // OpenAI parameters are JSON Schema; `parametersJsonSchema` takes it as is, where
            // `parameters` only accepts Gemini's OpenAPI subset.
            if (tool.function.parameters !== undefined)
              declaration['parametersJsonSchema'] = tool.function.parameters;
            return declaration;
          }),
        },
      ];
    }
    if (request.tool_choice !== undefined) body['toolConfig'] = translateToolChoice(request.tool_choice);
    const generationConfig: JsonRecord = {};
    if (request.max_tokens !== undefined) generationConfig['maxOutputTokens'] = request.max_tokens;
    if (request.temperature !== undefined) generationConfig['temperature'] = request.temperature;
    if (request.top_p !== undefined) generationConfig['topP'] = request.top_p;
    if (request.stop !== undefined) {
      generationConfig['stopSequences'] = typeof request.stop === 'string' ? [request.stop] : request.stop;
    }
    if (Object.keys(generationConfig).length > 0) body['generationConfig'] = generationConfig;
    const method = stream ? 'streamGenerateContent?alt=sse' : 'generateContent';
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (stream) headers['accept'] = 'text/event-stream';
    return { path: `/v1beta/${modelResource(request.model)}:${method}`, headers, body: JSON.stringify(body) };
  }

  parseChatResponse(body: unknown): UnifiedChatResult {
    const response = readRecord(body);
    if (response === undefined) throw new ProviderProtocolError('Gemini response is not a JSON object');
    const candidate = readRecord(readArray(response['candidates'])[0]);
    const { text, toolCalls } = readCandidateParts(candidate, 0);
    // A blocked prompt has no candidate at all, only `promptFeedback.blockReason`.
    const stopReason =
      candidate === undefined && blockedPrompt(response)
        ? 'content_filter'
        : mapGeminiStopReason(candidate?.['finishReason'], toolCalls.length > 0);
    return {
      responseModel: readString(response['modelVersion']),
      providerRequestId: readString(response['responseId']),
      content: text,
      stopReason,
      toolCalls,
      usage: parseGeminiUsage(response['usageMetadata']),
      rawUsage: response['usageMetadata'] ?? undefined,
    };
  }

  createStreamParser(): StreamParser {
    return new GeminiStreamParser();
  }

  parseError(status: number, body: unknown): ClassifiedError {
    // google.rpc.Status: `{"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED"}}`.
    // A stream error arrives the same way, sometimes wrapped in a one-element array.
    const record = readRecord(Array.isArray(body) ? body[0] : body);
    const error = readRecord(record?.['error']);
    const message =
      readString(error?.['message']) ??
      (typeof body === 'string' && body.trim() !== '' ? body.trim().slice(0, 1000) : undefined) ??
      fallbackErrorMessage(status);
    return { message, type: readString(error?.['status']), retryable: isRetryableStatus(status) };
  }
}

/**
 * One `streamGenerateContent?alt=sse` stream: every event's data is a whole
 * GenerateContentResponse; the last carries `finishReason` and the final `usageMetadata`
 * (earlier chunks carry running totals, so only the final one is emitted).
 *
 * Gemini sends no end-of-stream marker. This parser emits `done` right after the chunk carrying
 * `finishReason`, so the gateway treats all three families alike: `done` is a clean end, and a
 * body that ends without one was cut off. A usage-only chunk after that still yields `usage`,
 * so consumers should keep reading the body to its end for accounting.
 */
export class GeminiStreamParser implements StreamParser {
  #started = false;
  #toolCallCount = 0;
  #finished = false;

  parse(event: { data: string }): StreamDelta[] {
    const chunk = parseEventJson(event.data, 'Gemini');
    const error = readRecord(chunk['error']);
    if (error !== undefined) {
      return [
        {
          type: 'error',
          message: readString(error['message']) ?? 'The upstream stream failed.',
          errorType: readString(error['status']),
        },
      ];
    }
    const deltas: StreamDelta[] = [];
    if (!this.#started) {
      this.#started = true;
      deltas.push(startDelta(chunk['modelVersion'], chunk['responseId']));
    }
    const candidates = readArray(chunk['candidates']);
    const candidate = readRecord(candidates[0]);
    const { text, toolCalls } = readCandidateParts(candidate, this.#toolCallCount);
    if (text !== '') deltas.push({ type: 'text', text });
    for (const call of toolCalls) {
      // Gemini streams each function call whole, never as argument fragments.
      deltas.push({
        type: 'tool_call',
        index: this.#toolCallCount,
        id: call.id,
        name: call.function.name,
        argumentsDelta: call.function.arguments,
      });
      this.#toolCallCount += 1;
    }
    const finishReason = candidate?.['finishReason'];
    const promptBlocked = candidates.length === 0 && blockedPrompt(chunk);
    const finishing = !this.#finished && (finishReason !== undefined || promptBlocked);
    if (finishing) {
      const stopReason = promptBlocked
        ? 'content_filter'
        : mapGeminiStopReason(finishReason, this.#toolCallCount > 0);
      deltas.push({ type: 'finish', stopReason });
    }
    const usage = parseGeminiUsage(chunk['usageMetadata']);
    if (usage !== undefined && (finishing || this.#finished || candidates.length === 0)) {
      deltas.push({ type: 'usage', usage, rawUsage: chunk['usageMetadata'] });
    }
    if (finishing) {
      this.#finished = true;
      deltas.push({ type: 'done' });
    }
    return deltas;
  }
}
