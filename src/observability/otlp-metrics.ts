/**
 * OTLP metric push (`OBSERVABILITY_OTEL_METRICS_EXPORTER=otlphttp|otlpgrpc`): the same catalog
 * instruments under their OpenTelemetry names, exported periodically by the SDK's MeterProvider.
 * `/metrics` keeps answering either way; the contract asks operators to scrape one path only.
 */
import type { Attributes, Counter, Gauge, Histogram, UpDownCounter } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import { type MetricDefinition, type MetricKey, metricCatalog } from './catalog.ts';
import type {
  CounterKey,
  GaugeKey,
  HistogramKey,
  Labels,
  MetricsRecorder,
  UpDownCounterKey,
} from './metrics.ts';
import type { ObservabilitySettings } from './observability-settings.ts';
import { effectiveLabels } from './prometheus-metrics.ts';

type Instrument = Counter | Histogram | Gauge | UpDownCounter;

export class OtlpMetricsRecorder implements MetricsRecorder {
  readonly #provider: MeterProvider;
  readonly #instruments = new Map<MetricKey, { instrument: Instrument; labels: readonly string[] }>();

  /** Imports the exporter package the settings name (only that one: see `startTracing`). */
  static async create(settings: ObservabilitySettings): Promise<OtlpMetricsRecorder> {
    const exporter =
      settings.metricsExporter === 'otlpgrpc'
        ? new (await import('@opentelemetry/exporter-metrics-otlp-grpc')).OTLPMetricExporter({
            url: new URL(settings.endpoint).origin.replace(':4318', ':4317'),
          })
        : new (await import('@opentelemetry/exporter-metrics-otlp-http')).OTLPMetricExporter({
            url: `${settings.endpoint}/v1/metrics`,
          });
    return new OtlpMetricsRecorder(settings, exporter);
  }

  constructor(settings: ObservabilitySettings, exporter: PushMetricExporter) {
    this.#provider = new MeterProvider({
      resource: resourceFromAttributes(settings.resource),
      readers: [
        new PeriodicExportingMetricReader({
          exporter,
          exportIntervalMillis: settings.metricsExportIntervalMs,
        }),
      ],
    });
    const meter = this.#provider.getMeter('odock-server');
    for (const [key, definition] of Object.entries(metricCatalog) as Array<[MetricKey, MetricDefinition]>) {
      const options = { description: definition.description, unit: definition.unit };
      const instrument =
        definition.type === 'counter'
          ? meter.createCounter(definition.otelName, options)
          : definition.type === 'histogram'
            ? meter.createHistogram(definition.otelName, {
                ...options,
                advice: { explicitBucketBoundaries: [...(definition.buckets ?? [])] },
              })
            : definition.type === 'gauge'
              ? meter.createGauge(definition.otelName, options)
              : meter.createUpDownCounter(definition.otelName, options);
      this.#instruments.set(key, { instrument, labels: effectiveLabels(definition, settings.tenantLabels) });
    }
  }

  increment<Key extends CounterKey>(metric: Key, labels?: Labels<Key>, value = 1): void {
    const entry = this.#instruments.get(metric)!;
    (entry.instrument as Counter).add(value, this.#attributes(entry.labels, labels));
  }

  observe<Key extends HistogramKey>(metric: Key, value: number, labels?: Labels<Key>): void {
    const entry = this.#instruments.get(metric)!;
    (entry.instrument as Histogram).record(value, this.#attributes(entry.labels, labels));
  }

  set<Key extends GaugeKey>(metric: Key, value: number, labels?: Labels<Key>): void {
    const entry = this.#instruments.get(metric)!;
    (entry.instrument as Gauge).record(value, this.#attributes(entry.labels, labels));
  }

  adjust<Key extends UpDownCounterKey>(metric: Key, delta: number, labels?: Labels<Key>): void {
    const entry = this.#instruments.get(metric)!;
    (entry.instrument as UpDownCounter).add(delta, this.#attributes(entry.labels, labels));
  }

  shutdown(): Promise<void> {
    return this.#provider.shutdown();
  }

  #attributes(
    allowed: readonly string[],
    labels: Record<string, string | undefined> | undefined,
  ): Attributes {
    const attributes: Attributes = {};
    if (labels === undefined) return attributes;
    for (const name of allowed) if (labels[name] !== undefined) attributes[name] = labels[name];
    return attributes;
  }
}
