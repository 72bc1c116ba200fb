/**
 * Facts of spec/stack.md that several stack tests check files against: the dashboards and their
 * folders, the provisioned datasource uids, and the nineteen alerts with their family, severity
 * and first dashboard (section 6).
 */

/**
 * Grafana folders (spec section 5). The dashboard provider takes folder titles from the directory
 * names of observability/grafana/dashboards/ (foldersFromFilesStructure), so these are also the
 * directory names.
 */
export const dashboardFolders = [
  'Infrastructure',
  'Containers',
  'Applications',
  'Operations',
  'Organizations',
  'Logs',
  'Traces',
] as const;

export const dashboardUids = [
  'odock-infrastructure',
  'odock-containers',
  'odock-applications',
  'odock-gateway-requests',
  'odock-providers',
  'odock-rate-limits',
  'odock-backend-safety',
  'odock-token-usage',
  'odock-usage-budget',
  'odock-cache-revalidation',
  'odock-logger-health',
  'odock-organizations',
  'odock-logs-request',
  'odock-logs-explore',
  'odock-traces-overview',
  'odock-otel-pipeline',
] as const;

export const datasourceUids = ['prometheus', 'loki', 'tempo', 'alertmanager'] as const;

export type Family =
  | 'infrastructure'
  | 'otel-pipeline'
  | 'gateway-requests'
  | 'logger-pipeline'
  | 'usage-collector'
  | 'data-stores'
  | 'service-health'
  | 'token-anomalies';

export interface AlertSpec {
  readonly family: Family;
  readonly severity: 'critical' | 'warning';
  /** The first dashboard to open (spec section 6; data stores and service health: Applications). */
  readonly dashboard: (typeof dashboardUids)[number];
}

export const alertSpecs: Record<string, AlertSpec> = {
  high_cpu_usage: { family: 'infrastructure', severity: 'warning', dashboard: 'odock-infrastructure' },
  high_memory_usage: { family: 'infrastructure', severity: 'warning', dashboard: 'odock-infrastructure' },
  container_restart_loop: { family: 'infrastructure', severity: 'critical', dashboard: 'odock-containers' },
  service_down: { family: 'infrastructure', severity: 'critical', dashboard: 'odock-containers' },
  otlp_export_failures_sustained: {
    family: 'otel-pipeline',
    severity: 'critical',
    dashboard: 'odock-otel-pipeline',
  },
  gateway_request_5xx_spike: {
    family: 'gateway-requests',
    severity: 'critical',
    dashboard: 'odock-gateway-requests',
  },
  provider_error_spike: { family: 'gateway-requests', severity: 'critical', dashboard: 'odock-providers' },
  stream_failure_spike: {
    family: 'gateway-requests',
    severity: 'critical',
    dashboard: 'odock-gateway-requests',
  },
  gateway_logs_dropped: { family: 'logger-pipeline', severity: 'warning', dashboard: 'odock-logger-health' },
  gateway_logs_write_errors: {
    family: 'logger-pipeline',
    severity: 'critical',
    dashboard: 'odock-logger-health',
  },
  usage_collector_flush_failures: {
    family: 'usage-collector',
    severity: 'critical',
    dashboard: 'odock-usage-budget',
  },
  usage_collector_enqueue_failures: {
    family: 'usage-collector',
    severity: 'critical',
    dashboard: 'odock-usage-budget',
  },
  postgres_readiness_degraded: {
    family: 'data-stores',
    severity: 'critical',
    dashboard: 'odock-applications',
  },
  redis_readiness_degraded: { family: 'data-stores', severity: 'critical', dashboard: 'odock-applications' },
  service_metrics_missing: {
    family: 'service-health',
    severity: 'critical',
    dashboard: 'odock-applications',
  },
  gateway_token_throughput_spike: {
    family: 'token-anomalies',
    severity: 'warning',
    dashboard: 'odock-token-usage',
  },
  gateway_organization_token_concentration: {
    family: 'token-anomalies',
    severity: 'warning',
    dashboard: 'odock-token-usage',
  },
  gateway_api_key_token_concentration: {
    family: 'token-anomalies',
    severity: 'warning',
    dashboard: 'odock-token-usage',
  },
  gateway_token_request_size_extreme: {
    family: 'token-anomalies',
    severity: 'warning',
    dashboard: 'odock-token-usage',
  },
};

/** Where each (family, severity) must be delivered (observability/alertmanager/alertmanager.yml.tmpl). */
export function expectedReceiver(family: string, severity: string): string {
  if (family === 'token-anomalies') return 'token-anomalies';
  const team = ['infrastructure', 'otel-pipeline', 'data-stores', 'service-health'].includes(family)
    ? 'platform'
    : ['gateway-requests', 'logger-pipeline', 'usage-collector'].includes(family)
      ? 'gateway'
      : undefined;
  if (team === undefined || !['critical', 'warning'].includes(severity)) return 'default';
  return `${team}-${severity}`;
}
