/**
 * Traffic Analytics (spec/gateway.md section 5): the KPIs of a slice of usage records and the
 * same KPIs as a time series. Everything is aggregated by the database: percentiles with
 * `percentile_cont` (continuous, linear interpolation between the two nearest values), sums
 * and counts with FILTER clauses, buckets with `date_bin`. No row is loaded into the process.
 */
import { GatewayError } from '../errors.ts';
import type { Queryable } from '../storage/database.ts';
import { filterSql, type UsageFilter } from './usage-query.ts';
import { modelEndpoints } from './usage-record.ts';
import { nanosToUsd } from './usage-view.ts';

/** Bucket widths, smallest first; the automatic choice is the first giving at most `targetBuckets`. */
export const bucketWidths = {
  '1m': 60,
  '5m': 300,
  '15m': 900,
  '1h': 3_600,
  '6h': 21_600,
  '1d': 86_400,
  '7d': 604_800,
} as const;
export type BucketName = keyof typeof bucketWidths;
const targetBuckets = 200;
const maximumBuckets = 1_000;
/** A Monday, UTC midnight: buckets of every width start on whole minutes, hours, days and weeks. */
const bucketOrigin = '2000-01-03T00:00:00Z';

const aiCondition = `endpoint IN (${modelEndpoints.map((endpoint) => `'${endpoint}'`).join(', ')})`;

const aggregates = `
  count(*) AS requests,
  count(*) FILTER (WHERE ${aiCondition}) AS ai_requests,
  count(*) FILTER (WHERE outcome = 'success') AS successes,
  count(*) FILTER (WHERE outcome = 'client_error') AS client_errors,
  count(*) FILTER (WHERE outcome = 'server_error') AS server_errors,
  count(*) FILTER (WHERE outcome = 'client_aborted') AS client_aborts,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS latency_p50,
  percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS latency_p95,
  percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) AS latency_p99,
  avg(latency_ms) AS latency_mean,
  avg(gateway_overhead_ms) AS overhead_mean,
  percentile_cont(0.95) WITHIN GROUP (ORDER BY gateway_overhead_ms) AS overhead_p95,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY time_to_first_token_ms) AS ttft_p50,
  percentile_cont(0.95) WITHIN GROUP (ORDER BY time_to_first_token_ms) AS ttft_p95,
  coalesce(sum(input_tokens), 0)::bigint AS input_tokens,
  coalesce(sum(output_tokens), 0)::bigint AS output_tokens,
  coalesce(sum(cached_input_tokens), 0)::bigint AS cached_input_tokens,
  coalesce(sum(cache_write_tokens), 0)::bigint AS cache_write_tokens,
  coalesce(sum(reasoning_tokens), 0)::bigint AS reasoning_tokens,
  coalesce(sum(embeddings_tokens), 0)::bigint AS embeddings_tokens,
  coalesce(sum(billable_tokens), 0)::bigint AS billable_tokens,
  coalesce(sum(cost_nanos), 0)::bigint AS cost_nanos,
  coalesce(sum(plugin_overhead_ms) FILTER (WHERE ${aiCondition}), 0) AS plugin_overhead_total,
  avg(plugin_overhead_ms) FILTER (WHERE ${aiCondition}) AS plugin_overhead_mean,
  coalesce(sum(input_tokens + output_tokens) FILTER (WHERE ${aiCondition}), 0)::bigint AS ai_tokens,
  coalesce(sum(latency_ms) FILTER (WHERE ${aiCondition}), 0) AS ai_latency_ms`;

interface AggregateRow {
  requests: bigint;
  ai_requests: bigint;
  successes: bigint;
  client_errors: bigint;
  server_errors: bigint;
  client_aborts: bigint;
  latency_p50: number | null;
  latency_p95: number | null;
  latency_p99: number | null;
  latency_mean: number | null;
  overhead_mean: number | null;
  overhead_p95: number | null;
  ttft_p50: number | null;
  ttft_p95: number | null;
  input_tokens: bigint;
  output_tokens: bigint;
  cached_input_tokens: bigint;
  cache_write_tokens: bigint;
  reasoning_tokens: bigint;
  embeddings_tokens: bigint;
  billable_tokens: bigint;
  cost_nanos: bigint;
  plugin_overhead_total: number;
  plugin_overhead_mean: number | null;
  ai_tokens: bigint;
  ai_latency_ms: number;
}

export interface TrafficKpis {
  requests: number;
  ai_requests: number;
  other_requests: number;
  successes: number;
  client_errors: number;
  server_errors: number;
  client_aborts: number;
  success_rate: number | null;
  error_rate: number | null;
  availability: number | null;
  latency_ms: { p50: number | null; p95: number | null; p99: number | null; mean: number | null };
  gateway_overhead_ms: { mean: number | null; p95: number | null };
  time_to_first_token_ms: { p50: number | null; p95: number | null };
  tokens: {
    input: number;
    output: number;
    cached_input: number;
    cache_write: number;
    reasoning: number;
    embeddings: number;
    billable: number;
    total: number;
  };
  cost: { nanos: string; usd: string; per_request_nanos: string | null; per_request_usd: string | null };
  cache: { cached_input_tokens: number; hit_ratio: number | null };
  plugin_overhead_ms: { total: number; mean: number | null };
  throughput_tokens_per_second: number | null;
}

export interface TrafficAnalytics {
  object: 'usage.analytics';
  organization_id: string | null;
  from: string;
  to: string;
  bucket: BucketName;
  bucket_seconds: number;
  summary: TrafficKpis;
  series: Array<{ start: string } & TrafficKpis>;
}

