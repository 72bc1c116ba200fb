/**
 * The usage record (spec/gateway.md section 5): what one finished request leaves in the store.
 * Built from the complete RequestContext when the response is over; it holds counts, timings,
 * names and ids, never a prompt, a completion or a credential.
 */
import type { RequestContext, UpstreamAttempt } from '../gateway/request-context.ts';
import { uuidV7 } from '../http/request-id.ts';

export const usageOutcomes = ['success', 'client_error', 'server_error', 'client_aborted'] as const;
export type UsageOutcome = (typeof usageOutcomes)[number];

/** Endpoints that call a model; every other recorded endpoint counts as "other" traffic. */
export const modelEndpoints = ['chat_completions', 'embeddings', 'messages', 'llm_chat'] as const;

export interface UsageTokens {
  input: number;
  output: number;
  cachedInput: number;
  cacheWrite: number;
  reasoning: number;
  audioInput: number;
  audioOutput: number;
  imageInput: number;
  /** No adapter reports tool tokens apart from input/output yet. */
  tool: number | null;
  embeddings: number;
  /** The tokens the price applies to: embedded tokens for embeddings, else input + output. */
  billable: number;
}

/** One upstream attempt of the routing chain, with times relative to the request's arrival. */
export interface AttemptRecord {
  provider: string;
  model: string;
  started_after_ms: number;
  duration_ms: number;
  status: number | null;
  outcome: UpstreamAttempt['outcome'];
  error_code: string | null;
}

export interface UsageMetadata {
  plugins: Array<{ name: string; stage: string; decision: string; duration_ms: number }>;
  safety: Array<{ module: string; stage: string; decision: string; duration_ms: number | null }>;
  rate_limits: Array<{ stage: string; module: string; decision: string }>;
}

export interface UsageRecord {
  id: string;
  requestId: string;
  traceId: string | null;
  requestedAt: Date;
  organizationId: string | null;
  teamId: string | null;
  userId: string | null;
  apiKeyId: string | null;
  provider: string | null;
  model: string | null;
  requestedModel: string | null;
  responseModel: string | null;
  endpoint: string;
  route: string;
  stream: boolean;
  streamOutcome: string | null;
  status: number;
  outcome: UsageOutcome;
  errorCode: string | null;
  latencyMs: number;
  upstreamMs: number | null;
  gatewayOverheadMs: number | null;
  timeToFirstTokenMs: number | null;
  pluginOverheadMs: number;
  tokens: UsageTokens;
  unitKind: string | null;
  unitQuantity: number | null;
  costNanos: bigint;
  providerRequestId: string | null;
  providerUsage: unknown;
  attempts: AttemptRecord[];
  metadata: UsageMetadata;
}

/** Client- or provider-chosen texts (a model name, a provider request id) are kept, never at any length. */
const textMaximum = 128;
/** A provider usage object is a handful of counters; anything larger is not kept verbatim. */
const providerUsageMaximumBytes = 8_192;

/**
 * Operational endpoints are not gateway calls: probes, scrapes and the usage API's own reads
 * would flood the table and the analytics with traffic nobody bills or debugs.
 */
const unrecordedEndpoints: ReadonlySet<string> = new Set(['health', 'metrics', 'usage']);

export function isRecorded(context: RequestContext): boolean {
  return !unrecordedEndpoints.has(context.endpoint);
}

/** The outcome class of a finished request, from its status and, for streams, how they ended. */
export function classifyOutcome(context: RequestContext): UsageOutcome {
  const { status, errorCode, streamOutcome } = context.outcome;
  if (status === 499 || streamOutcome === 'client_aborted') return 'client_aborted';
  // A stream that broke after its 200 went out failed on the gateway's side of the call.
  if (status >= 500 || streamOutcome === 'upstream_error') return 'server_error';
  if (status >= 400) return 'client_error';
  return errorCode === undefined ? 'success' : 'server_error';
}

/**
 * Builds the record of a finished request. `finishedAt` is performance.now() when its response
 * was over. Throws only on a malformed context (counted as an ingest error by the collector).
 */
