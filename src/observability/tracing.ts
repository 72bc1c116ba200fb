/**
 * OpenTelemetry trace SDK wiring. Only the composition root calls this: domain code uses
 * `@opentelemetry/api` (see spans.ts). Spans are exported by a bounded batch processor, so a
 * collector that is down costs a failed background export (counted as the `trace_export`
 * async pool), never a request's time.
 */
import { trace } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { MetricsRecorder } from './metrics.ts';
import type { ObservabilitySettings } from './observability-settings.ts';
import { refreshTracer } from './spans.ts';
import { ParentBasedRatioSampler } from './trace-sampler.ts';

export const traceExportPool = 'trace_export';

/**
 * Spans per export. An export serialises its whole batch to OTLP JSON in one synchronous call on
 * the event loop (about 4 µs a span here), so the batch size is the longest the traces stop
 * every request in flight: 512 spans held it 1.7-2.4 ms at the median and up to 10 ms, 128 hold
 * it 0.35-0.5 ms, for the same CPU in all (docs/performance.md, stop 16). The processor exports
 * at once when this many are waiting, else every `scheduledDelayMillis`. It sends one export at
 * a time, so it carries at most a batch per round trip to the Collector: beside the gateway, as
 * the contract places it (3.4 ms an export under load in the benchmark), about 38,000 spans a
 * second; a Collector 30 ms away would take about 4,000, and past the queue spans are dropped.
 */
const exportBatchSpans = 128;

export interface Tracing {
  shutdown(): Promise<void>;
  forceFlush(): Promise<void>;
}

/**
 * The exporter package is imported only when it is used: a gateway with export off loads no
 * exporter, one exporting over HTTP no gRPC stack (4-6 MiB less resident memory at start).
 */
export async function startTracing(
  settings: ObservabilitySettings,
  metrics: MetricsRecorder,
): Promise<Tracing> {
  const resource = resourceFromAttributes(settings.resource);
  const exporting = settings.tracesExporter !== 'none';
  // With export off, spans still get real trace ids (for logs and usage records) but record nothing.
  // Decides as the SDK's ParentBasedSampler(TraceIdRatioBasedSampler) does (trace-sampler.ts).
  const sampler = exporting ? new ParentBasedRatioSampler(settings.sampleRate) : new AlwaysOffSampler();
  const spanProcessors = [];
  if (exporting) {
    const exporter =
      settings.tracesExporter === 'otlpgrpc'
        ? new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter({
            url: grpcUrl(settings.endpoint),
            timeoutMillis: 5_000,
          })
        : new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter({
            url: `${settings.endpoint}/v1/traces`,
            timeoutMillis: 5_000,
          });
    spanProcessors.push(
      new BatchSpanProcessor({
        exporter: new CountingSpanExporter(exporter, metrics),
        maxQueueSize: 4_096,
        maxExportBatchSize: exportBatchSpans,
        scheduledDelayMillis: 1_000,
        exportTimeoutMillis: 5_000,
      }),
    );
  }
  const provider = new TracerProvider({ resource, sampler, spanProcessors });
  trace.disable();
  trace.setGlobalTracerProvider(provider);
  refreshTracer();
  return {
    shutdown: async () => {
      await provider.shutdown().catch(() => {});
      trace.disable();
      refreshTracer();
    },
    forceFlush: () => provider.forceFlush(),
  };
}

/** The gRPC exporter takes host:port; an HTTP-style endpoint on 4318 means the collector's 4317. */
function grpcUrl(endpoint: string): string {
  const url = new URL(endpoint);
  if (url.port === '4318') url.port = '4317';
  return url.origin;
}

/** Counts span exports by outcome as the `trace_export` async pool, so export failures show in metrics. */
class CountingSpanExporter implements SpanExporter {
  readonly #inner: SpanExporter;
  readonly #metrics: MetricsRecorder;
  #pending = 0;

  constructor(inner: SpanExporter, metrics: MetricsRecorder) {
    this.#inner = inner;
    this.#metrics = metrics;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    const started = performance.now();
    this.#pending += spans.length;
    this.#metrics.set('asyncQueueDepth', this.#pending, { async_pool_name: traceExportPool });
    this.#inner.export(spans, (result) => {
      this.#pending -= spans.length;
      this.#metrics.set('asyncQueueDepth', this.#pending, { async_pool_name: traceExportPool });
      const outcome = result.code === ExportResultCode.SUCCESS ? 'success' : 'failed';
      this.#metrics.increment('asyncTasksTotal', { async_pool_name: traceExportPool, outcome });
      this.#metrics.observe('asyncTaskDuration', (performance.now() - started) / 1000, {
        async_pool_name: traceExportPool,
      });
      resultCallback(result);
    });
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }
}
