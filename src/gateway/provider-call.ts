/**
 * The provider call: builds the upstream URL and headers, sends through the one upstream
 * client, records each attempt on the context, and turns a non-2xx answer into the gateway's
 * error (relaying the provider's own message, never ours). Routing candidates are tried in
 * order while the failure is retryable and nothing has reached the client yet.
 */
import type { ResolvedModel } from '../config/load.ts';
import { GatewayError } from '../errors.ts';
import { spanAttributes, spanNames } from '../observability/catalog.ts';
import {
  markSpanFailed,
  type Span,
  SpanKind,
  startChildSpan,
  traceparentOf,
} from '../observability/spans.ts';
import { RequestTranslationError } from '../providers/provider-error.ts';
import { adapterFor } from '../providers/registry.ts';
import type { ProviderAdapter, UpstreamRequest } from '../providers/types.ts';
import { type UpstreamClient, UpstreamFailure, type UpstreamResponse } from '../upstream/upstream-client.ts';
import type { RequestContext, UpstreamAttempt } from './request-context.ts';

export interface ProviderCall {
  context: RequestContext;
  stream: boolean;
  /** Headers of the client's request forwarded upstream (e.g. `anthropic-version`, `anthropic-beta`). */
  forwardHeaders?: Record<string, string>;
  /** Builds the wire request for one candidate model. */
  build(model: ResolvedModel, adapter: ProviderAdapter): UpstreamRequest;
  /** The `gateway.provider.route` span; one `gateway.provider.request` span per attempt opens under it. */
  parentSpan?: Span;
  /** `gen_ai.operation.name` (`chat`, `embeddings`). */
  operation: 'chat' | 'embeddings';
}

export interface ProviderAnswer {
  model: ResolvedModel;
  adapter: ProviderAdapter;
  response: UpstreamResponse;
  /** The successful attempt's span, still open: the caller ends it when the body is consumed. */
  span: Span;
}

export class ProviderCaller {
  readonly #upstream: UpstreamClient;

  constructor(upstream: UpstreamClient) {
    this.#upstream = upstream;
  }

  /**
   * Sends to the first candidate that answers 2xx. Resolves with the open response (the body is
   * not consumed), or throws the last candidate's GatewayError.
   */
  async send(call: ProviderCall, candidates: readonly ResolvedModel[]): Promise<ProviderAnswer> {
    let lastError: GatewayError | undefined;
    for (let index = 0; index < candidates.length; index += 1) {
      const model = candidates[index]!;
      const adapter = adapterFor(model.provider.type);
      if (index > 0)
        call.parentSpan?.addEvent('retry', {
          [spanAttributes.retryCount]: index,
          [spanAttributes.model]: model.name,
        });
      const span = startAttemptSpan(call, model, index);
      const attempt: UpstreamAttempt = {
        provider: model.provider.name,
        model: model.name,
        startedAt: performance.now(),
        durationMs: 0,
        status: undefined,
        outcome: 'success',
        errorCode: undefined,
      };
      call.context.outcome.attempts.push(attempt);
      call.context.outcome.upstreamStartedAt ??= attempt.startedAt;
      try {
        const response = await this.#attempt(call, model, adapter, span);
        attempt.status = response.status;
        span.setAttribute('http.response.status_code', response.status);
        if (response.status >= 200 && response.status < 300) return { model, adapter, response, span };
        const { error, retryable } = await upstreamStatusError(adapter, response);
        lastError = error;
        failAttempt(attempt, span, error, 'error');
        if (!retryable) break;
      } catch (error) {
        if (error instanceof GatewayError && error.code === 'invalid_request') {
          failAttempt(attempt, span, error, 'error');
          throw error;
        }
        const failure = error instanceof UpstreamFailure ? error : undefined;
        if (failure?.kind === 'aborted' || call.context.signal.aborted) {
          failAttempt(attempt, span, undefined, 'aborted');
          throw failure ?? error;
        }
        lastError =
          failure?.toGatewayError() ?? new GatewayError('upstream_error', undefined, { cause: error });
        failAttempt(attempt, span, lastError, failure?.kind === 'timeout' ? 'timeout' : 'error');
      } finally {
        attempt.durationMs = performance.now() - attempt.startedAt;
        call.context.outcome.upstreamEndedAt = performance.now();
      }
    }
    throw lastError ?? new GatewayError('upstream_error');
  }

