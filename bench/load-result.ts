/**
 * The one shape every load generator of the benchmark reports (wrk closed loop, the open-loop
 * generator, the streaming client), and the percentile arithmetic of the Node generators:
 * nearest-rank percentiles over every sample of the run, never averages of averages.
 */

export interface LatencySummary {
  /** Milliseconds. */
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface LoadResult {
  /** Completed requests (successful or not) inside the measured window. */
  requests: number;
  errors: number;
  durationS: number;
  rps: number;
  /** Whole-request latency; for streams, the time to the first content token (see `stream`). */
  latencyMs: LatencySummary;
  /** Streams only. */
  stream?: {
    /** Time from sending the request to the first SSE event carrying content. */
    ttftMs: LatencySummary;
    /** Time from sending the request to the end of the stream. */
    totalMs: LatencySummary;
    completed: number;
    /**
     * Every counted stream's time to first token in the order the streams ended, to the
     * microsecond: what an interval of a percentile is drawn from (bench/quantile-interval.ts).
     * Absent in runs before stop 30.
     */
    ttftSamplesMs?: number[];
  };
  /** Open loop only: how late the generator sent requests against their schedule. */
  sendLagMs?: LatencySummary;
  /** Requests the open loop was asked to send in the measured window. */
  scheduled?: number;
  /**
   * Open loop only: requests of the measured window still without an answer `timeoutMs` + 1 s
   * after it closed (counted among `errors`; the rest of `errors` had a non-2xx answer or lost
   * their connection).
   */
  unanswered?: number;
  /** Requests (streams) completed including the warm-up, for CPU cost per request. */
  allRequests?: number;
  /** Streams taking turns between targets (bench/stream-load.ts `turns`): each target's own. */
  byTarget?: Record<string, LoadResult>;
}

export const resultLinePrefix = 'BENCH_RESULT ';
/** A line a generator prints while it runs, for the harness to pass on as progress. */
export const progressLinePrefix = 'BENCH_PROGRESS ';

/**
 * The nearest-rank quantile of sorted samples: the smallest sample with at least `fraction` of
 * them at or below it (no interpolation, no averaging). NaN when there are none.
 */
export function nearestRank(sorted: ArrayLike<number>, fraction: number): number {
  const count = sorted.length;
  if (count === 0) return Number.NaN;
  return sorted[Math.min(count - 1, Math.max(0, Math.ceil(fraction * count) - 1))]!;
}

/** Nearest-rank percentiles of `samples` (sorted in place). An empty set summarises to NaN. */
export function summarise(samples: Float64Array): LatencySummary {
  samples.sort();
  const count = samples.length;
  const at = (percentile: number): number => nearestRank(samples, percentile / 100);
  let sum = 0;
  for (const sample of samples) sum += sample;
  return {
    p50: at(50),
    p90: at(90),
    p99: at(99),
    p999: at(99.9),
    max: count === 0 ? Number.NaN : samples[count - 1]!,
    mean: count === 0 ? Number.NaN : sum / count,
  };
}

/** A growable list of float samples, cheaper than a JS array at hundreds of thousands of entries. */
export class SampleBuffer {
  #values = new Float64Array(4096);
  #length = 0;

  push(value: number): void {
    if (this.#length === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#length++] = value;
  }

  get length(): number {
    return this.#length;
  }

  toArray(): Float64Array {
    return this.#values.slice(0, this.#length);
  }
}

/** Finds the result line a generator printed on stdout. */
export function parseResultLine<T>(stdout: string): T {
  const line = stdout.split('\n').find((entry) => entry.startsWith(resultLinePrefix));
  if (line === undefined) throw new Error(`no result line in generator output:\n${stdout.slice(-2000)}`);
  return JSON.parse(line.slice(resultLinePrefix.length)) as T;
}
