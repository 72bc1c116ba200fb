/**
 * The benchmark's distribution-free percentile intervals: known ranks from the binomial law,
 * the point below which samples cannot bound a p99 from above, and coverage measured by drawing
 * samples of a known distribution many times.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  binomialUpperTails,
  differenceInterval,
  quantileInterval,
  samplesToBoundAbove,
} from '../bench/quantile-interval.ts';
import { createSeededRandom } from '../src/mock-upstream/fault-plan.ts';

const ranks = (n: number) => Array.from({ length: n }, (_, index) => index + 1);

describe('benchmark percentile intervals', () => {
  it('has the binomial tails of a small case worked by hand', () => {
    const tails = binomialUpperTails(3, 0.5);
    assert.deepEqual([...tails], [1, 0.875, 0.5, 0.125]);
    // P(B = 100) = 0.99^100 for 100 samples below their p99.
    assert.ok(Math.abs(binomialUpperTails(100, 0.99)[100]! - 0.99 ** 100) < 1e-12);
    // Large n, where p^n underflows: the tail at the mean is about a half.
    const large = binomialUpperTails(200_000, 0.99);
    assert.ok(Math.abs(large[198_000]! - 0.5) < 0.01, String(large[198_000]));
  });

  it('gives the textbook ranks of a median from 100 samples (40th and 61st)', () => {
    const interval = quantileInterval(ranks(100), 0.5);
    assert.equal(interval.lowerRank, 40);
    assert.equal(interval.upperRank, 61);
  });

  it('cannot bound a p99 from above with fewer samples than samplesToBoundAbove says', () => {
    assert.equal(samplesToBoundAbove(0.99), 368);
    const hundred = quantileInterval(ranks(100), 0.99);
    assert.equal(hundred.upper, Number.POSITIVE_INFINITY);
    assert.equal(hundred.lowerRank, 97);
    assert.equal(quantileInterval(ranks(367), 0.99).upper, Number.POSITIVE_INFINITY);
    assert.equal(quantileInterval(ranks(368), 0.99).upperRank, 368);
    const thousand = quantileInterval(ranks(1000), 0.99);
    assert.deepEqual([thousand.lowerRank, thousand.upperRank], [983, 997]);
  });

  it('reads the ends from the samples in any order, without sorting them in place', () => {
    const samples = [5, 1, 4, 2, 3, 9, 8, 7, 6, 10];
    const interval = quantileInterval(samples, 0.5, 0.9);
    assert.deepEqual(samples, [5, 1, 4, 2, 3, 9, 8, 7, 6, 10]);
    assert.equal(interval.lower, interval.lowerRank);
    assert.equal(interval.upper, interval.upperRank);
  });

  it('covers the true p99 of a known distribution in 95 % of 2,000 draws (94 % allowed for their spread)', () => {
    // Seeded, so the coverage count is the same every run.
    const next = createSeededRandom(42);
    const trials = 2000;
    const n = 600;
    let covered = 0;
    let pointAtOrAbove = 0;
    for (let trial = 0; trial < trials; trial++) {
      // Exponential with mean 1: the true p99 is ln(100).
      const samples = Array.from({ length: n }, () => -Math.log(1 - next()));
      const interval = quantileInterval(samples, 0.99);
      if (interval.lower <= Math.log(100) && Math.log(100) <= interval.upper) covered++;
      const sorted = samples.sort((a, b) => a - b);
      if (sorted[Math.ceil(0.99 * n) - 1]! >= Math.log(100)) pointAtOrAbove++;
    }
    assert.ok(covered / trials >= 0.94, `covered ${covered} of ${trials}`);
    // The nearest-rank point itself lands on either side about as often: a test that cannot tell
    // an interval from a point would pass it too, so check that it does not.
    assert.ok(pointAtOrAbove / trials < 0.7 && pointAtOrAbove / trials > 0.3, String(pointAtOrAbove));
  });

  it('takes a difference of two percentiles from the far ends of their intervals', () => {
    const system = quantileInterval(
      ranks(1000).map((value) => value + 10),
      0.99,
    );
    const baseline = quantileInterval(ranks(1000), 0.99);
    const difference = differenceInterval(system, baseline);
    assert.equal(difference.lower, 983 + 10 - 997);
    assert.equal(difference.upper, 997 + 10 - 983);
    assert.ok(Math.abs(difference.confidence - 0.9) < 1e-12);
    const unbounded = differenceInterval(quantileInterval(ranks(100), 0.99), baseline);
    assert.equal(unbounded.upper, Number.POSITIVE_INFINITY);
  });

  it('refuses a confidence or a quantile outside (0, 1)', () => {
    assert.throws(() => quantileInterval([1, 2], 0.5, 1), /confidence/);
    assert.throws(() => quantileInterval([1, 2], 1), /p must lie/);
  });
});
