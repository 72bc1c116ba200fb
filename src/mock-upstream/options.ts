/**
 * Options of the mock upstream and their validation. One rule table serves both the
 * programmatic API (`startMockUpstream`) and the CLI, so a bad value is rejected with the same
 * wording whichever way it arrives; only the name in the message differs (option vs flag).
 */

export interface MockUpstreamOptions {
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** Port; default 0 (an ephemeral port, read it back from `MockUpstream.port`). */
  port?: number;
  /** Delay before the response headers (unary) / before the first byte (streams); default 0. */
  latencyMs?: number;
  /** Streams: delay from the request's arrival to the first content chunk; default = latencyMs. */
  timeToFirstTokenMs?: number;
  /** Streams: delay between content chunks; default 0. */
  chunkIntervalMs?: number;
  /** Streams: number of content chunks; default 8 (fewer when an echoed reply is shorter). */
  streamChunks?: number;
  /** Completion token count reported in usage; default = streamChunks. */
  outputTokens?: number;
  /** Default true: the reply echoes the last user message (truncated); false: a fixed pre-built reply. */
  echo?: boolean;
  /** 0..1 probability of a 500 with a provider-shaped error body. */
  errorRate?: number;
  /** 0..1 probability of a 429 with Retry-After. */
  rateLimitRate?: number;
  /** 0..1 probability of never answering (the client must give up). */
  timeoutRate?: number;
  /** 0..1 probability of a TCP reset before answering. */
  resetRate?: number;
  /** 0..1 probability that a stream sends some chunks, then an error event or a reset. */
  midStreamErrorRate?: number;
  /** Seed of the PRNG drawing the rates above; default: random. */
  seed?: number;
  /** Seconds announced in Retry-After on 429 answers; default 1. */
  retryAfterSeconds?: number;
}

/** Defaults filled in, except `timeToFirstTokenMs`: undefined means "follow the latency in effect". */
export type ResolvedMockUpstreamOptions = Required<Omit<MockUpstreamOptions, 'timeToFirstTokenMs'>> & {
  timeToFirstTokenMs: number | undefined;
};

interface NumericRule {
  readonly flag: string;
  readonly integer: boolean;
  readonly minimum: number;
  readonly maximum: number;
}

// Upper bounds only stop typos (a latency of 10^9 ms is never meant); they are not tuning advice.
const oneDayMs = 86_400_000;

export const numericOptionRules = {
  port: { flag: 'port', integer: true, minimum: 0, maximum: 65_535 },
  latencyMs: { flag: 'latency-ms', integer: false, minimum: 0, maximum: oneDayMs },
  timeToFirstTokenMs: { flag: 'ttft-ms', integer: false, minimum: 0, maximum: oneDayMs },
  chunkIntervalMs: { flag: 'chunk-interval-ms', integer: false, minimum: 0, maximum: oneDayMs },
  streamChunks: { flag: 'chunks', integer: true, minimum: 1, maximum: 100_000 },
  outputTokens: { flag: 'output-tokens', integer: true, minimum: 0, maximum: 100_000_000 },
  errorRate: { flag: 'error-rate', integer: false, minimum: 0, maximum: 1 },
  rateLimitRate: { flag: 'rate-limit-rate', integer: false, minimum: 0, maximum: 1 },
  timeoutRate: { flag: 'timeout-rate', integer: false, minimum: 0, maximum: 1 },
  resetRate: { flag: 'reset-rate', integer: false, minimum: 0, maximum: 1 },
  midStreamErrorRate: { flag: 'mid-stream-error-rate', integer: false, minimum: 0, maximum: 1 },
  seed: { flag: 'seed', integer: true, minimum: 0, maximum: 2 ** 32 - 1 },
  retryAfterSeconds: { flag: 'retry-after-seconds', integer: true, minimum: 0, maximum: 86_400 },
} as const satisfies Record<string, NumericRule>;

export type NumericOptionName = keyof typeof numericOptionRules;

/** Returns what is wrong with `value` for the option, or undefined when it is acceptable. */
export function numericOptionProblem(name: NumericOptionName, value: unknown): string | undefined {
  const rule: NumericRule = numericOptionRules[name];
  if (typeof value !== 'number' || !Number.isFinite(value))
    return `must be a finite number, got ${String(value)}`;
  if (rule.integer && !Number.isInteger(value)) return `must be an integer, got ${value}`;
  if (value < rule.minimum || value > rule.maximum) {
    return `must be between ${rule.minimum} and ${rule.maximum}, got ${value}`;
  }
  return undefined;
}

const defaultStreamChunks = 8;

/** Fills defaults and validates; throws a RangeError naming the first bad option. */
export function resolveMockUpstreamOptions(options: MockUpstreamOptions = {}): ResolvedMockUpstreamOptions {
  const latencyMs = options.latencyMs ?? 0;
  const streamChunks = options.streamChunks ?? defaultStreamChunks;
  const resolved: ResolvedMockUpstreamOptions = {
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    latencyMs,
    timeToFirstTokenMs: options.timeToFirstTokenMs,
    chunkIntervalMs: options.chunkIntervalMs ?? 0,
    streamChunks,
    outputTokens: options.outputTokens ?? streamChunks,
    echo: options.echo ?? true,
    errorRate: options.errorRate ?? 0,
    rateLimitRate: options.rateLimitRate ?? 0,
    timeoutRate: options.timeoutRate ?? 0,
    resetRate: options.resetRate ?? 0,
    midStreamErrorRate: options.midStreamErrorRate ?? 0,
    seed: options.seed ?? Math.floor(Math.random() * 2 ** 32),
    retryAfterSeconds: options.retryAfterSeconds ?? 1,
  };
  for (const name of Object.keys(numericOptionRules) as NumericOptionName[]) {
    if (resolved[name] === undefined) continue;
    const problem = numericOptionProblem(name, resolved[name]);
    if (problem !== undefined) throw new RangeError(`mock upstream option ${name} ${problem}`);
  }
  if (typeof resolved.host !== 'string' || resolved.host.length === 0) {
    throw new RangeError('mock upstream option host must be a non-empty string');
  }
  const rateSum = faultRateSum(resolved);
  // The rates partition one uniform draw per request, so together they cannot exceed certainty.
  if (rateSum > 1 + 1e-9) {
    throw new RangeError(`mock upstream fault rates must add up to at most 1, got ${rateSum}`);
  }
  return resolved;
}

export function faultRateSum(options: ResolvedMockUpstreamOptions): number {
  return (
    options.resetRate +
    options.timeoutRate +
    options.errorRate +
    options.rateLimitRate +
    options.midStreamErrorRate
  );
}
