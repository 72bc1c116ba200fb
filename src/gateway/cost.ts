/**
 * Cost of a call in integer nano-USD from the model's pricing (USD per million tokens per
 * class, held as nano-USD per million). Products are summed exactly as bigint and divided once,
 * rounding half up, so repeated calls never accumulate floating-point drift.
 */
import type { ResolvedModel } from '../config/load.ts';
import type { TokenUsage } from '../providers/types.ts';

const perMillion = 1_000_000n;

export function computeCostNanos(model: ResolvedModel, usage: TokenUsage): bigint {
  const price = model.pricing;
  let total = 0n;
  if (model.type === 'embeddings') {
    total += term(usage.embeddings || usage.input, price.embeddings ?? price.input);
  } else {
    // Subsets are charged at their own price where the model has one, else as their parent class.
    const cached = price.cached_input !== undefined ? usage.cachedInput : 0;
    const cacheWrite = price.cache_write !== undefined ? usage.cacheWrite : 0;
    const audioInput = price.audio_input !== undefined ? usage.audioInput : 0;
    const imageInput = price.image_input !== undefined ? usage.imageInput : 0;
    const reasoning = price.reasoning !== undefined ? usage.reasoning : 0;
    const audioOutput = price.audio_output !== undefined ? usage.audioOutput : 0;
    total +=
      term(Math.max(0, usage.input - cached - cacheWrite - audioInput - imageInput), price.input) +
      term(cached, price.cached_input) +
      term(cacheWrite, price.cache_write) +
      term(audioInput, price.audio_input) +
      term(imageInput, price.image_input) +
      term(Math.max(0, usage.output - reasoning - audioOutput), price.output) +
      term(reasoning, price.reasoning) +
      term(audioOutput, price.audio_output);
  }
  return (total + perMillion / 2n) / perMillion;
}

/** Tokens times nano-USD per million tokens; nothing when either is absent. */
function term(tokens: number, nanosPerMillion: bigint | undefined): bigint {
  return tokens > 0 && nanosPerMillion !== undefined ? BigInt(tokens) * nanosPerMillion : 0n;
}
