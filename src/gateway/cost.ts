/**
 * Cost of a call in integer nano-USD from the model's pricing (USD per million tokens per
 * class, held as nano-USD per million). Products are summed exactly as bigint and divided once,
 * rounding half up, so repeated calls never accumulate floating-point drift.
 */
import type { ResolvedModel } from '../config/load.ts';
import type { TokenPriceClass } from '../config/schema.ts';
import type { TokenUsage } from '../providers/types.ts';

const perMillion = 1_000_000n;

export function computeCostNanos(model: ResolvedModel, usage: TokenUsage): bigint {
  const price = model.pricing;
  const parts: Array<[number, TokenPriceClass | undefined]> = [];
  if (model.type === 'embeddings') {
    parts.push([usage.embeddings || usage.input, price.embeddings !== undefined ? 'embeddings' : 'input']);
  } else {
    // Subsets are charged at their own price where the model has one, else as their parent class.
    const cached = price.cached_input !== undefined ? usage.cachedInput : 0;
    const cacheWrite = price.cache_write !== undefined ? usage.cacheWrite : 0;
    const audioInput = price.audio_input !== undefined ? usage.audioInput : 0;
    const imageInput = price.image_input !== undefined ? usage.imageInput : 0;
    const reasoning = price.reasoning !== undefined ? usage.reasoning : 0;
    const audioOutput = price.audio_output !== undefined ? usage.audioOutput : 0;
    parts.push(
      [Math.max(0, usage.input - cached - cacheWrite - audioInput - imageInput), 'input'],
      [cached, 'cached_input'],
      [cacheWrite, 'cache_write'],
      [audioInput, 'audio_input'],
      [imageInput, 'image_input'],
      [Math.max(0, usage.output - reasoning - audioOutput), 'output'],
      [reasoning, 'reasoning'],
      [audioOutput, 'audio_output'],
    );
  }
  let total = 0n;
  for (const [tokens, tokenClass] of parts) {
    const nanosPerMillion = tokenClass === undefined ? undefined : price[tokenClass];
    if (tokens > 0 && nanosPerMillion !== undefined) total += BigInt(tokens) * nanosPerMillion;
  }
  return (total + perMillion / 2n) / perMillion;
}
