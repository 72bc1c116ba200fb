/**
 * The series a query may select, with their labels: the gateway's metrics and runtime series
 * from the telemetry catalog (histograms as their `_bucket`, `_sum` and `_count` series), the
 * recorded series of the recording rules (labels inferred from each rule's expression), and the
 * third-party names of `observability/third-party-metrics.yml`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  type MetricDefinition,
  metricCatalog,
  runtimeLabels,
  runtimeMetricCatalog,
} from '../../src/observability/catalog.ts';
import { analysePromql, type LabelSet, type SeriesInfo, type SeriesResolver } from './promql-labels.ts';
import { type RuleFile, repositoryRoot } from './query-inventory.ts';

/** Labels Prometheus attaches to every scraped series. */
export const targetLabels = ['job', 'instance'] as const;

const histogramSuffixes = ['_bucket', '_sum', '_count'] as const;

interface CatalogSeries extends SeriesInfo {
  /** The catalog metric the series belongs to. */
  readonly metric: string;
}

/** Every series name the catalog's metrics expose, mapped to the metric and its labels. */
export function catalogSeries(): Map<string, CatalogSeries> {
  const map = new Map<string, CatalogSeries>();
  const add = (definition: MetricDefinition, extraLabels: readonly string[]) => {
    const labels = new Set<string>([...definition.labels, ...extraLabels, ...targetLabels]);
    if (definition.type === 'histogram') {
      for (const suffix of histogramSuffixes)
        map.set(`${definition.name}${suffix}`, {
          metric: definition.name,
          kind: 'counter',
          labels: suffix === '_bucket' ? new Set([...labels, 'le']) : labels,
        });
    } else {
      map.set(definition.name, {
        metric: definition.name,
        kind: definition.type === 'counter' ? 'counter' : 'gauge',
        labels,
      });
    }
  };
  for (const definition of Object.values(metricCatalog) as MetricDefinition[]) add(definition, []);
  for (const [key, definition] of Object.entries(runtimeMetricCatalog) as Array<[string, MetricDefinition]>)
    add(definition, (runtimeLabels as Record<string, readonly string[]>)[key] ?? []);
  return map;
}

export function catalogMetricNames(): string[] {
  return [...Object.values(metricCatalog), ...Object.values(runtimeMetricCatalog)].map(
    (metric) => metric.name,
  );
}

export interface ThirdPartySource {
  readonly id: string;
  readonly component: unknown;
  readonly reference: unknown;
  readonly verified: unknown;
  readonly metrics: readonly string[];
}

const thirdPartyFile = join(repositoryRoot, 'observability/third-party-metrics.yml');

export function thirdPartySources(): ThirdPartySource[] {
  const document = parseYaml(readFileSync(thirdPartyFile, 'utf8')) as {
    sources?: Record<string, Record<string, unknown>>;
  };
  return Object.entries(document.sources ?? {}).map(([id, source]) => ({
    id,
    component: source['component'],
    reference: source['reference'],
    verified: source['verified'],
    metrics: Array.isArray(source['metrics']) ? (source['metrics'] as string[]) : [],
  }));
}

/** A third-party series name, or its histogram base name, as listed. */
export function thirdPartyBaseName(name: string, listed: ReadonlySet<string>): string | undefined {
  if (listed.has(name)) return name;
  const suffix = histogramSuffixes.find((candidate) => name.endsWith(candidate));
  const base = suffix === undefined ? undefined : name.slice(0, -suffix.length);
  return base !== undefined && listed.has(base) ? base : undefined;
}

export interface RecordedSeries {
  readonly name: string;
  readonly file: string;
  readonly expr: string;
  readonly labels: LabelSet;
  readonly selected: readonly string[];
  readonly problems: readonly string[];
}

/**
 * Builds the resolver for queries: catalog series, recorded series (rules evaluated in file
 * order, so a rule may build on an earlier one), third-party names. Returns the recorded series
 * with the labels their rules produce and any problem found while inferring them.
 */
export function seriesResolver(ruleFilesToRead: readonly RuleFile[]): {
  resolve: SeriesResolver;
  recorded: ReadonlyMap<string, RecordedSeries>;
} {
  const catalog = catalogSeries();
  const listed = new Set(thirdPartySources().flatMap((source) => source.metrics));
  const recorded = new Map<string, RecordedSeries>();
  const resolve: SeriesResolver = (name) => {
    const fromCatalog = catalog.get(name);
    if (fromCatalog !== undefined) return fromCatalog;
    const fromRule = recorded.get(name);
    if (fromRule !== undefined) return { labels: fromRule.labels, kind: 'gauge' };
    const base = thirdPartyBaseName(name, listed);
    if (base === undefined) return undefined;
    return { labels: 'any', kind: /(_total|_bucket|_sum|_count)$/.test(name) ? 'counter' : 'unknown' };
  };
  for (const file of ruleFilesToRead)
    for (const rule of file.rules) {
      if (rule.record === undefined) continue;
      const analysis = analysePromql(rule.expr, resolve);
      const labels =
        analysis.labels === 'any' ? 'any' : new Set([...analysis.labels, ...Object.keys(rule.labels)]);
      recorded.set(rule.record, {
        name: rule.record,
        file: file.path,
        expr: rule.expr,
        labels,
        selected: analysis.series,
        problems: analysis.problems,
      });
    }
  return { resolve, recorded };
}

/** The catalog metric a selected series belongs to (histogram series map to their metric). */
export function catalogMetricOf(seriesName: string): string | undefined {
  return catalogSeries().get(seriesName)?.metric;
}
