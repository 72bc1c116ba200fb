/**
 * The MetricsRecorder behind `GET /metrics`: prom-client instruments registered from the
 * catalog (and only from it). Chosen over the OpenTelemetry SDK's Prometheus reader by
 * measurement on the request path (`bench/metrics-recorder.ts`, docs/observability.md).
 *
 * Recording is the per-request cost, so it is kept to lookups and additions:
 * - the series of a label set is found through one Map level per label value (no key string
 *   is built, nothing is allocated once the series exists);
 * - the series then adds to prom-client's own stored value for that label set (the object its
 *   exposition reads) instead of going through `inc`/`observe`/`set`, which re-validate and
 *   re-hash the label object on every call. The first recording of a series, any value
 *   prom-client would refuse (it throws as before) and a metric reset by its registry go
 *   through prom-client's public API, so the exposition is exactly what prom-client alone
 *   would print (`prometheus-metrics.test.ts` compares the two).
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

/** Label names a metric carries under the tenant-label setting (contract, "decision"). */
export function effectiveLabels(definition: MetricDefinition, mode: TenantLabelMode): readonly MetricLabel[] {
  const dropped = new Set<MetricLabel>(
    mode === 'none' ? tenantLabels : mode === 'organization' ? ['api_key_id'] : [],
  );
  return definition.labels.filter((label) => !dropped.has(label));
}

type LabelValues = Record<string, string>;

/** What prom-client stores per label set (`hashMap[hash]`) and prints on a scrape. */
interface StoredValue {
  value: number;
  labels: LabelValues;
}
interface StoredHistogram {
  labels: LabelValues;
  bucketValues: Record<string, number>;
  sum: number;
  count: number;
}
/** The prom-client internals a series writes to: the per-label-set store and its sorted label names. */
interface Store<Entry> {
  hashMap: Record<string, Entry>;
  readonly sortedLabelNames: readonly string[];
}

/** One series of one metric: a recording is an addition to its stored value. */
abstract class Series<Entry extends { labels: LabelValues }> {
  protected readonly store: Store<Entry>;
  protected readonly labels: LabelValues;
  readonly #hash: string;
  /** false for a metric without labels, recorded as prom-client's `metric.inc(value)` form. */
  protected readonly labelled: boolean;
  #map: Record<string, Entry> | undefined;
  protected entry: Entry | undefined;

  constructor(metric: unknown, labels: LabelValues, labelled: boolean) {
    this.store = metric as Store<Entry>;
    this.labels = labels;
    this.labelled = labelled;
    // prom-client's key of a label set (util.js hashObject with the metric's sorted label names).
    let hash = '';
    for (const name of this.store.sortedLabelNames) hash += `${name}:${labels[name]},`;
    this.#hash = hash;
  }

  /** The stored value, while it is still the one prom-client prints (undefined after a reset). */
  protected current(): Entry | undefined {
    return this.store.hashMap === this.#map ? this.entry : undefined;
  }

  /** After prom-client recorded through its API: remember the value it stored for this label set. */
  protected attach(): void {
    const map = this.store.hashMap;
    // Another prom-client layout (an upgrade): keep recording through its public API only.
    const entry = typeof map === 'object' && map !== null ? map[this.#hash] : undefined;
    // A labelled value must be the one created for this series' own label object.
    if (entry !== undefined && (!this.labelled || entry.labels === this.labels)) {
      this.#map = map;
      this.entry = entry;
    } else {
      this.#map = undefined;
      this.entry = undefined;
    }
  }
}

class CounterSeries extends Series<StoredValue> {
  readonly #metric: Counter<string>;
  constructor(metric: Counter<string>, labels: LabelValues, labelled: boolean) {
    super(metric, labels, labelled);
    this.#metric = metric;
  }
  inc(value: number): void {
    const entry = this.current();
    if (entry !== undefined && Number.isFinite(value) && value >= 0) {
      entry.value += value;
      return;
    }
    if (this.labelled) this.#metric.inc(this.labels, value);
    else this.#metric.inc(value);
    this.attach();
  }
}

class GaugeSeries extends Series<StoredValue> {
  readonly #metric: Gauge<string>;
  constructor(metric: Gauge<string>, labels: LabelValues, labelled: boolean) {
    super(metric, labels, labelled);
    this.#metric = metric;
  }
  inc(delta: number): void {
    const entry = this.current();
    if (entry !== undefined && typeof delta === 'number') {
      entry.value += delta;
      return;
    }
    if (this.labelled) this.#metric.inc(this.labels, delta);
    else this.#metric.inc(delta);
    this.attach();
  }
  set(value: number): void {
    const entry = this.current();
    if (entry !== undefined && typeof value === 'number') {
      entry.value = value;
      return;
    }
    if (this.labelled) this.#metric.set(this.labels, value);
    else this.#metric.set(value);
    this.attach();
  }
}

class HistogramSeries extends Series<StoredHistogram> {
  readonly #metric: Histogram<string>;
  readonly #bounds: readonly number[];
  /** The bucket keys of `bucketValues`, as prom-client writes them (`bucketValues[bound]`). */
  readonly #bucketKeys: readonly string[];
  constructor(metric: Histogram<string>, labels: LabelValues, labelled: boolean, bounds: readonly number[]) {
    super(metric, labels, labelled);
    this.#metric = metric;
    this.#bounds = bounds;
    this.#bucketKeys = bounds.map(String);
  }
  observe(value: number): void {
    const entry = this.current();
    if (entry !== undefined && Number.isFinite(value)) {
      const bounds = this.#bounds;
      for (let index = 0; index < bounds.length; index += 1) {
        if (value <= bounds[index]!) {
          entry.bucketValues[this.#bucketKeys[index]!]! += 1;
          break;
        }
      }
      entry.sum += value;
      entry.count += 1;
      return;
    }
    if (this.labelled) this.#metric.observe(this.labels, value);
    else this.#metric.observe(value);
    this.attach();
  }
}

type AnySeries = CounterSeries | GaugeSeries | HistogramSeries;

/** Series by label value, one Map level per label name (in the instrument's label order). */
type SeriesTree = Map<string, SeriesTree | AnySeries>;

interface Instrument {
  readonly labelNames: readonly MetricLabel[];
  /** Builds the series of a label set (label values in `labelNames` order). */
  readonly create: (labels: LabelValues) => AnySeries;
  readonly tree: SeriesTree;
  readonly unlabelled: AnySeries | undefined;
}

export class PrometheusMetricsRecorder implements MetricsRecorder {
  readonly #instruments = new Map<MetricKey, Instrument>();

