/**
 * The HTTP server: route table, request id, per-request context and abort signal, error
 * mapping, and the graceful drain of SIGTERM. Route handlers are the lifecycle; this file only
 * gets a request to one and accounts for it when the response is over.
 */
import { channel } from 'node:diagnostics_channel';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { GatewayError } from '../errors.ts';
import {
  createRequestContext,
  type Endpoint,
  endpoints,
  type RequestContext,
} from '../gateway/request-context.ts';
import { uuidV7 } from './request-id.ts';
import { sendError } from './respond.ts';

export type RouteHandler = (
  context: RequestContext,
  request: IncomingMessage,
  response: ServerResponse,
) => Promise<void>;

export interface Route {
  method: 'GET' | 'POST';
  /**
   * The route template, which is also the `route` label. A `{name}` segment matches one
   * non-empty path segment (`/v1/usage/records/{request_id}`); the handler reads it from the URL.
   */
  path: string;
  endpoint: Endpoint;
  handler: RouteHandler;
}

/**
 * Lifecycle events for observers (telemetry, usage) that subscribe instead of being called
 * inline (after Fastify's and undici's diagnostics channels). Publishing is free without subscribers.
 */
export const requestStartChannel = channel('odock:request:start');
export const requestEndChannel = channel('odock:request:end');

export interface HttpServerOptions {
  routes: readonly Route[];
  logger: Logger;
  /** Called once per request before its handler runs (telemetry opens the root span here). */
  onRequestStart?: (context: RequestContext, request: IncomingMessage) => void;
  /** Called once per request when its response is over (finished or aborted). */
  onRequestEnd?: (context: RequestContext) => void;
}

/** nginx's convention for "client closed request", kept on the context for the usage record. */
export const clientClosedRequest = 499;

const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/;

/** `/a/{name}/b` → /^\/a\/[^/]+\/b$/: each `{name}` is one non-empty segment, the rest literal. */
function templatePattern(template: string): RegExp {
  const source = template
    .split(/\{[^}/]+\}/)
    .map((literal) => literal.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))
    .join('[^/]+');
  return new RegExp(`^${source}$`);
}

/**
 * A caller's well-formed `X-Request-Id` is kept (so its own logs join ours); otherwise one is
 * made, a time-ordered UUIDv7 (request-id.ts).
 */
export function requestIdFor(header: string | string[] | undefined): string {
  return typeof header === 'string' && requestIdPattern.test(header) ? header : uuidV7();
}

export class HttpServer {
  readonly server: Server;
  readonly #routes = new Map<string, Map<string, Route>>();
  /** Templates with `{name}` segments, tried in order when no exact path matches. */
  readonly #templates: Array<{ pattern: RegExp; path: string }> = [];
  readonly #logger: Logger;
  readonly #onRequestStart: ((context: RequestContext, request: IncomingMessage) => void) | undefined;
  readonly #onRequestEnd: ((context: RequestContext) => void) | undefined;
  #inFlight = 0;
  #drained: (() => void) | undefined;
  #closing = false;

