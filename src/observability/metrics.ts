/**
 * The metrics port domain code records through. Instruments are addressed by their catalog key,
 * so no code outside `catalog.ts` spells a metric name, and label names are checked against
 * the label policy by the type system. Instrumenting a stage is one call:
 * `metrics.increment('ratelimitDecisionsTotal', { ratelimit_stage, ratelimit_module, decision })`.
 */
import type { MetricLabel, metricCatalog } from './catalog.ts';

type Catalog = typeof metricCatalog;
type KeysOfType<Type extends string> = {
  [Key in keyof Catalog]: Catalog[Key]['type'] extends Type ? Key : never;
}[keyof Catalog];

export type CounterKey = KeysOfType<'counter'>;
export type HistogramKey = KeysOfType<'histogram'>;
export type GaugeKey = KeysOfType<'gauge'>;
export type UpDownCounterKey = KeysOfType<'updowncounter'>;

/** Label values of one series: only names of the label policy; values from configuration or code. */
export type Labels<Key extends keyof Catalog = keyof Catalog> = {
  readonly [Label in Catalog[Key]['labels'][number] & MetricLabel]?: string;
};

/**
 * Recorders read the label values during the call and neither keep nor change the label object,
 * so callers may pass one object to several recordings (or a shared constant).
 */
export interface MetricsRecorder {
  increment<Key extends CounterKey>(metric: Key, labels?: Labels<Key>, value?: number): void;
  observe<Key extends HistogramKey>(metric: Key, value: number, labels?: Labels<Key>): void;
  set<Key extends GaugeKey>(metric: Key, value: number, labels?: Labels<Key>): void;
  adjust<Key extends UpDownCounterKey>(metric: Key, delta: number, labels?: Labels<Key>): void;
}

/** Records nothing: for tools and tests that run a component without telemetry. */
export const noopMetrics: MetricsRecorder = {
  increment() {},
  observe() {},
  set() {},
  adjust() {},
};
