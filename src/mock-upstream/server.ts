/**
 * The mock upstream: an OpenAI-, Anthropic- and Gemini-compatible HTTP server on plain
 * `node:http`, upstream of the demo, the gateway tests and the benchmarks. It speaks the real
 * wire formats (the gateway's adapters parse real payloads), can be made slow or faulty by
 * options or per request (`x-mock-*` headers, see fault-plan.ts), and is cheap enough never to
 * be a benchmark's bottleneck: bodies are concatenated from pre-serialised fragments, and an
 * unthrottled stream is written in one go.
 *
 * Routes: POST /v1/chat/completions, POST /v1/embeddings, POST /v1/messages,
 * POST /v1beta/models/{model}:generateContent, POST /v1beta/models/{model}:streamGenerateContent
 * (`?alt=sse` for SSE), GET /v1/models, GET /healthz; anything else is a 404 in OpenAI's shape.
 * Token counting is described in conversation.ts.
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { defaultListenBacklog } from '../http/listen-backlog.ts';
import { createAnthropicChatWire } from './anthropic-wire.ts';
import {
  type ChatTurn,
  type ChatWire,
  type ErrorKind,
  errorKinds,
  errorStatus,
  IdentifierSource,
  isRequestProblem,
} from './chat-wire.ts';
import { countTokens, ReplyWriter } from './conversation.ts';
import { embeddingsBody, readEmbeddingsRequest } from './embeddings-wire.ts';
import { Exchange, streamEndings, type TimedFrame } from './exchange.ts';
import { type FaultKind, FaultPlanner, faultKinds, type RequestPlan } from './fault-plan.ts';
import { createGeminiChatWire } from './gemini-wire.ts';
import { createOpenAiChatWire, modelListBody } from './openai-wire.ts';
import {
  type MockUpstreamOptions,
  type ResolvedMockUpstreamOptions,
  resolveMockUpstreamOptions,
} from './options.ts';

export type { MockUpstreamOptions } from './options.ts';

export interface MockUpstreamStats {
  /** Requests received since start, every route included. */
  requests: number;
  /** Requests whose response has not closed yet. */
  open: number;
  /** Requests the client gave up on (closed the connection) before the response was complete. */
  aborted: number;
  /** Open TCP connections (keep-alive sockets included). */
  connections: number;
}

export interface RecordedRequest {
  method: string;
  /** Path and query string, as received. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The raw body text ('' for bodiless requests). */
  bodyText: string;
}

export interface MockUpstream {
  /** Origin, without a path: `http://127.0.0.1:PORT` (OpenAI-style base URLs add `/v1`). */
  url: string;
  port: number;
  close(): Promise<void>;
  stats(): MockUpstreamStats;
  /** Headers of the last request to any route but /healthz; `{}` before the first. */
  lastRequestHeaders(): IncomingHttpHeaders;
  /** The last request to any route but /healthz, body included. */
  lastRequest(): RecordedRequest | undefined;
}

// Bodies beyond this are refused with a reset: nothing legitimate sends them to a mock.
const maximumBodyBytes = 32 * 1024 * 1024;
const healthBody = '{"status":"ok"}';
const geminiRoute = /^\/(v1beta|v1)\/models\/([^/:]+):(generateContent|streamGenerateContent)$/;

const errorFaults: Readonly<Partial<Record<FaultKind, ErrorKind>>> = {
  [faultKinds.serverError]: errorKinds.serverError,
  [faultKinds.rateLimited]: errorKinds.rateLimited,
  [faultKinds.badRequest]: errorKinds.badRequest,
};

interface ChatRoute {
  wire: ChatWire;
  /** Gemini names the model and the streaming variant in the URL. */
  pathModel?: string;
  stream?: boolean;
}

class MockUpstreamServer {
  readonly #options: ResolvedMockUpstreamOptions;
  readonly #planner: FaultPlanner;
  readonly #replies: ReplyWriter;
  readonly #openAi: ChatWire;
  readonly #anthropic: ChatWire;
  readonly #gemini: ChatWire;
  #requests = 0;
  #open = 0;
  #aborted = 0;
  #connections = 0;
  #closing = false;
  #lastRequest: RecordedRequest | undefined = undefined;

  constructor(options: ResolvedMockUpstreamOptions) {
    this.#options = options;
    this.#planner = new FaultPlanner(options);
    this.#replies = new ReplyWriter(options.echo, options.streamChunks);
    const identifiers = new IdentifierSource();
    this.#openAi = createOpenAiChatWire(identifiers);
    this.#anthropic = createAnthropicChatWire(identifiers);
    this.#gemini = createGeminiChatWire(identifiers);
  }

  stats(): MockUpstreamStats {
    return {
      requests: this.#requests,
      open: this.#open,
      aborted: this.#aborted,
      connections: this.#connections,
    };
  }

  lastRequest(): RecordedRequest | undefined {
    return this.#lastRequest;
  }

  beginClosing(): void {
    this.#closing = true;
  }

