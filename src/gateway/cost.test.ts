import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ResolvedModel } from '../config/load.ts';
import { emptyUsage, type TokenUsage } from '../providers/types.ts';
import { computeCostNanos } from './cost.ts';

/** USD per million tokens → nano-USD per million tokens, as the config loader stores prices. */
const usd = (amount: number) => BigInt(Math.round(amount * 1e9));

function model(type: ResolvedModel['type'], pricing: ResolvedModel['pricing']): ResolvedModel {
  return { type, pricing } as ResolvedModel;
}

const usage = (fields: Partial<TokenUsage>): TokenUsage => ({ ...emptyUsage(), ...fields });

test('cached and reasoning subsets are charged at their own price where the model has one', () => {
  const priced = model('chat', { input: usd(0.15), cached_input: usd(0.075), output: usd(0.6) });
  // 800 × 0.15 + 200 × 0.075 + 500 × 0.6 = 435 USD per million → 0.000435 USD.
  assert.equal(
    computeCostNanos(priced, usage({ input: 1_000, cachedInput: 200, output: 500, reasoning: 100 })),
    435_000n,
  );
  // With a reasoning price, the 100 reasoning tokens leave the output class.
  const withReasoning = model('chat', { ...priced.pricing, reasoning: usd(1.2) });
  assert.equal(
    computeCostNanos(withReasoning, usage({ input: 1_000, cachedInput: 200, output: 500, reasoning: 100 })),
    120_000n + 15_000n + 400n * 600n + 100n * 1_200n,
  );
});

test('a class without a price costs nothing, and subsets never make a class negative', () => {
  const inputOnly = model('chat', { input: usd(2) });
  assert.equal(computeCostNanos(inputOnly, usage({ input: 10, output: 1_000 })), 20_000n);
  const cachedPriced = model('chat', { input: usd(1), cached_input: usd(0.5) });
  assert.equal(computeCostNanos(cachedPriced, usage({ input: 10, cachedInput: 40 })), 20_000n);
});

test('the total is divided once and rounded half up', () => {
  const tiny = model('chat', { input: usd(0.0005) });
  assert.equal(computeCostNanos(tiny, usage({ input: 1 })), 1n); // 0.5 nano → 1
  const smaller = model('chat', { input: usd(0.0004) });
  assert.equal(computeCostNanos(smaller, usage({ input: 1 })), 0n); // 0.4 nano → 0
  assert.equal(computeCostNanos(smaller, usage({ input: 3 })), 1n); // 1.2 → 1, not 3 × 0
});

test('embeddings use their own price, else the input price', () => {
  assert.equal(
    computeCostNanos(model('embeddings', { embeddings: usd(0.02) }), usage({ embeddings: 300 })),
    6_000n,
  );
  assert.equal(
    computeCostNanos(model('embeddings', { input: usd(0.1) }), usage({ embeddings: 300 })),
    30_000n,
  );
  assert.equal(computeCostNanos(model('embeddings', { input: usd(0.1) }), usage({ input: 50 })), 5_000n);
});

test('large counts stay exact past 2^53', () => {
  const expensive = model('chat', { input: usd(100), output: usd(300) });
  // 10^9 × 10^11 + 10^9 × 3·10^11 = 4·10^20 nano-USD per million → 4·10^14.
  assert.equal(computeCostNanos(expensive, usage({ input: 1e9, output: 1e9 })), 400_000_000_000_000n);
});