export function toUsageRecord(context: RequestContext, finishedAt: number): UsageRecord {
  const { outcome, principal, model } = context;
  const latencyMs = Math.max(0, finishedAt - context.startedAt);
  const upstreamMs =
    outcome.upstreamStartedAt !== undefined && outcome.upstreamEndedAt !== undefined
      ? Math.max(0, outcome.upstreamEndedAt - outcome.upstreamStartedAt)
      : null;
  const usage = outcome.usage;
  const input = usage?.input ?? 0;
  const output = usage?.output ?? 0;
  const embeddings = usage?.embeddings ?? 0;
  const plugins = context.stageOutcomes.plugins.map((execution) => ({
    name: execution.name,
    stage: execution.stage,
    decision: execution.decision,
    duration_ms: execution.durationMs,
  }));
  return {
    id: uuidV7(),
    requestId: context.requestId,
    traceId: context.traceId ?? null,
    requestedAt: context.receivedAt,
    organizationId: principal?.organizationId ?? null,
    teamId: principal?.teamId ?? null,
    userId: principal?.userId ?? null,
    apiKeyId: principal?.apiKeyId ?? null,
    provider: model?.provider.name ?? null,
    model: model?.name ?? null,
    requestedModel: boundedText(context.requestedModel),
    responseModel: boundedText(outcome.responseModel),
    endpoint: context.endpoint,
    route: context.route,
    stream: outcome.stream,
    streamOutcome: outcome.streamOutcome ?? null,
    status: outcome.status,
    outcome: classifyOutcome(context),
    errorCode: outcome.errorCode ?? null,
    latencyMs,
    upstreamMs,
    gatewayOverheadMs: upstreamMs === null ? null : Math.max(0, latencyMs - upstreamMs),
    timeToFirstTokenMs: outcome.timeToFirstTokenMs ?? null,
    pluginOverheadMs: plugins.reduce((total, execution) => total + execution.duration_ms, 0),
    tokens: {
      input,
      output,
      cachedInput: usage?.cachedInput ?? 0,
      cacheWrite: usage?.cacheWrite ?? 0,
      reasoning: usage?.reasoning ?? 0,
      audioInput: usage?.audioInput ?? 0,
      audioOutput: usage?.audioOutput ?? 0,
      imageInput: usage?.imageInput ?? 0,
      tool: null,
      embeddings,
      billable: embeddings > 0 ? embeddings : input + output,
    },
    unitKind: null,
    unitQuantity: null,
    costNanos: outcome.costNanos,
    providerRequestId: boundedText(outcome.providerRequestId),
    providerUsage: boundedJson(outcome.rawUsage),
    attempts: outcome.attempts.map((attempt) => ({
      provider: attempt.provider,
      model: attempt.model,
      started_after_ms: Math.max(0, attempt.startedAt - context.startedAt),
      duration_ms: attempt.durationMs,
      status: attempt.status ?? null,
      outcome: attempt.outcome,
      error_code: attempt.errorCode ?? null,
    })),
    metadata: {
      plugins,
      safety: context.stageOutcomes.safety.map((decision) => ({
        module: decision.module,
        stage: decision.stage,
        decision: decision.decision,
        duration_ms: decision.durationMs ?? null,
      })),
      rate_limits: context.stageOutcomes.rateLimits.map((limit) => ({
        stage: limit.stage,
        module: limit.module,
        decision: limit.decision,
      })),
    },
  };
}

/**
 * Text from outside the gateway: cut, without NUL, which PostgreSQL text cannot hold, and
 * well-formed: a lone surrogate (sent by a client, or left by the cut inside a pair) has no
 * UTF-8, and PostgreSQL refuses its JSON escape, which would cost the record. It becomes U+FFFD.
 */
function boundedText(value: string | undefined): string | null {
  if (value === undefined) return null;
  const clean = value.includes('\u0000') ? value.replaceAll('\u0000', '') : value;
  const cut = clean.length > textMaximum ? clean.slice(0, textMaximum) : clean;
  return cut.isWellFormed() ? cut : cut.toWellFormed();
}

/**
 * The provider's usage object, or a note of its size when its JSON text is over the limit. A
 * typical one (a dozen counters) is shown to fit by `jsonLengthBound` without being serialised:
 * it is serialised once, in the row.
 */
export function boundedJson(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (jsonLengthBound(value, providerUsageMaximumBytes, 0) >= 0) return value;
  const text = JSON.stringify(value);
  if (text === undefined) return null;
  return text.length <= providerUsageMaximumBytes ? value : { truncated: true, bytes: text.length };
}

/**
 * What is left of `budget` after an upper bound of the length of `value`'s JSON text (every
 * string character counted as a six-character escape, every number as 24 characters), or -1
 * when the bound is over budget or `value` is not plain JSON data (undefined, a function, a
 * bigint, an object with a prototype or a `toJSON`, nesting deeper than 16): the caller then
 * measures the real text.
 */
export function jsonLengthBound(value: unknown, budget: number, depth: number): number {
  if (budget < 0 || depth > 16) return -1;
  switch (typeof value) {
    case 'boolean':
      return budget - 5;
    case 'number':
      return budget - 24;
    case 'string':
      return budget - (6 * value.length + 2);
    case 'object': {
      if (value === null) return budget - 4;
      let left = budget - 2;
      if (Array.isArray(value)) {
        for (const item of value) {
          left = jsonLengthBound(item, left - 1, depth + 1);
          if (left < 0) return -1;
        }
        return left;
      }
      const prototype = Object.getPrototypeOf(value);
      if ((prototype !== Object.prototype && prototype !== null) || 'toJSON' in value) return -1;
      for (const key of Object.keys(value)) {
        left = jsonLengthBound(
          (value as Record<string, unknown>)[key],
          left - (6 * key.length + 4),
          depth + 1,
        );
        if (left < 0) return -1;
      }
      return left;
    }
    default:
      return -1;
  }
}
