/**
 * The adapter of each provider family. Adapters hold no per-request state (stream state lives
 * in the parser each `createStreamParser()` returns), so one instance per family serves all.
 */
import { AnthropicAdapter } from './anthropic.ts';
import { GeminiAdapter } from './gemini.ts';
import { OpenAICompatibleAdapter } from './openai-compatible.ts';
import type { ProviderAdapter, ProviderFamily } from './types.ts';

const adapters = {
  openai: new OpenAICompatibleAdapter(),
  anthropic: new AnthropicAdapter(),
  gemini: new GeminiAdapter(),
} as const satisfies Record<ProviderFamily, ProviderAdapter>;

export function adapterFor(family: ProviderFamily): ProviderAdapter {
  return adapters[family];
}
