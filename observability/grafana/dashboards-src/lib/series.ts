/**
 * Metric names as the dashboards spell them. Gateway and runtime names come from the telemetry
 * catalog (the one copy of the contract), so a renamed metric breaks the build of the dashboards
 * instead of silently emptying a panel. Recorded series are defined in
 * `observability/prometheus/rules/recording.yml` (`level:metric:operations`); the coverage test
 * checks each name below exists there with the labels the panels select on.
 */
import { metricCatalog, runtimeMetricCatalog } from '../../../../src/observability/catalog.ts';

type NamesOf<Catalog extends Record<string, { name: string }>> = {
  readonly [Key in keyof Catalog]: Catalog[Key]['name'];
};

function namesOf<Catalog extends Record<string, { name: string }>>(catalog: Catalog): NamesOf<Catalog> {
  return Object.fromEntries(
    Object.entries(catalog).map(([key, definition]) => [key, definition.name]),
  ) as NamesOf<Catalog>;
}

/** `gateway_*` exposition names by catalog key. */
export const gateway = namesOf(metricCatalog);

/** Node.js/V8 runtime exposition names by catalog key. */
export const runtime = namesOf(runtimeMetricCatalog);

/** Recording rules the dashboards read (5-minute rates, evaluated every 30 s). */
export const recorded = {
  requestsByRouteStatus: 'instance_route_status_class:gateway_requests:rate5m',
  requestDurationBuckets: 'instance_route_le:gateway_request_duration_seconds_bucket:rate5m',
  overheadDurationBuckets: 'instance_route_le:gateway_overhead_duration_seconds_bucket:rate5m',
  streamSessions: 'instance_provider_outcome:gateway_stream_sessions:rate5m',
  streamDurationBuckets: 'instance_provider_le:gateway_stream_duration_seconds_bucket:rate5m',
  providerRequests: 'instance_provider_model_status_class:gateway_provider_requests:rate5m',
  providerErrors: 'instance_provider_model_error_class:gateway_provider_errors:rate5m',
  providerDurationBuckets:
    'instance_provider_model_le:gateway_provider_request_duration_seconds_bucket:rate5m',
  timeToFirstTokenBuckets:
    'instance_provider_model_le:gateway_provider_time_to_first_token_seconds_bucket:rate5m',
  tokensByModelAndOrganization: 'provider_model_organization_id_token_class:gateway_tokens:rate5m',
  tokensByApiKey: 'organization_id_api_key_id_token_class:gateway_tokens:rate5m',
  costByModelAndOrganization: 'provider_model_organization_id:gateway_cost_usd:rate5m',
  hostCpuByMode: 'instance_mode:node_cpu_seconds:rate5m',
  containerCpu: 'instance_name:container_cpu_usage_seconds:rate5m',
  spanCalls: 'service_span_name_status_code:traces_spanmetrics_calls:rate5m',
  spanLatencyBuckets: 'service_span_name_le:traces_spanmetrics_latency_bucket:rate5m',
} as const;
