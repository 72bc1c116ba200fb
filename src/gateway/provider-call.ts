/**
 * The provider call: builds the upstream URL and headers, sends through the one upstream
 * client, records each attempt on the context, and turns a non-2xx answer into the gateway's
 * error (relaying the provider's own message, never ours). Routing candidates are tried in
 * order while the failure is retryable and nothing has reached the client yet.
 */
import type { ResolvedModel } from '../config/load.ts';
import { GatewayError } from '../errors.ts';
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
}

export interface ProviderAnswer {
  model: ResolvedModel;
  adapter: ProviderAdapter;
  response: UpstreamResponse;
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
    for (const model of candidates) {
      const adapter = adapterFor(model.provider.type);
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
        const response = await this.#attempt(call, model, adapter);
        attempt.status = response.status;
        if (response.status >= 200 && response.status < 300) return { model, adapter, response };
        const { error, retryable } = await upstreamStatusError(adapter, response);
        lastError = error;
        markFailed(attempt, error, 'error');
        if (!retryable) break;
      } catch (error) {
        if (error instanceof GatewayError && error.code === 'invalid_request') {
          markFailed(attempt, error, 'error');
          throw error;
        }
        const failure = error instanceof UpstreamFailure ? error : undefined;
        if (failure?.kind === 'aborted' || call.context.signal.aborted) {
          markFailed(attempt, undefined, 'aborted');
          throw failure ?? error;
        }
        lastError =
          failure?.toGatewayError() ?? new GatewayError('upstream_error', undefined, { cause: error });
        markFailed(attempt, lastError, failure?.kind === 'timeout' ? 'timeout' : 'error');
      } finally {
        attempt.durationMs = performance.now() - attempt.startedAt;
        call.context.outcome.upstreamEndedAt = performance.now();
      }
    }
    throw lastError ?? new GatewayError('upstream_error');
  }

  #attempt(call: ProviderCall, model: ResolvedModel, adapter: ProviderAdapter): Promise<UpstreamResponse> {
    const request = buildRequest(call, model, adapter);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: call.stream ? 'text/event-stream' : 'application/json',
      ...model.provider.headers,
      ...call.forwardHeaders,
      ...request.headers,
      ...adapter.authHeaders(model.provider.apiKey),
      'x-request-id': call.context.requestId,
    };
    if (call.context.traceparent !== undefined) headers.traceparent = call.context.traceparent;
    return this.#upstream.send({
      url: model.provider.baseUrl + request.path,
      headers,
      body: request.body,
      timeoutMs: model.timeoutMs,
      totalDeadline: !call.stream,
      signal: call.context.signal,
    });
  }
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

function markFailed(
  attempt: UpstreamAttempt,
  error: GatewayError | undefined,
  outcome: UpstreamAttempt['outcome'],
) {
  attempt.outcome = outcome;
  attempt.errorCode = error?.code;
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
