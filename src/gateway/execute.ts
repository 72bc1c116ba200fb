/**
 * Execution of a planned call: the provider request, the response to the client (unary or
 * streamed), and the accounting of tokens and cost on the context.
 */
import type { ServerResponse } from 'node:http';
import type { ResolvedModel } from '../config/load.ts';
import { GatewayError } from '../errors.ts';
import { sendJson, sendJsonText } from '../http/respond.ts';
import { spanAttributes, spanNames } from '../observability/catalog.ts';
import { inSpan, markSpanFailed, type Span } from '../observability/spans.ts';
import { OpenAIChunkEncoder, toUnifiedResponse } from '../providers/openai-chunk-encoder.ts';
import type { ProviderAdapter } from '../providers/types.ts';
import { UpstreamFailure } from '../upstream/upstream-client.ts';
import { type DecodedNative, type DecodedUnified, releaseRequestBody } from './decode.ts';
import { account, type GatewayServices } from './lifecycle.ts';
import type { ProviderAnswer } from './provider-call.ts';
import type { RequestContext } from './request-context.ts';
import { relayStream } from './stream-relay.ts';

/** How a native endpoint speaks to its own provider family. */
export interface NativeWire {
  /** Path after the provider base URL (`/chat/completions`, `/v1/messages`, `/embeddings`). */
  path: string;
  format: 'openai' | 'anthropic';
  kind: 'chat' | 'embeddings';
  forwardHeaders?: Record<string, string>;
}

export function executeNative(
  services: GatewayServices,
  context: RequestContext,
  response: ServerResponse,
  decoded: DecodedNative,
  candidates: readonly ResolvedModel[],
  wire: NativeWire,
): Promise<void> {
  return inSpan(context.span, spanNames.providerRoute, (routeSpan) =>
    executeNativeRoute(services, context, response, decoded, candidates, wire, routeSpan),
  );
}

async function executeNativeRoute(
  services: GatewayServices,
  context: RequestContext,
  response: ServerResponse,
  decoded: DecodedNative,
  candidates: readonly ResolvedModel[],
  wire: NativeWire,
  routeSpan: Span,
): Promise<void> {
  context.outcome.stream = decoded.stream;
  const answer = await send(
    services,
    context,
    {
      parentSpan: routeSpan,
      operation: wire.kind,
      stream: decoded.stream,
      forwardHeaders: wire.forwardHeaders,
      build: (model) => {
        const body: Record<string, unknown> = { ...decoded.body, model: model.upstreamModel };
        // OpenAI reports stream usage only on request (API reference, `stream_options`); the
        // gateway always asks, and drops that chunk again when the client did not.
        if (decoded.stream && wire.format === 'openai')
          body.stream_options = {
            ...(decoded.body.stream_options as object | undefined),
            include_usage: true,
          };
        return { path: wire.path, headers: {}, body: JSON.stringify(body) };
      },
    },
    candidates,
  );
  releaseRequestBody(decoded);

  if (decoded.stream) {
    const result = await relayStream(
      context,
      response,
      answer.response,
      answer.adapter,
      {
        kind: 'native',
        format: wire.format,
        dropUsageOnlyChunks: wire.format === 'openai' && !decoded.includeUsage,
      },
      answer.span,
    );
    finishStream(context, answer, result);
    return;
  }
  try {
    await respondUnaryNative(services, context, response, answer, wire);
  } finally {
    finishAttemptSpan(answer.span, context, undefined);
  }
}

/** Reads, accounts and relays a unary answer; a promise that settles when the answer is sent. */
function respondUnaryNative(
  services: GatewayServices,
  context: RequestContext,
  response: ServerResponse,
  answer: ProviderAnswer,
  wire: NativeWire,
): Promise<void> {
  return readUpstreamBody(context, answer).then((bytes): Promise<void> | undefined => {
    const parsed = parseUpstreamJson(bytes);
    if (wire.kind === 'embeddings') {
      const result = answer.adapter.parseEmbeddingsResponse!(parsed);
      context.outcome.responseModel = result.responseModel;
      account(context, answer.model, result.usage, result.rawUsage);
    } else {
      const result = answer.adapter.parseChatResponse(parsed, answer.response.headers);
      context.outcome.responseModel = result.responseModel;
      context.outcome.providerRequestId = result.providerRequestId;
      account(context, answer.model, result.usage, result.rawUsage);
      const inspected = services.stages.safety.inspectResponse(context, parsed);
      if (inspected !== undefined) return inspected.then(() => sendUnaryNative(context, response, bytes));
    }
    sendUnaryNative(context, response, bytes);
    return undefined;
  });
}

function sendUnaryNative(context: RequestContext, response: ServerResponse, bytes: Buffer): void {
  context.outcome.status = 200;
  sendJsonText(response, 200, bytes);
}

export function executeUnified(
  services: GatewayServices,
  context: RequestContext,
  response: ServerResponse,
  decoded: DecodedUnified,
  candidates: readonly ResolvedModel[],
): Promise<void> {
  return inSpan(context.span, spanNames.providerRoute, (routeSpan) =>
    executeUnifiedRoute(services, context, response, decoded, candidates, routeSpan),
  );
}

