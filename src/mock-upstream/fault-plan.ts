/**
 * Decides, per request, how the mock upstream misbehaves and how slowly it answers: either
 * from the `x-mock-*` request headers (tests forcing one behaviour) or from the configured
 * rates, drawn from a seeded PRNG so a run with the same seed and request order repeats exactly.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { faultRateSum, type ResolvedMockUpstreamOptions } from './options.ts';

/** The values double as the `x-mock-scenario` header values that force them. */
export const faultKinds = {
  none: 'none',
  serverError: 'error-500',
  rateLimited: 'error-429',
  badRequest: 'error-400',
  timeout: 'timeout',
  reset: 'reset',
  midStreamError: 'mid-stream-error',
  midStreamReset: 'mid-stream-reset',
} as const;

export type FaultKind = (typeof faultKinds)[keyof typeof faultKinds];

export const scenarioHeader = 'x-mock-scenario';
export const latencyHeader = 'x-mock-latency-ms';
export const timeToFirstTokenHeader = 'x-mock-ttft-ms';
export const chunkIntervalHeader = 'x-mock-chunk-interval-ms';

/** `slow` without an `x-mock-latency-ms` header adds this much. */
export const defaultSlowLatencyMs = 1000;

const scenarioFaults: Readonly<Record<string, FaultKind>> = {
  'error-500': faultKinds.serverError,
  'error-429': faultKinds.rateLimited,
  'error-400': faultKinds.badRequest,
  timeout: faultKinds.timeout,
  reset: faultKinds.reset,
  'mid-stream-error': faultKinds.midStreamError,
  'mid-stream-reset': faultKinds.midStreamReset,
};

export interface RequestPlan {
  fault: FaultKind;
  /** Delay from the request's arrival to the response headers (and, for streams, the preamble). */
  latencyMs: number;
  /** Streams: delay from the request's arrival to the first content chunk. */
  timeToFirstTokenMs: number;
  chunkIntervalMs: number;
}

/** Either a plan, or why the scripting headers are unusable (answered with a 400). */
export type PlanOutcome = { plan: RequestPlan; problem?: undefined } | { plan?: undefined; problem: string };

/** mulberry32: tiny, fast and good enough to spread faults; not for anything cryptographic. */
export function createSeededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function millisecondsHeader(headers: IncomingHttpHeaders, name: string): number | string | undefined {
  const text = headerValue(headers, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0) {
    return `${name} must be a non-negative number of milliseconds, got "${text}"`;
  }
  return value;
}

export class FaultPlanner {
  readonly #options: ResolvedMockUpstreamOptions;
  readonly #random: () => number;
  readonly #rateSum: number;

  constructor(options: ResolvedMockUpstreamOptions) {
    this.#options = options;
    this.#random = createSeededRandom(options.seed);
    this.#rateSum = faultRateSum(options);
  }

  plan(headers: IncomingHttpHeaders, streaming: boolean): PlanOutcome {
    const options = this.#options;
    const latencyOverride = millisecondsHeader(headers, latencyHeader);
    const timeToFirstTokenOverride = millisecondsHeader(headers, timeToFirstTokenHeader);
    const chunkIntervalOverride = millisecondsHeader(headers, chunkIntervalHeader);
    for (const value of [latencyOverride, timeToFirstTokenOverride, chunkIntervalOverride]) {
      if (typeof value === 'string') return { problem: value };
    }
    const scenario = headerValue(headers, scenarioHeader);
    let fault: FaultKind;
    let latencyMs = (latencyOverride as number | undefined) ?? options.latencyMs;
    if (scenario === undefined) {
      fault = this.#drawFault(streaming);
    } else if (scenario === 'slow') {
      fault = faultKinds.none;
      latencyMs = options.latencyMs + ((latencyOverride as number | undefined) ?? defaultSlowLatencyMs);
    } else {
      const forced = scenarioFaults[scenario];
      if (forced === undefined) {
        const known = [...Object.keys(scenarioFaults), 'slow'].join(', ');
        return { problem: `unknown ${scenarioHeader} "${scenario}"; expected one of ${known}` };
      }
      fault = forced;
    }
    const configuredTimeToFirstToken = options.timeToFirstTokenMs ?? latencyMs;
    return {
      plan: {
        fault,
        latencyMs,
        timeToFirstTokenMs: (timeToFirstTokenOverride as number | undefined) ?? configuredTimeToFirstToken,
        chunkIntervalMs: (chunkIntervalOverride as number | undefined) ?? options.chunkIntervalMs,
      },
    };
  }

  /**
   * One uniform draw partitioned into bands (reset, timeout, 500, 429, mid-stream), so each
   * fault happens with exactly its configured probability; the mid-stream band only applies to
   * streams, where its lower half sends an error event and its upper half resets the socket.
   */
  #drawFault(streaming: boolean): FaultKind {
    if (this.#rateSum === 0) return faultKinds.none;
    const options = this.#options;
    let draw = this.#random();
    const bands: readonly [number, FaultKind][] = [
      [options.resetRate, faultKinds.reset],
      [options.timeoutRate, faultKinds.timeout],
      [options.errorRate, faultKinds.serverError],
      [options.rateLimitRate, faultKinds.rateLimited],
    ];
    for (const [rate, fault] of bands) {
      if (draw < rate) return fault;
      draw -= rate;
    }
    if (streaming && draw < options.midStreamErrorRate) {
      return draw < options.midStreamErrorRate / 2 ? faultKinds.midStreamError : faultKinds.midStreamReset;
    }
    return faultKinds.none;
  }
}
