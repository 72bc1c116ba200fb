/**
 * The MetricsRecorder behind `GET /metrics`: prom-client instruments registered from the
 * catalog (and only from it). Chosen over the OpenTelemetry SDK's Prometheus reader by
 * measurement on the request path (`bench/metrics-recorder.ts`, docs/observability.md).
 * Children per label set are cached so recording costs one map lookup, not a label hash.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import {
  type MetricDefinition,
  type MetricKey,
  type MetricLabel,
  metricCatalog,
  tenantLabels,
} from './catalog.ts';
import type {
  CounterKey,
  GaugeKey,
  HistogramKey,
  Labels,
  MetricsRecorder,
  UpDownCounterKey,
} from './metrics.ts';
import type { TenantLabelMode } from './observability-settings.ts';

interface Child {
  inc?(value?: number): void;
  dec?(value?: number): void;
  set?(value: number): void;
  observe?(value: number): void;
}

interface Instrument {
  labelNames: readonly MetricLabel[];
  metric: Counter<string> | Gauge<string> | Histogram<string>;
  children: Map<string, Child>;
  unlabelled: Child | undefined;
}

/** Label names a metric carries under the tenant-label setting (contract, "decision"). */
export function effectiveLabels(definition: MetricDefinition, mode: TenantLabelMode): readonly MetricLabel[] {
  const dropped = new Set<MetricLabel>(
    mode === 'none' ? tenantLabels : mode === 'organization' ? ['api_key_id'] : [],
  );
  return definition.labels.filter((label) => !dropped.has(label));
}

export class PrometheusMetricsRecorder implements MetricsRecorder {
  readonly #instruments = new Map<MetricKey, Instrument>();

  constructor(registry: Registry, tenantLabelMode: TenantLabelMode) {
    for (const [key, definition] of Object.entries(metricCatalog) as Array<[MetricKey, MetricDefinition]>) {
      const labelNames = effectiveLabels(definition, tenantLabelMode);
      const configuration = {
        name: definition.name,
        help: definition.description,
        labelNames: [...labelNames],
        registers: [registry],
      };
      const metric =
        definition.type === 'counter'
          ? new Counter(configuration)
          : definition.type === 'histogram'
            ? new Histogram({ ...configuration, buckets: [...(definition.buckets ?? [])] })
            : new Gauge(configuration);
      this.#instruments.set(key, {
        labelNames,
        metric,
        children: new Map(),
        unlabelled: labelNames.length === 0 ? (metric as unknown as Child) : undefined,
      });
    }
  }

  increment<Key extends CounterKey>(metric: Key, labels?: Labels<Key>, value = 1): void {
    this.#child(metric, labels).inc!(value);
  }

  observe<Key extends HistogramKey>(metric: Key, value: number, labels?: Labels<Key>): void {
    this.#child(metric, labels).observe!(value);
  }

  set<Key extends GaugeKey>(metric: Key, value: number, labels?: Labels<Key>): void {
    this.#child(metric, labels).set!(value);
  }

  adjust<Key extends UpDownCounterKey>(metric: Key, delta: number, labels?: Labels<Key>): void {
    this.#child(metric, labels).inc!(delta);
  }

  #child(key: MetricKey, labels: Record<string, string | undefined> | undefined): Child {
    const instrument = this.#instruments.get(key)!;
    if (instrument.unlabelled !== undefined) return instrument.unlabelled;
    const values = instrument.labelNames.map((name) => labels?.[name] ?? '');
    const cacheKey = values.join('\u0001');
    let child = instrument.children.get(cacheKey);
    if (child === undefined) {
      child = (instrument.metric as Counter<string>).labels(...values) as Child;
      instrument.children.set(cacheKey, child);
    }
    return child;
  }
}

/** Sends every recording to several recorders (the /metrics registry and the OTLP push). */
export class FanOutMetricsRecorder implements MetricsRecorder {
  readonly #recorders: readonly MetricsRecorder[];
  constructor(recorders: readonly MetricsRecorder[]) {
    this.#recorders = recorders;
  }
  increment<Key extends CounterKey>(metric: Key, labels?: Labels<Key>, value?: number): void {
    for (const recorder of this.#recorders) recorder.increment(metric, labels, value);
  }
  observe<Key extends HistogramKey>(metric: Key, value: number, labels?: Labels<Key>): void {
    for (const recorder of this.#recorders) recorder.observe(metric, value, labels);
  }
  set<Key extends GaugeKey>(metric: Key, value: number, labels?: Labels<Key>): void {
    for (const recorder of this.#recorders) recorder.set(metric, value, labels);
  }
  adjust<Key extends UpDownCounterKey>(metric: Key, delta: number, labels?: Labels<Key>): void {
    for (const recorder of this.#recorders) recorder.adjust(metric, delta, labels);
  }
}
