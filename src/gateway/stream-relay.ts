/**
 * Relays an upstream SSE stream to the client as a small state machine:
 * streaming → completed | client_aborted | upstream_error.
 * Every upstream event is parsed by the family's adapter (for usage and failures) whether it
 * is forwarded as-is (native endpoints) or translated (the unified endpoint). A failure in
 * the middle of a stream reaches the client as an error event, never as a normal end.
 */
import type { ServerResponse } from 'node:http';
import { spanAttributes, spanNames } from '../observability/catalog.ts';
import { markSpanFailed, type Span, startChildSpan } from '../observability/spans.ts';
import { type OpenAIChunkEncoder, StreamAccumulator } from '../providers/openai-chunk-encoder.ts';
import { encodeSseEvent, SseDecoder } from '../providers/sse.ts';
import type { ProviderAdapter, SseEvent, StreamDelta } from '../providers/types.ts';
import type { UpstreamResponse } from '../upstream/upstream-client.ts';
import type { RequestContext, StreamOutcome } from './request-context.ts';

export type StreamOutput =
  /** Forward the upstream events unchanged (same family as the endpoint). */
  | { kind: 'native'; format: 'openai' | 'anthropic'; dropUsageOnlyChunks: boolean }
  /** Translate to OpenAI chat.completion.chunk events (the unified endpoint). */
  | { kind: 'unified'; encoder: OpenAIChunkEncoder };

export interface StreamRelayResult {
  outcome: StreamOutcome;
  accumulator: StreamAccumulator;
  errorMessage: string | undefined;
}

const streamSpanAttributes = { [spanAttributes.stream]: true };

const sseHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
};

export async function relayStream(
  context: RequestContext,
  response: ServerResponse,
  upstream: UpstreamResponse,
  adapter: ProviderAdapter,
  output: StreamOutput,
  parentSpan?: Span,
): Promise<StreamRelayResult> {
  const span = startChildSpan(parentSpan, spanNames.providerStream, streamSpanAttributes);
  try {
    const result = await relay(context, response, upstream, adapter, output, span);
    span.setAttribute(spanAttributes.decision, result.outcome);
    if (result.outcome === 'upstream_error') markSpanFailed(span, undefined, 'stream_error');
    return result;
  } finally {
    span.end();
  }
}

async function relay(
  context: RequestContext,
  response: ServerResponse,
  upstream: UpstreamResponse,
  adapter: ProviderAdapter,
  output: StreamOutput,
  span: Span,
): Promise<StreamRelayResult> {
  response.writeHead(200, sseHeaders);
  const decoder = new SseDecoder();
  const parser = adapter.createStreamParser();
  const accumulator = new StreamAccumulator({ keepContent: false });
  let ended = false;
  let finished = false;
  let errorMessage: string | undefined;
  let errorForwarded = false;

  // Each upstream chunk is handled in the socket read that brought it (`forEachChunk`): no
  // promise and no microtask per chunk. Writes are synchronous; a full socket buffer (`write`
  // returning false) pauses the upstream body until the client's socket drains.
  let pushedBack = false;
  const write = (text: string): void => {
    if (!response.write(text)) pushedBack = true;
  };
  const handle = (event: SseEvent): void => {
    const deltas = parser.parse(event);
    for (const delta of deltas) {
      accumulator.add(delta);
      if (delta.type === 'error') errorMessage = delta.message || 'The upstream stream failed.';
      else if (delta.type === 'done') ended = true;
      else if (delta.type === 'finish') finished = true;
      else if (
        (delta.type === 'text' || delta.type === 'tool_call') &&
        context.outcome.timeToFirstTokenMs === undefined
      ) {
        context.outcome.timeToFirstTokenMs = performance.now() - context.startedAt;
        span.addEvent('first_chunk');
      }
    }
    if (output.kind === 'native') {
      if (!(output.dropUsageOnlyChunks && isUsageOnly(deltas)))
        write(encodeSseEvent(output.format === 'anthropic' ? event : { data: event.data }));
      errorForwarded = errorMessage !== undefined;
    } else {
      for (const delta of deltas) {
        if (delta.type !== 'error' && delta.type !== 'done' && delta.type !== 'usage') {
          const text = output.encoder.encode(delta);
          if (text.length > 0) write(text);
        }
      }
    }
  };

  const resume = (): void => upstream.body.resume();
  const onChunk = (chunk: Buffer): boolean => {
    for (const event of decoder.push(chunk)) {
      handle(event);
      if (errorMessage !== undefined) {
        // Nothing after an error event is relayed: the call stops here (its promise rejects).
        upstream.body.destroy();
        return false;
      }
    }
    if (!pushedBack) return true;
    pushedBack = false;
    response.once('drain', resume);
    return false;
  };

  try {
    await upstream.body.forEachChunk(onChunk);
    if (errorMessage === undefined) for (const event of decoder.end()) handle(event);
  } catch {
    // A client that left aborts the call through its signal: not an upstream failure.
    if (errorMessage === undefined && !context.signal.aborted)
      errorMessage = 'The upstream stream was interrupted.';
  }
  context.outcome.upstreamEndedAt = performance.now();
  if (errorMessage !== undefined) upstream.body.destroy();

  if (context.signal.aborted || response.destroyed) {
    return { outcome: 'client_aborted', accumulator, errorMessage };
  }
  // Gemini streams carry no end marker: a finish reason followed by the end of the body is the end.
  const complete = errorMessage === undefined && (ended || (adapter.family === 'gemini' && finished));
  if (!complete) {
    errorMessage ??= 'The upstream stream ended before it was complete.';
    // A native upstream error event was already forwarded in the client's own format.
    response.end(errorForwarded ? undefined : errorEvent(output, errorMessage));
    return { outcome: 'upstream_error', accumulator, errorMessage };
  }
  if (output.kind === 'unified') {
    const usage = accumulator.result().usage;
    response.end(output.encoder.finish(usage));
  } else {
    response.end();
  }
  return { outcome: 'completed', accumulator, errorMessage };
}

function isUsageOnly(deltas: readonly StreamDelta[]): boolean {
  return deltas.length > 0 && deltas.every((delta) => delta.type === 'usage');
}

/** The error event in the client's format: OpenAI-style clients read `{"error":...}` data. */
function errorEvent(output: StreamOutput, message: string): string {
  if (output.kind === 'native' && output.format === 'anthropic') {
    return encodeSseEvent({
      event: 'error',
      data: JSON.stringify({ type: 'error', error: { type: 'api_error', message } }),
    });
  }
  return encodeSseEvent({ data: JSON.stringify({ error: { code: 'upstream_error', message } }) });
}
