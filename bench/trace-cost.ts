/**
 * What one sampled trace costs the gateway's process, apart from everything else: traces shaped
 * like the gateway's (the root `http.request` span and its seven children, with the gateway's
 * attributes) made, ended and batched by the OpenTelemetry SDK, then serialised to OTLP JSON by
 * the serialiser the OTLP/HTTP exporter uses, and dropped (no network). Prints µs per trace for
 * the SDK alone and with the serialisation, over a few rounds (the first includes compilation).
 *
 *   node bench/trace-cost.ts [--traces 20000] [--rounds 4]
 */
import { ROOT_CONTEXT, type Span, SpanKind, trace } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { spanAttributes, spanNames } from '../src/observability/catalog.ts';
import { toolArgs } from './tool-args.ts';

const usage = `
node bench/trace-cost.ts [--traces 20000] [--rounds 4]
`;
const { values } = toolArgs(usage, {
  options: {
    traces: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '4' },
  },
});

function tracerFor(serialise: boolean) {
  let bytes = 0;
  const exporter: SpanExporter = {
    export(spans: ReadableSpan[], done) {
      if (serialise) bytes += JsonTraceSerializer.serializeRequest(spans)?.length ?? 0;
      done({ code: ExportResultCode.SUCCESS });
    },
    shutdown: async () => {},
  };
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      'service.name': 'odock-server',
      'service.version': '0.1.0',
      'service.instance.id': 'pid-1',
      'deployment.environment.name': 'production',
    }),
    sampler: new AlwaysOnSampler(),
    spanProcessors: [
      // As src/observability/tracing.ts configures it.
      new BatchSpanProcessor({
        exporter,
        maxQueueSize: 4_096,
        maxExportBatchSize: 512,
        scheduledDelayMillis: 1_000,
      }),
    ],
  });
  return { provider, tracer: provider.getTracer('odock-server'), bytes: () => bytes };
}

/** One unary chat completion's trace, as the gateway records it (spans.ts and its callers). */
function oneTrace(tracer: ReturnType<typeof tracerFor>['tracer']): void {
  const child = (
    parent: Span,
    name: string,
    attributes?: Record<string, string | number | boolean>,
    kind = SpanKind.INTERNAL,
  ) => tracer.startSpan(name, { attributes, kind }, trace.setSpan(ROOT_CONTEXT, parent));
  const root = tracer.startSpan(spanNames.httpRequest, { kind: SpanKind.SERVER }, ROOT_CONTEXT);
  root.setAttributes({
    [spanAttributes.requestId]: 'c8a2a904-237c-4e39-a73d-476fce7b2478',
    [spanAttributes.route]: '/v1/chat/completions',
    [spanAttributes.endpoint]: 'chat_completions',
    'http.request.method': 'POST',
  });
  const auth = child(root, spanNames.auth);
  child(auth, spanNames.cacheLookup, {
    [spanAttributes.module]: 'auth',
    [spanAttributes.cacheHit]: true,
  }).end();
  auth.end();
  const decode = child(root, spanNames.requestDecode);
  const resolve = child(decode, spanNames.routeResolve);
  resolve.setAttribute(spanAttributes.model, 'bench-0ms');
  resolve.end();
  decode.end();
  const route = child(root, spanNames.providerRoute);
  const attempt = child(
    route,
    spanNames.providerRequest,
    {
      [spanAttributes.provider]: 'mock-0ms',
      [spanAttributes.model]: 'bench-0ms',
      [spanAttributes.stream]: false,
      [spanAttributes.retryCount]: 0,
      [spanAttributes.genAiOperationName]: 'chat',
      [spanAttributes.genAiProviderName]: 'openai',
      [spanAttributes.genAiRequestModel]: 'mock-gpt',
    },
    SpanKind.CLIENT,
  );
  attempt.setAttribute('http.response.status_code', 200);
  attempt.setAttribute(spanAttributes.genAiResponseModel, 'mock-gpt');
  attempt.setAttribute(spanAttributes.genAiUsageInputTokens, 12);
  attempt.setAttribute(spanAttributes.genAiUsageOutputTokens, 9);
  attempt.setAttribute(spanAttributes.genAiResponseFinishReasons, ['stop']);
  attempt.end();
  route.end();
  root.setAttribute('http.response.status_code', 200);
  root.setAttribute(spanAttributes.stream, false);
  root.setAttribute(spanAttributes.organizationId, 'bench');
  root.setAttribute(spanAttributes.model, 'bench-0ms');
  root.setAttribute(spanAttributes.provider, 'mock-0ms');
  root.end();
}

const traces = Number(values.traces);
const rounds = Number(values.rounds);
for (const serialise of [false, true]) {
  const { provider, tracer, bytes } = tracerFor(serialise);
  const perTrace: string[] = [];
  for (let round = 0; round < rounds; round += 1) {
    const started = performance.now();
    for (let index = 0; index < traces; index += 1) {
      oneTrace(tracer);
      // Drained as the batch processor's timer would, without waiting for it.
      if (index % 500 === 499) await provider.forceFlush();
    }
    await provider.forceFlush();
    perTrace.push((((performance.now() - started) / traces) * 1000).toFixed(1));
  }
  await provider.shutdown();
  process.stdout.write(
    `${serialise ? 'SDK and OTLP JSON serialisation' : 'SDK only (spans made, ended, batched)'}: ` +
      `${perTrace.join(', ')} µs per trace of 8 spans${serialise ? `, ${(bytes() / traces / rounds).toFixed(0)} bytes of JSON per trace` : ''}\n`,
  );
}