async function executeUnifiedRoute(
  services: GatewayServices,
  context: RequestContext,
  response: ServerResponse,
  decoded: DecodedUnified,
  candidates: readonly ResolvedModel[],
  routeSpan: Span,
): Promise<void> {
  context.outcome.stream = decoded.stream;
  const answer = await send(
    services,
    context,
    {
      parentSpan: routeSpan,
      operation: 'chat',
      stream: decoded.stream,
      build: (model, adapter) =>
        adapter.buildChatRequest({ ...decoded.request, model: model.upstreamModel }, decoded.stream),
    },
    candidates,
  );
  releaseRequestBody(decoded);

  if (decoded.stream) {
    const encoder = new OpenAIChunkEncoder({
      id: `chatcmpl-${context.requestId}`,
      model: answer.model.name,
      created: Math.floor(Date.now() / 1000),
      includeUsage: decoded.includeUsage,
    });
    const result = await relayStream(
      context,
      response,
      answer.response,
      answer.adapter,
      {
        kind: 'unified',
        encoder,
      },
      answer.span,
    );
    finishStream(context, answer, result);
    return;
  }
  let stopReason: string | null | undefined;
  try {
    const parsed = parseUpstreamJson(await readUpstreamBody(context, answer));
    const result = answer.adapter.parseChatResponse(parsed, answer.response.headers);
    stopReason = result.stopReason;
    context.outcome.responseModel = result.responseModel;
    context.outcome.providerRequestId = result.providerRequestId;
    account(context, answer.model, result.usage, result.rawUsage);
    const inspected = services.stages.safety.inspectResponse(context, parsed);
    if (inspected !== undefined) await inspected;
    context.outcome.status = 200;
    sendJson(response, 200, toUnifiedResponse(answer.model.provider.name, answer.model.name, result));
  } finally {
    finishAttemptSpan(answer.span, context, stopReason);
  }
}

function send(
  services: GatewayServices,
  context: RequestContext,
  call: {
    parentSpan: Span;
    operation: 'chat' | 'embeddings';
    stream: boolean;
    forwardHeaders?: Record<string, string> | undefined;
    build: (
      model: ResolvedModel,
      adapter: ProviderAdapter,
    ) => { path: string; headers: Record<string, string>; body: string };
  },
  candidates: readonly ResolvedModel[],
): Promise<ProviderAnswer> {
  return services.provider.send(
    {
      context,
      parentSpan: call.parentSpan,
      operation: call.operation,
      stream: call.stream,
      ...(call.forwardHeaders === undefined ? {} : { forwardHeaders: call.forwardHeaders }),
      build: call.build,
    },
    candidates,
  );
}

function finishStream(
  context: RequestContext,
  answer: ProviderAnswer,
  result: Awaited<ReturnType<typeof relayStream>>,
): void {
  const summary = result.accumulator.result();
  context.outcome.streamOutcome = result.outcome;
  context.outcome.responseModel = summary.responseModel;
  context.outcome.providerRequestId =
    summary.providerRequestId ?? headerValue(answer.response.headers, 'x-request-id');
  account(context, answer.model, summary.usage, summary.rawUsage);
  context.outcome.status = 200;
  if (result.outcome === 'upstream_error') {
    context.outcome.errorCode = 'upstream_error';
    markSpanFailed(answer.span, undefined, 'stream_error');
  }
  finishAttemptSpan(answer.span, context, summary.stopReason);
}

/** GenAI attributes of the attempt that answered (counts and names only, never content), then its end. */
function finishAttemptSpan(span: Span, context: RequestContext, stopReason: string | null | undefined): void {
  if (span.isRecording()) {
    const { outcome } = context;
    if (outcome.responseModel !== undefined)
      span.setAttribute(spanAttributes.genAiResponseModel, outcome.responseModel);
    if (outcome.usage !== undefined) {
      span.setAttribute(spanAttributes.genAiUsageInputTokens, outcome.usage.input);
      span.setAttribute(spanAttributes.genAiUsageOutputTokens, outcome.usage.output);
    }
    if (stopReason) span.setAttribute(spanAttributes.genAiResponseFinishReasons, [stopReason]);
  }
  span.end();
}

/**
 * The whole upstream answer as the bytes received (one chunk is passed on without a copy): the
 * native endpoints relay exactly these bytes, so the answer is decoded once, for its usage,
 * and never encoded again.
 */
function readUpstreamBody(context: RequestContext, answer: ProviderAnswer): Promise<Buffer> {
  let whole: Promise<Buffer>;
  try {
    whole = answer.response.body.bytes();
  } catch (error) {
    return Promise.reject(upstreamBodyFailed(context, error));
  }
  return whole.then(
    (bytes) => {
      context.outcome.upstreamEndedAt = performance.now();
      return bytes;
    },
    (error: unknown) => {
      throw upstreamBodyFailed(context, error);
    },
  );
}

/** Why an upstream body could not be read, as the error the call fails with; the read is over. */
function upstreamBodyFailed(context: RequestContext, error: unknown): Error {
  context.outcome.upstreamEndedAt = performance.now();
  if (context.signal.aborted) return new UpstreamFailure('aborted', error);
  if (error instanceof UpstreamFailure) return error.toGatewayError();
  return new GatewayError('upstream_error', 'The upstream response was interrupted.', { cause: error });
}

function parseUpstreamJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new GatewayError('upstream_error', 'The upstream answered with malformed JSON.', { cause: error });
  }
}

function headerValue(
  headers: Record<string, string | string[] | undefined>,
  name: string,
): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