  constructor(registry: Registry, tenantLabelMode: TenantLabelMode) {
    for (const [key, definition] of Object.entries(metricCatalog) as Array<[MetricKey, MetricDefinition]>) {
      const labelNames = effectiveLabels(definition, tenantLabelMode);
      const labelled = labelNames.length > 0;
      const configuration = {
        name: definition.name,
        help: definition.description,
        labelNames: [...labelNames],
        registers: [registry],
      };
      let create: (labels: LabelValues) => AnySeries;
      if (definition.type === 'counter') {
        const metric = new Counter(configuration);
        create = (labels) => new CounterSeries(metric, labels, labelled);
      } else if (definition.type === 'histogram') {
        const buckets = [...(definition.buckets ?? [])];
        const metric = new Histogram({ ...configuration, buckets });
        // prom-client's own (frozen) copy of the bounds, in the order it searches them.
        const bounds = (metric as unknown as { upperBounds: readonly number[] }).upperBounds;
        create = (labels) => new HistogramSeries(metric, labels, labelled, bounds);
      } else {
        const metric = new Gauge(configuration);
        create = (labels) => new GaugeSeries(metric, labels, labelled);
      }
      this.#instruments.set(key, {
        labelNames,
        create,
        tree: new Map(),
        unlabelled: labelled ? undefined : create({}),
      });
    }
  }

  increment<Key extends CounterKey>(metric: Key, labels?: Labels<Key>, value = 1): void {
    (this.#series(metric, labels) as CounterSeries).inc(value);
  }

  observe<Key extends HistogramKey>(metric: Key, value: number, labels?: Labels<Key>): void {
    (this.#series(metric, labels) as HistogramSeries).observe(value);
  }

  set<Key extends GaugeKey>(metric: Key, value: number, labels?: Labels<Key>): void {
    (this.#series(metric, labels) as GaugeSeries).set(value);
  }

  adjust<Key extends UpDownCounterKey>(metric: Key, delta: number, labels?: Labels<Key>): void {
    (this.#series(metric, labels) as GaugeSeries).inc(delta);
  }

  /**
   * The series of a label set: one Map lookup per label value, so recording builds no key
   * string and allocates nothing once the series exists. A missing label is ''.
   */
  #series(key: MetricKey, labels: Record<string, string | undefined> | undefined): AnySeries {
    const instrument = this.#instruments.get(key)!;
    if (instrument.unlabelled !== undefined) return instrument.unlabelled;
    const names = instrument.labelNames;
    const last = names.length - 1;
    let node = instrument.tree;
    for (let index = 0; index < last; index += 1) {
      const value = labels?.[names[index]!] ?? '';
      let next = node.get(value) as SeriesTree | undefined;
      if (next === undefined) {
        next = new Map();
        node.set(value, next);
      }
      node = next;
    }
    const value = labels?.[names[last]!] ?? '';
    let series = node.get(value) as AnySeries | undefined;
    if (series === undefined) {
      const values: LabelValues = {};
      for (const name of names) values[name] = labels?.[name] ?? '';
      series = instrument.create(values);
      node.set(value, series);
    }
    return series;
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