  #attempt(
    call: ProviderCall,
    model: ResolvedModel,
    adapter: ProviderAdapter,
    span: Span,
  ): Promise<UpstreamResponse> {
    const request = buildRequest(call, model, adapter);
    const fixed = fixedHeadersOf(model.provider, adapter, call.stream);
    const headers: Record<string, string> = { ...fixed.headers };
    // The gateway's own credential wins over anything forwarded or built for the request.
    const forwarded = call.forwardHeaders !== undefined || hasKeys(request.headers);
    if (forwarded) Object.assign(headers, call.forwardHeaders, request.headers, fixed.auth);
    headers['x-request-id'] = call.context.requestId;
    // The provider call carries this attempt's span onward as its parent (W3C Trace Context).
    const traceparent = traceparentOf(span) ?? call.context.traceparent;
    if (traceparent !== undefined) headers.traceparent = traceparent;
    return this.#upstream.send({
      baseUrl: model.provider.baseUrl,
      path: request.path,
      headers,
      body: request.body,
      timeoutMs: model.timeoutMs,
      totalDeadline: !call.stream,
      signal: call.context.signal,
    });
  }
}

interface FixedHeaders {
  /** Content type, accept, the provider's configured headers and its credential. */
  headers: Readonly<Record<string, string>>;
  auth: Readonly<Record<string, string>>;
}

/** Per provider (the resolved configuration is immutable; a reload makes new objects). */
const fixedHeaderCache = new WeakMap<
  ResolvedModel['provider'],
  { unary: FixedHeaders; stream: FixedHeaders }
>();

function fixedHeadersOf(
  provider: ResolvedModel['provider'],
  adapter: ProviderAdapter,
  stream: boolean,
): FixedHeaders {
  let cached = fixedHeaderCache.get(provider);
  if (cached === undefined) {
    const auth = Object.freeze(adapter.authHeaders(provider.apiKey));
    const fixed = (accept: string): FixedHeaders => ({
      headers: Object.freeze({ 'content-type': 'application/json', accept, ...provider.headers, ...auth }),
      auth,
    });
    cached = { unary: fixed('application/json'), stream: fixed('text/event-stream') };
    fixedHeaderCache.set(provider, cached);
  }
  return stream ? cached.stream : cached.unary;
}

function hasKeys(record: Record<string, string>): boolean {
  for (const _ in record) return true;
  return false;
}

/** A request the provider family cannot express is the caller's problem (400), not the upstream's. */
function buildRequest(call: ProviderCall, model: ResolvedModel, adapter: ProviderAdapter): UpstreamRequest {
  try {
    return call.build(model, adapter);
  } catch (error) {
    if (error instanceof RequestTranslationError)
      throw new GatewayError('invalid_request', `${model.provider.type}: ${error.message}`, { cause: error });
    throw error;
  }
}

function startAttemptSpan(call: ProviderCall, model: ResolvedModel, index: number): Span {
  return startChildSpan(
    call.parentSpan,
    spanNames.providerRequest,
    () => ({
      [spanAttributes.provider]: model.provider.name,
      [spanAttributes.model]: model.name,
      [spanAttributes.stream]: call.stream,
      [spanAttributes.retryCount]: index,
      [spanAttributes.genAiOperationName]: call.operation,
      [spanAttributes.genAiProviderName]:
        model.provider.type === 'gemini' ? 'gcp.gemini' : model.provider.type,
      [spanAttributes.genAiRequestModel]: model.upstreamModel,
    }),
    SpanKind.CLIENT,
  );
}

/** Records a failed attempt on the context (for usage and metrics) and on its span, then ends the span. */
function failAttempt(
  attempt: UpstreamAttempt,
  span: Span,
  error: GatewayError | undefined,
  outcome: UpstreamAttempt['outcome'],
): void {
  attempt.outcome = outcome;
  attempt.errorCode = error?.code;
  markSpanFailed(span, error, outcome === 'error' ? error?.code : outcome);
  span.end();
}

/** Reads a non-2xx upstream answer and maps it to the gateway's registry. */
async function upstreamStatusError(
  adapter: ProviderAdapter,
  response: UpstreamResponse,
): Promise<{ error: GatewayError; retryable: boolean }> {
  let body: unknown;
  try {
    const text = await response.body.text();
    body = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  const classified = adapter.parseError(response.status, body);
  const status = response.status;
  if (status === 429) {
    const retryAfter = Number(response.headers['retry-after']);
    return {
      error: new GatewayError('upstream_rate_limited', undefined, {
        details: Number.isFinite(retryAfter) && retryAfter > 0 ? { retry_after: retryAfter } : undefined,
      }),
      retryable: true,
    };
  }
  if (status === 401 || status === 403)
    return {
      error: new GatewayError('upstream_error', 'The provider rejected the gateway credential.'),
      retryable: true,
    };
  if (status >= 400 && status < 500 && status !== 408 && status !== 409)
    return {
      error: new GatewayError('upstream_rejected', classified.message || undefined),
      retryable: false,
    };
  return { error: new GatewayError('upstream_error'), retryable: classified.retryable };
}
