/**
 * Small PromQL builders for the shapes every dashboard repeats. They only assemble text; the
 * query test parses every result, and the coverage test checks names and labels against the
 * catalog and the recording rules.
 */

/** `metric{matchers}`, leaving out empty matchers. */
export function series(metric: string, ...matchers: readonly string[]): string {
  const present = matchers.filter((matcher) => matcher !== '');
  return present.length === 0 ? metric : `${metric}{${present.join(', ')}}`;
}

/** `rate(selector[$__rate_interval])`: Grafana's interval is at least four scrapes wide. */
export function rate(selector: string): string {
  return `rate(${selector}[$__rate_interval])`;
}

/** `sum by (labels) (expression)`, or `sum(expression)` without labels. */
export function sumBy(labels: readonly string[], expression: string): string {
  return labels.length === 0 ? `sum(${expression})` : `sum by (${labels.join(', ')}) (${expression})`;
}

/** A quantile from already-rated bucket series, aggregated down to `labels` plus `le`. */
export function quantile(q: number, labels: readonly string[], ratedBuckets: string): string {
  return `histogram_quantile(${q}, ${sumBy([...labels, 'le'], ratedBuckets)})`;
}

/** A quantile straight from raw `_bucket` series. */
export function quantileOfRaw(q: number, labels: readonly string[], bucketSelector: string): string {
  return quantile(q, labels, rate(bucketSelector));
}

/** The matcher the gateway dashboards add to every selector. */
export const gatewayInstance = 'instance=~"$instance"';