/** The bucket for a range: the one asked for, else the smallest giving at most 200 buckets. */
export function chooseBucket(from: Date, to: Date, requested?: string): BucketName {
  const rangeSeconds = (to.getTime() - from.getTime()) / 1000;
  if (requested !== undefined) {
    if (!Object.hasOwn(bucketWidths, requested))
      throw new GatewayError(
        'invalid_request',
        `bucket must be one of ${Object.keys(bucketWidths).join(', ')}`,
        {
          details: { param: 'bucket' },
        },
      );
    const width = bucketWidths[requested as BucketName];
    if (rangeSeconds / width > maximumBuckets)
      throw new GatewayError(
        'invalid_request',
        `the range holds more than ${maximumBuckets} ${requested} buckets`,
        {
          details: { param: 'bucket' },
        },
      );
    return requested as BucketName;
  }
  const names = Object.keys(bucketWidths) as BucketName[];
  return names.find((name) => rangeSeconds / bucketWidths[name] <= targetBuckets) ?? '7d';
}

export async function trafficAnalytics(
  database: Queryable,
  filter: UsageFilter,
  requestedBucket?: string,
): Promise<TrafficAnalytics> {
  const bucket = chooseBucket(filter.from, filter.to, requestedBucket);
  const width = bucketWidths[bucket];
  const { where, params } = filterSql(filter);
  const [summaryRow] = await database.query<AggregateRow>(
    `SELECT ${aggregates} FROM usage_records WHERE ${where}`,
    params,
  );
  const bucketParams = [...params, `${width} seconds`, bucketOrigin];
  const widthParam = `$${params.length + 1}::interval`;
  const originParam = `$${params.length + 2}::timestamptz`;
  const bucketRows = await database.query<AggregateRow & { bucket_start: Date }>(
    `SELECT date_bin(${widthParam}, requested_at, ${originParam}) AS bucket_start, ${aggregates}
     FROM usage_records WHERE ${where} GROUP BY 1 ORDER BY 1`,
    bucketParams,
  );
  const byStart = new Map(bucketRows.map((row) => [row.bucket_start.getTime(), row]));
  const series: TrafficAnalytics['series'] = [];
  const origin = Date.parse(bucketOrigin);
  const widthMs = width * 1000;
  const first = origin + Math.floor((filter.from.getTime() - origin) / widthMs) * widthMs;
  for (let start = first; start < filter.to.getTime(); start += widthMs) {
    series.push({ start: new Date(start).toISOString(), ...toKpis(byStart.get(start)) });
  }
  return {
    object: 'usage.analytics',
    organization_id: filter.organizationId ?? null,
    from: filter.from.toISOString(),
    to: filter.to.toISOString(),
    bucket,
    bucket_seconds: width,
    summary: toKpis(summaryRow),
    series,
  };
}

const ratio = (part: number, whole: number): number | null => (whole === 0 ? null : part / whole);

/** Rates and ratios from the sums; an empty bucket has zero counts and null statistics. */
export function toKpis(row: AggregateRow | undefined): TrafficKpis {
  const count = (value: bigint | undefined) => Number(value ?? 0n);
  const requests = count(row?.requests);
  const aiRequests = count(row?.ai_requests);
  const serverErrors = count(row?.server_errors);
  const clientErrors = count(row?.client_errors);
  const costNanos = row?.cost_nanos ?? 0n;
  // Integer division rounding half up, so the per-request cost stays exact nano-USD.
  const perRequest =
    aiRequests === 0 ? null : (costNanos * 2n + BigInt(aiRequests)) / (2n * BigInt(aiRequests));
  const input = count(row?.input_tokens);
  const output = count(row?.output_tokens);
  const aiLatencySeconds = (row?.ai_latency_ms ?? 0) / 1000;
  return {
    requests,
    ai_requests: aiRequests,
    other_requests: requests - aiRequests,
    successes: count(row?.successes),
    client_errors: clientErrors,
    server_errors: serverErrors,
    client_aborts: count(row?.client_aborts),
    success_rate: ratio(count(row?.successes), requests),
    error_rate: ratio(clientErrors + serverErrors, requests),
    availability: requests === 0 ? null : 1 - serverErrors / requests,
    latency_ms: {
      p50: row?.latency_p50 ?? null,
      p95: row?.latency_p95 ?? null,
      p99: row?.latency_p99 ?? null,
      mean: row?.latency_mean ?? null,
    },
    gateway_overhead_ms: { mean: row?.overhead_mean ?? null, p95: row?.overhead_p95 ?? null },
    time_to_first_token_ms: { p50: row?.ttft_p50 ?? null, p95: row?.ttft_p95 ?? null },
    tokens: {
      input,
      output,
      cached_input: count(row?.cached_input_tokens),
      cache_write: count(row?.cache_write_tokens),
      reasoning: count(row?.reasoning_tokens),
      embeddings: count(row?.embeddings_tokens),
      billable: count(row?.billable_tokens),
      total: input + output,
    },
    cost: {
      nanos: costNanos.toString(),
      usd: nanosToUsd(costNanos),
      per_request_nanos: perRequest?.toString() ?? null,
      per_request_usd: perRequest === null ? null : nanosToUsd(perRequest),
    },
    cache: {
      cached_input_tokens: count(row?.cached_input_tokens),
      hit_ratio: ratio(count(row?.cached_input_tokens), input),
    },
    plugin_overhead_ms: { total: row?.plugin_overhead_total ?? 0, mean: row?.plugin_overhead_mean ?? null },
    throughput_tokens_per_second: aiLatencySeconds === 0 ? null : count(row?.ai_tokens) / aiLatencySeconds,
  };
}
