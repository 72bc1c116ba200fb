/** Request contexts for tests: what the HTTP server makes for a model call before its handler runs. */
import { createRequestContext, type Endpoint, endpoints, type RequestContext } from './request-context.ts';

/** A `POST /v1/chat/completions` context (another endpoint or the request's own abort signal on demand). */
export function chatCompletionsContext(
  requestId: string,
  options: { endpoint?: Endpoint; signal?: AbortSignal } = {},
): RequestContext {
  return createRequestContext({
    requestId,
    route: '/v1/chat/completions',
    endpoint: options.endpoint ?? endpoints.chatCompletions,
    signal: options.signal ?? new AbortController().signal,
    traceparent: undefined,
  });
}