  trackConnection(socket: Socket): void {
    this.#connections++;
    socket.once('close', () => this.#connections--);
  }

  handle(request: IncomingMessage, exchange: Exchange): void {
    this.#requests++;
    this.#open++;
    exchange.response.once('close', () => {
      this.#open--;
      exchange.markClosed();
      if (!exchange.response.writableFinished && !exchange.endedByServer && !this.#closing) this.#aborted++;
    });
    const url = request.url ?? '/';
    const queryStart = url.indexOf('?');
    const path = queryStart === -1 ? url : url.slice(0, queryStart);
    const query = queryStart === -1 ? '' : url.slice(queryStart + 1);
    const method = request.method ?? 'GET';
    if (method === 'GET' && path === '/healthz') {
      exchange.sendBody(200, { 'content-type': 'application/json' }, healthBody);
      return;
    }
    const recorded: RecordedRequest = { method, url, headers: request.headers, bodyText: '' };
    this.#lastRequest = recorded;
    const route = method === 'POST' ? this.#chatRoute(path) : undefined;
    if (route !== undefined || (method === 'POST' && path === '/v1/embeddings')) {
      this.#readBody(request, exchange, (bodyText) => {
        recorded.bodyText = bodyText;
        if (route === undefined) this.#embeddings(request, exchange, bodyText);
        else this.#chat(request, exchange, route, bodyText, query);
      });
      return;
    }
    request.resume();
    if (method === 'GET' && path === '/v1/models') {
      exchange.sendBody(200, this.#jsonHeaders(this.#openAi, this.#openAi.newRequestId()), modelListBody);
      return;
    }
    this.#sendError(exchange, this.#openAi, errorKinds.notFound, `Invalid URL (${method} ${path})`);
  }

  #chatRoute(path: string): ChatRoute | undefined {
    if (path === '/v1/chat/completions') return { wire: this.#openAi };
    if (path === '/v1/messages') return { wire: this.#anthropic };
    const gemini = geminiRoute.exec(path);
    if (gemini === null) return undefined;
    return {
      wire: this.#gemini,
      pathModel: decodeURIComponent(gemini[2] ?? ''),
      stream: gemini[3] === 'streamGenerateContent',
    };
  }

  #readBody(request: IncomingMessage, exchange: Exchange, onBody: (text: string) => void): void {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maximumBodyBytes) exchange.reset();
      else chunks.push(chunk);
    });
    request.once('end', () => {
      if (exchange.closed) return;
      onBody(
        chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8'),
      );
    });
  }

  #jsonHeaders(wire: ChatWire, requestId: string): OutgoingHttpHeaders {
    const headers: OutgoingHttpHeaders = { 'content-type': 'application/json' };
    if (wire.requestIdHeader !== undefined) headers[wire.requestIdHeader] = requestId;
    return headers;
  }

  #sendError(
    exchange: Exchange,
    wire: ChatWire,
    kind: ErrorKind,
    message = wire.defaultErrorMessage(kind),
    param?: string,
  ): void {
    const requestId = wire.newRequestId();
    const headers = this.#jsonHeaders(wire, requestId);
    if (kind === errorKinds.rateLimited) headers['retry-after'] = String(this.#options.retryAfterSeconds);
    exchange.sendBody(errorStatus[kind], headers, wire.errorBody(kind, message, requestId, param));
  }

  /** Parses the body and the scripting headers; answers 400 itself and returns undefined on a problem. */
  #parse(exchange: Exchange, wire: ChatWire, bodyText: string): unknown {
    try {
      return JSON.parse(bodyText);
    } catch {
      this.#sendError(exchange, wire, errorKinds.badRequest, 'The request body is not valid JSON.');
      return undefined;
    }
  }

  #plan(
    request: IncomingMessage,
    exchange: Exchange,
    wire: ChatWire,
    stream: boolean,
  ): RequestPlan | undefined {
    const outcome = this.#planner.plan(request.headers, stream);
    if (outcome.problem === undefined) return outcome.plan;
    this.#sendError(exchange, wire, errorKinds.badRequest, outcome.problem);
    return undefined;
  }

  /** Applies a fault that needs no successful body; returns false when the request should succeed. */
  #applyFault(exchange: Exchange, wire: ChatWire, plan: RequestPlan): boolean {
    const failure = errorFaults[plan.fault];
    if (failure !== undefined) {
      exchange.after(plan.latencyMs, () => this.#sendError(exchange, wire, failure));
      return true;
    }
    if (plan.fault === faultKinds.reset) {
      exchange.after(plan.latencyMs, () => exchange.reset());
      return true;
    }
    // Never answer: the response stays open until the client (or close()) gives up.
    return plan.fault === faultKinds.timeout;
  }

  /** A unary success; the mid-stream faults become a truncated body and a reset. */
  #sendUnary(exchange: Exchange, wire: ChatWire, plan: RequestPlan, body: string): void {
    const headers = this.#jsonHeaders(wire, wire.newRequestId());
    if (plan.fault === faultKinds.midStreamError || plan.fault === faultKinds.midStreamReset) {
      headers['content-length'] = Buffer.byteLength(body);
      const truncated = body.slice(0, Math.floor(body.length / 2));
      exchange.play(200, headers, [{ delayMs: plan.latencyMs, text: truncated }], streamEndings.reset);
      return;
    }
    exchange.after(plan.latencyMs, () => exchange.sendBody(200, headers, body));
  }

  #chat(
    request: IncomingMessage,
    exchange: Exchange,
    route: ChatRoute,
    bodyText: string,
    query: string,
  ): void {
    const wire = route.wire;
    const body = this.#parse(exchange, wire, bodyText);
    if (body === undefined) return;
    const reading = wire.read(body, route.pathModel);
    if (isRequestProblem(reading)) {
      this.#sendError(exchange, wire, errorKinds.badRequest, reading.problem, reading.param);
      return;
    }
    const stream = route.stream ?? reading.stream;
    const plan = this.#plan(request, exchange, wire, stream);
    if (plan === undefined || this.#applyFault(exchange, wire, plan)) return;
    const turn: ChatTurn = {
      modelLiteral: JSON.stringify(reading.model),
      responseId: wire.newResponseId(),
      created: Math.floor(Date.now() / 1000),
      inputTokens: countTokens(reading.tally.characters),
      outputTokens: this.#options.outputTokens,
      includeUsage: reading.includeUsage,
      reply: this.#replies.reply(reading.tally.lastUserText),
    };
    if (stream) this.#stream(exchange, wire, plan, turn, query);
    else this.#sendUnary(exchange, wire, plan, wire.unaryBody(turn));
  }

  #stream(exchange: Exchange, wire: ChatWire, plan: RequestPlan, turn: ChatTurn, query: string): void {
    const streamFrames = wire.streamFrames(turn, query);
    const pieces = turn.reply.pieceLiterals;
    const failing = plan.fault === faultKinds.midStreamError || plan.fault === faultKinds.midStreamReset;
    // A failing stream stops halfway, but always after at least one content chunk.
    const sentPieces = failing ? Math.max(1, Math.floor(pieces.length / 2)) : pieces.length;
    const frames: TimedFrame[] = [{ delayMs: plan.latencyMs, text: streamFrames.preamble }];
    for (let index = 0; index < sentPieces; index++) {
      const delayMs =
        index === 0 ? Math.max(0, plan.timeToFirstTokenMs - plan.latencyMs) : plan.chunkIntervalMs;
      const last = !failing && index === pieces.length - 1;
      frames.push({ delayMs, text: streamFrames.content(pieces[index] ?? '""', index, last) });
    }
    if (!failing) frames.push({ delayMs: 0, text: streamFrames.epilogue });
    else if (plan.fault === faultKinds.midStreamError) {
      frames.push({ delayMs: plan.chunkIntervalMs, text: streamFrames.error });
    }
    const headers: OutgoingHttpHeaders = {
      'content-type': streamFrames.contentType,
      'cache-control': 'no-cache',
    };
    if (wire.requestIdHeader !== undefined) headers[wire.requestIdHeader] = wire.newRequestId();
    const ending = plan.fault === faultKinds.midStreamReset ? streamEndings.reset : streamEndings.end;
    exchange.play(200, headers, frames, ending);
  }

  #embeddings(request: IncomingMessage, exchange: Exchange, bodyText: string): void {
    const wire = this.#openAi;
    const body = this.#parse(exchange, wire, bodyText);
    if (body === undefined) return;
    const reading = readEmbeddingsRequest(body);
    if (isRequestProblem(reading)) {
      this.#sendError(exchange, wire, errorKinds.badRequest, reading.problem, reading.param);
      return;
    }
    const plan = this.#plan(request, exchange, wire, false);
    if (plan === undefined || this.#applyFault(exchange, wire, plan)) return;
    this.#sendUnary(exchange, wire, plan, embeddingsBody(reading));
  }
}

export async function startMockUpstream(options?: MockUpstreamOptions): Promise<MockUpstream> {
  const resolved = resolveMockUpstreamOptions(options);
  const mock = new MockUpstreamServer(resolved);
  const server = createServer((request, response) => mock.handle(request, new Exchange(response)));
  // Longer than any client pool's idle timeout (undici: 4 s), so the client always closes first
  // and never sends a request onto a socket the server is closing.
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket: Socket) => mock.trackConnection(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // The gateway's own backlog (http/listen-backlog.ts): a burst of the gateway's new upstream
    // connections is queued, never dropped and retried a second later.
    server.listen({ host: resolved.host, port: resolved.port, backlog: defaultListenBacklog }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostInUrl = resolved.host.includes(':') ? `[${resolved.host}]` : resolved.host;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${hostInUrl}:${port}`,
    port,
    stats: () => mock.stats(),
    lastRequestHeaders: () => mock.lastRequest()?.headers ?? {},
    lastRequest: () => mock.lastRequest(),
    close: () => {
      closed ??= new Promise<void>((resolve, reject) => {
        mock.beginClosing();
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        // Hung (timeout-scenario) and idle keep-alive sockets would otherwise hold close() forever.
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
