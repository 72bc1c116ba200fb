/**
 * Confidence intervals for a percentile that assume nothing about the distribution: the ends
 * are order statistics of the samples, chosen from the binomial law of how many samples fall
 * below the true percentile. A p99 from 100 samples (the time-to-first-token cell at one
 * connection) moves by about 2 ms between runs; this says how far it can be trusted, and when
 * there are too few samples to bound it at all.
 *
 * With n samples, the k-th smallest X(k) lies at or below the true q-quantile exactly when at
 * least k samples do, so P(X(k) ≤ q) = P(B ≥ k) for B ~ Binomial(n, q). The lower end is the
 * largest k with P(B ≥ k) ≥ 1 - α/2, the upper end the smallest k with P(B ≥ k) ≤ α/2
 * (then P(X(k) ≥ q) = P(B ≤ k - 1) ≥ 1 - α/2). When no rank qualifies the end is unbounded: the
 * maximum of n samples is above the p99 with probability 1 - 0.99^n, which reaches 97.5 % only
 * from 368 samples.
 */

export interface QuantileInterval {
  /** Milliseconds (the samples' unit); -Infinity when the samples cannot bound it below. */
  lower: number;
  /** Infinity when the samples cannot bound it above. */
  upper: number;
  /** 1-based ranks of the ends among the sorted samples; undefined where unbounded. */
  lowerRank?: number;
  upperRank?: number;
  samples: number;
  confidence: number;
}

/**
 * P(B ≥ k) for k = 0..n (index k), B ~ Binomial(n, p), 0 < p < 1. Computed from log
 * probabilities scaled by their largest, so that p^n may underflow for large n without loss.
 */
export function binomialUpperTails(n: number, p: number): Float64Array {
  if (!Number.isInteger(n) || n < 0) throw new Error(`binomial: n must be a whole number ≥ 0, got ${n}`);
  if (!(p > 0 && p < 1)) throw new Error(`binomial: p must lie strictly between 0 and 1, got ${p}`);
  const logPmf = new Float64Array(n + 1);
  // log pmf(k) up to a constant: from k = 0 upwards, pmf(k + 1) / pmf(k) = (n - k) / (k + 1) · p / (1 - p).
  const logOdds = Math.log(p) - Math.log1p(-p);
  for (let k = 0; k < n; k++) logPmf[k + 1] = logPmf[k]! + Math.log(n - k) - Math.log(k + 1) + logOdds;
  let largest = Number.NEGATIVE_INFINITY;
  for (const value of logPmf) if (value > largest) largest = value;
  const tails = new Float64Array(n + 2);
  for (let k = n; k >= 0; k--) tails[k] = tails[k + 1]! + Math.exp(logPmf[k]! - largest);
  const total = tails[0]!;
  const result = new Float64Array(n + 1);
  for (let k = 0; k <= n; k++) result[k] = Math.min(1, tails[k]! / total);
  return result;
}

/**
 * The distribution-free interval of the `quantile` (0..1, e.g. 0.99) of `samples` at
 * `confidence` (two-sided, e.g. 0.95). The samples are not changed.
 */
export function quantileInterval(
  samples: ArrayLike<number>,
  quantile: number,
  confidence = 0.95,
): QuantileInterval {
  if (!(confidence > 0 && confidence < 1))
    throw new Error(`quantile interval: confidence must lie strictly between 0 and 1, got ${confidence}`);
  const n = samples.length;
  const sorted = Float64Array.from(samples).sort();
  const tails = binomialUpperTails(n, quantile);
  const half = (1 - confidence) / 2;
  let lowerRank: number | undefined;
  for (let k = n; k >= 1; k--)
    if (tails[k]! >= 1 - half) {
      lowerRank = k;
      break;
    }
  let upperRank: number | undefined;
  for (let k = 1; k <= n; k++)
    if (tails[k]! <= half) {
      upperRank = k;
      break;
    }
  return {
    lower: lowerRank === undefined ? Number.NEGATIVE_INFINITY : sorted[lowerRank - 1]!,
    upper: upperRank === undefined ? Number.POSITIVE_INFINITY : sorted[upperRank - 1]!,
    ...(lowerRank === undefined ? {} : { lowerRank }),
    ...(upperRank === undefined ? {} : { upperRank }),
    samples: n,
    confidence,
  };
}

/** The fewest samples whose maximum bounds the `quantile` from above at `confidence` (two-sided). */
export function samplesToBoundAbove(quantile: number, confidence = 0.95): number {
  return Math.ceil(Math.log((1 - confidence) / 2) / Math.log(quantile));
}

/**
 * The interval of a difference of two percentiles (a system's minus the baseline's, each from
 * its own independent samples): from the ends of their intervals, so it covers the true
 * difference whenever both cover theirs, with probability at least 1 - 2(1 - confidence).
 */
export function differenceInterval(
  system: QuantileInterval,
  baseline: QuantileInterval,
): { lower: number; upper: number; confidence: number } {
  return {
    lower: system.lower - baseline.upper,
    upper: system.upper - baseline.lower,
    confidence: 1 - 2 * (1 - Math.min(system.confidence, baseline.confidence)),
  };
}