  constructor(options: HttpServerOptions) {
    for (const route of options.routes) {
      const byMethod = this.#routes.get(route.path) ?? new Map<string, Route>();
      byMethod.set(route.method, route);
      this.#routes.set(route.path, byMethod);
      if (route.path.includes('{') && !this.#templates.some((entry) => entry.path === route.path))
        this.#templates.push({ pattern: templatePattern(route.path), path: route.path });
    }
    this.#logger = options.logger;
    this.#onRequestStart = options.onRequestStart;
    this.#onRequestEnd = options.onRequestEnd;
    this.server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (request, response) => {
      this.#handle(request, response);
    });
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get closing(): boolean {
    return this.#closing;
  }

  /** `backlog`: connections the kernel queues until they are accepted (`ODOCK_LISTEN_BACKLOG`). */
  listen(port: number, host: string, backlog: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host, backlog }, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        if (address === null || typeof address === 'string') reject(new Error('no TCP address'));
        else resolve({ host: address.address, port: address.port });
      });
    });
  }

  /**
   * Stops accepting connections and waits for in-flight requests (streams included) to end,
   * up to `deadlineMs`; what is still open then is cut. Resolves to whether the drain completed.
   */
  async close(deadlineMs: number): Promise<boolean> {
    this.#closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    let drained = this.#inFlight === 0;
    if (!drained) {
      const finished = new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, deadlineMs);
      });
      await Promise.race([finished.then(() => (drained = true)), timedOut]);
      clearTimeout(timer);
    }
    this.server.closeAllConnections();
    await closed;
    return drained;
  }

  #handle(request: IncomingMessage, response: ServerResponse): void {
    const requestId = requestIdFor(request.headers['x-request-id']);
    response.setHeader('x-request-id', requestId);
    const questionMark = request.url!.indexOf('?');
    const path = questionMark === -1 ? request.url! : request.url!.slice(0, questionMark);
    const template = this.#routes.has(path)
      ? path
      : this.#templates.find((entry) => entry.pattern.test(path))?.path;
    const byMethod = template === undefined ? undefined : this.#routes.get(template);
    const route = byMethod?.get(request.method ?? '');

    const abort = new AbortController();
    const context = createRequestContext({
      requestId,
      route: template ?? 'unmatched',
      endpoint: route?.endpoint ?? endpoints.other,
      signal: abort.signal,
      traceparent: typeof request.headers.traceparent === 'string' ? request.headers.traceparent : undefined,
    });
    this.#inFlight += 1;
    if (this.#closing) response.setHeader('connection', 'close');
    // The request is over when its response has closed AND its handler has settled: after a
    // client abort the handler is still unwinding (stream outcome, 499, settlement) when the
    // response closes, and the context is complete only once it is done.
    let pending = 2;
    const over = () => {
      pending -= 1;
      if (pending > 0) return;
      if (context.outcome.status === 0) context.outcome.status = response.statusCode;
      this.#inFlight -= 1;
      this.#finish(context);
      if (this.#inFlight === 0) this.#drained?.();
    };
    response.once('close', () => {
      if (!response.writableFinished) abort.abort();
      over();
    });
    this.#onRequestStart?.(context, request);
    if (requestStartChannel.hasSubscribers) requestStartChannel.publish(context);

    if (route === undefined) {
      if (byMethod !== undefined) response.setHeader('allow', [...byMethod.keys()].join(', '));
      sendError(
        context,
        response,
        new GatewayError(byMethod === undefined ? 'route_not_found' : 'method_not_allowed'),
      );
      request.resume();
      over();
      return;
    }
    route.handler(context, request, response).then(
      () => {
        if (context.outcome.status === 0) context.outcome.status = response.statusCode;
        over();
      },
      (error: unknown) => {
        this.#fail(context, response, error);
        over();
      },
    );
  }

  #fail(context: RequestContext, response: ServerResponse, error: unknown): void {
    if (context.signal.aborted) {
      // The client went away first: nobody is left to answer, and it is not a gateway failure.
      context.outcome.status = clientClosedRequest;
      if (!response.destroyed) response.destroy();
      return;
    }
    const gatewayError = sendError(context, response, error);
    if (gatewayError.status >= 500) {
      this.#logger.error(
        { request_id: context.requestId, route: context.route, err: gatewayError.cause ?? gatewayError },
        'request failed',
      );
    }
    // A failure after the headers went out (a broken stream) cannot be answered: end the socket.
    if (response.headersSent && !response.writableEnded) response.destroy();
  }

  #finish(context: RequestContext): void {
    try {
      this.#onRequestEnd?.(context);
      if (requestEndChannel.hasSubscribers) requestEndChannel.publish(context);
    } catch (error) {
      this.#logger.error({ request_id: context.requestId, err: error }, 'request end observer failed');
    }
  }
}
