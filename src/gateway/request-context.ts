/**
 * Typed per-request state, created by the HTTP layer and filled by each lifecycle stage
 * (spec/gateway.md section 1). When the response is over, the context is the complete
 * account of the call: the usage recorder, budget settlement and telemetry read it.
 */
import type { Span } from '@opentelemetry/api';
import type { ResolvedModel } from '../config/load.ts';
import type { ErrorCode } from '../errors.ts';
import type { TokenUsage } from '../providers/types.ts';

export const endpoints = {
  chatCompletions: 'chat_completions',
  embeddings: 'embeddings',
  messages: 'messages',
  unifiedChat: 'llm_chat',
  models: 'models',
  health: 'health',
  metrics: 'metrics',
  /** The organisation-scoped usage read API (`/v1/usage/...`). */
  usage: 'usage',
  other: 'other',
} as const;
export type Endpoint = (typeof endpoints)[keyof typeof endpoints];

/** Who is calling: resolved from a virtual API key. */
export interface Principal {
  readonly apiKeyId: string;
  readonly organizationId: string;
  readonly teamId: string | null;
  readonly userId: string | null;
  /** Granted model names; contains '*' when every model is granted. */
  readonly models: ReadonlySet<string>;
}

export type StreamOutcome = 'completed' | 'client_aborted' | 'upstream_error';

/** One upstream attempt (the routing chain keeps one per try). */
export interface UpstreamAttempt {
  readonly provider: string;
  readonly model: string;
  startedAt: number;
  durationMs: number;
  status: number | undefined;
  outcome: 'success' | 'error' | 'timeout' | 'aborted';
  errorCode: ErrorCode | undefined;
}

/** A plugin run, recorded by the plugin stage for the usage record's metadata. */
export interface PluginExecution {
  readonly name: string;
  readonly stage: string;
  readonly decision: string;
  readonly durationMs: number;
}

/** A SafetySec module decision, recorded by the safety stage. */
export interface SafetyDecision {
  readonly module: string;
  readonly stage: 'request' | 'response';
  readonly decision: 'allow' | 'block' | 'redact';
  readonly durationMs?: number;
}

/** One rate-limit stage outcome, recorded by the rate-limit stage. */
export interface RateLimitOutcome {
  readonly stage: string;
  readonly module: string;
  readonly decision: 'allow' | 'reject';
}

/** What the admission stages decided, appended by each stage; the usage record keeps it as metadata. */
export interface StageOutcomes {
  readonly plugins: PluginExecution[];
  readonly safety: SafetyDecision[];
  readonly rateLimits: RateLimitOutcome[];
}

export interface CallOutcome {
  status: number;
  errorCode: ErrorCode | undefined;
  stream: boolean;
  streamOutcome: StreamOutcome | undefined;
  usage: TokenUsage | undefined;
  rawUsage: unknown;
  costNanos: bigint;
  providerRequestId: string | undefined;
  responseModel: string | undefined;
  /** performance.now() of the first upstream byte requested and of the last one received. */
  upstreamStartedAt: number | undefined;
  upstreamEndedAt: number | undefined;
  /** Milliseconds from the start of the request to the first content chunk sent to the client. */
  timeToFirstTokenMs: number | undefined;
  attempts: UpstreamAttempt[];
}

export interface RequestContext {
  readonly requestId: string;
  /** performance.now() at arrival. */
  readonly startedAt: number;
  readonly receivedAt: Date;
  /** Route template (`/v1/chat/completions`), never the raw path. */
  readonly route: string;
  readonly endpoint: Endpoint;
  /** Aborted when the client goes away, so upstream work stops with it. */
  readonly signal: AbortSignal;
  /** Incoming W3C trace context, forwarded upstream. */
  readonly traceparent: string | undefined;
  /** Trace id of this request's root span (set by telemetry; recorded on the usage record). */
  traceId: string | undefined;
  /** The root `http.request` span; stages open their child spans under it. */
  span: Span | undefined;
  principal: Principal | undefined;
  model: ResolvedModel | undefined;
  /** The model name the client asked for, kept only for error messages, never as a label. */
  requestedModel: string | undefined;
  readonly outcome: CallOutcome;
  readonly stageOutcomes: StageOutcomes;
}

/**
 * A new context. Made by constructors, not as one nested object literal: V8 may decide to
 * allocate a literal's objects in the old generation for good (allocation-site pretenuring),
 * and a request's context there keeps everything it pointed to alive through young-generation
 * collections after the request is over (docs/performance-history.md, "What a unary call promotes").
 * The gateway's flags turn that decision off for every literal (src/node-flags.ts); this one
 * holds the whole request, so it does not depend on them.
 */
export function createRequestContext(init: {
  requestId: string;
  route: string;
  endpoint: Endpoint;
  signal: AbortSignal;
  traceparent: string | undefined;
}): RequestContext {
  return new Context(init.requestId, init.route, init.endpoint, init.signal, init.traceparent);
}

class Outcome implements CallOutcome {
  status = 0;
  errorCode: ErrorCode | undefined = undefined;
  stream = false;
  streamOutcome: StreamOutcome | undefined = undefined;
  usage: TokenUsage | undefined = undefined;
  rawUsage: unknown = undefined;
  costNanos = 0n;
  providerRequestId: string | undefined = undefined;
  responseModel: string | undefined = undefined;
  upstreamStartedAt: number | undefined = undefined;
  upstreamEndedAt: number | undefined = undefined;
  timeToFirstTokenMs: number | undefined = undefined;
  attempts: UpstreamAttempt[] = [];
}

class Outcomes implements StageOutcomes {
  readonly plugins = [] as PluginExecution[];
  readonly safety = [] as SafetyDecision[];
  readonly rateLimits = [] as RateLimitOutcome[];
}

class Context implements RequestContext {
  readonly startedAt = performance.now();
  readonly receivedAt = new Date();
  traceId: string | undefined = undefined;
  span: Span | undefined = undefined;
  principal: Principal | undefined = undefined;
  model: ResolvedModel | undefined = undefined;
  requestedModel: string | undefined = undefined;
  readonly outcome = new Outcome();
  readonly stageOutcomes = new Outcomes();
  readonly requestId: string;
  readonly route: string;
  readonly endpoint: Endpoint;
  readonly signal: AbortSignal;
  readonly traceparent: string | undefined;
  constructor(
    requestId: string,
    route: string,
    endpoint: Endpoint,
    signal: AbortSignal,
    traceparent: string | undefined,
  ) {
    this.requestId = requestId;
    this.route = route;
    this.endpoint = endpoint;
    this.signal = signal;
    this.traceparent = traceparent;
  }
}
