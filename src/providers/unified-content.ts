/**
 * Reading the OpenAI-shaped input of the unified endpoint, for the adapters that must translate
 * it (Anthropic, Gemini). Shared so both read images and tool arguments the same way.
 */
import { RequestTranslationError } from './provider-error.ts';
import type { UnifiedContentPart, UnifiedMessage } from './types.ts';

export function contentParts(content: string | UnifiedContentPart[] | null): UnifiedContentPart[] {
  if (content === null) return [];
  return typeof content === 'string' ? [{ type: 'text', text: content }] : content;
}

/** The text of a message's content, image parts skipped (system prompts and tool results). */
export function contentText(content: string | UnifiedContentPart[] | null): string {
  if (content === null) return '';
  if (typeof content === 'string') return content;
  let text = '';
  for (const part of content) if (part.type === 'text') text += part.text;
  return text;
}

/** System and developer messages joined in order; both families take one system prompt. */
export function systemText(messages: UnifiedMessage[]): string | undefined {
  const texts: string[] = [];
  for (const message of messages) {
    if (message.role === 'system' || message.role === 'developer') texts.push(contentText(message.content));
  }
  return texts.length === 0 ? undefined : texts.join('\n\n');
}

export interface InlineImage {
  mediaType: string;
  base64: string;
}

const dataUrl = /^data:([^;,]+)((?:;[^;,]+)*);base64,(.*)$/s;

/** `data:image/png;base64,...` (RFC 2397) → media type and payload; other URLs → undefined. */
export function parseDataUrl(url: string): InlineImage | undefined {
  const match = dataUrl.exec(url);
  if (match === null) return undefined;
  return { mediaType: match[1] ?? 'application/octet-stream', base64: match[3] ?? '' };
}

/**
 * Tool-call arguments are a JSON text on the OpenAI side but a JSON object on the Anthropic
 * (`tool_use.input`) and Gemini (`functionCall.args`) sides. An empty text means "no arguments".
 */
export function parseToolArguments(argumentsJson: string, toolName: string): Record<string, unknown> {
  if (argumentsJson.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(argumentsJson);
  } catch {
    throw new RequestTranslationError(`The arguments of tool call "${toolName}" are not valid JSON.`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RequestTranslationError(`The arguments of tool call "${toolName}" must be a JSON object.`);
  }
  return value as Record<string, unknown>;
}
