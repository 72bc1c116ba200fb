/**
 * OpenTelemetry trace SDK wiring. Only the composition root calls this: domain code uses
 * `@opentelemetry/api` (see spans.ts). Spans are exported by a bounded batch processor, so a
 * collector that is down costs a failed background export, never a request's time. The
 * `trace_export` async pool accounts for every sampled span: exported (`success`), refused or
 * lost with its export (`failed`), or dropped because the queue was full (`dropped`).
 */
import {
  createNoopMeter,
  type Meter,
  type MeterProvider,
  type ObservableCallback,
  trace,
} from '@opentelemetry/api';
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
 * it 0.35-0.5 ms, for the same CPU in all (docs/performance-history.md, stop 16). The processor exports
 * at once when this many are waiting, else every `scheduledDelayMillis`. It sends one export at
 * a time, so it carries at most a batch per round trip to the Collector: beside the gateway, as
 * the contract places it (3.4 ms an export under load in the benchmark), about 38,000 spans a
 * second; a Collector 30 ms away would take about 4,000, and past the queue spans are dropped
 * (counted as `outcome="dropped"`).
 */
const exportBatchSpans = 128;
/** Spans that wait for their export; past it, a span is dropped (and counted). */
const queueSpans = 4_096;
/**
 * Exports the exporter takes at once. A flush (on shutdown) sends the whole queue at once, a
 * batch per export; past its limit (30 by default) the exporter refuses an export, and the spans
 * in it would be lost.
 */
const concurrentExports = Math.ceil(queueSpans / exportBatchSpans) + 1;

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
            concurrencyLimit: concurrentExports,
          })
        : new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter({
            url: `${settings.endpoint}/v1/traces`,
            timeoutMillis: 5_000,
            concurrencyLimit: concurrentExports,
          });
    const account = new ProcessorAccount(metrics);
    spanProcessors.push(
      new BatchSpanProcessor({
        exporter: new CountingSpanExporter(exporter, metrics, account),
        selfObsMeterProvider: account,
        maxQueueSize: queueSpans,
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

const poolLabels = { async_pool_name: traceExportPool } as const;

/**
 * The batch processor's own account of its queue, which the SDK gives only to a meter
 * (`selfObsMeterProvider`: OpenTelemetry's SDK self-observability conventions,
 * `otel.sdk.processor.span.processed` with `error.type` `queue_full` for a span dropped because
 * the queue was full, and the queue's size as an observable). This meter takes those two into
 * the gateway's metrics; everything else the SDK asks of it is a no-op.
 */
class ProcessorAccount implements MeterProvider {
  readonly #metrics: MetricsRecorder;
  readonly #meter: Meter;
  #queueSize: ObservableCallback | undefined;

  constructor(metrics: MetricsRecorder) {
    this.#metrics = metrics;
    const noop = createNoopMeter();
    const meter: Meter = Object.create(noop);
    meter.createCounter = (name, options) => {
      if (name !== 'otel.sdk.processor.span.processed') return noop.createCounter(name, options);
      return {
        add: (count, attributes) => {
          if (attributes?.['error.type'] === 'queue_full')
            this.#metrics.increment('asyncTasksTotal', { ...poolLabels, outcome: 'dropped' }, count);
        },
      };
    };
    meter.createObservableUpDownCounter = (name, options) => {
      const observable = noop.createObservableUpDownCounter(name, options);
      if (name !== 'otel.sdk.processor.span.queue.size') return observable;
      return {
        addCallback: (callback) => {
          this.#queueSize = callback;
        },
        removeCallback: () => {
          this.#queueSize = undefined;
        },
      };
    };
    this.#meter = meter;
  }

  getMeter(): Meter {
    return this.#meter;
  }

  /** Spans waiting in the processor's queue now. */
  queued(): number {
    let size = 0;
    void this.#queueSize?.({
      observe: (value) => {
        size = value;
      },
    });
    return size;
  }
}

/**
 * Accounts for span exports as the `trace_export` async pool, one task per span: spans
 * exported or lost by outcome, the queue's depth (waiting and in an export) and each export's
 * round trip.
 */
class CountingSpanExporter implements SpanExporter {
  readonly #inner: SpanExporter;
  readonly #metrics: MetricsRecorder;
  readonly #account: ProcessorAccount;
  #pending = 0;

  constructor(inner: SpanExporter, metrics: MetricsRecorder, account: ProcessorAccount) {
    this.#inner = inner;
    this.#metrics = metrics;
    this.#account = account;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    const started = performance.now();
    this.#pending += spans.length;
    this.#recordDepth();
    this.#inner.export(spans, (result) => {
      this.#pending -= spans.length;
      this.#recordDepth();
      const outcome = result.code === ExportResultCode.SUCCESS ? 'success' : 'failed';
      this.#metrics.increment('asyncTasksTotal', { ...poolLabels, outcome }, spans.length);
      this.#metrics.observe('asyncTaskDuration', (performance.now() - started) / 1000, poolLabels);
      resultCallback(result);
    });
  }

  /** Spans in an export and waiting in the processor's queue. */
  #recordDepth(): void {
    this.#metrics.set('asyncQueueDepth', this.#pending + this.#account.queued(), poolLabels);
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }
}
