/**
 * The OBSERVABILITY_* and logger variables of the telemetry contract (section 2), validated
 * once at start. An invalid value stops start-up with one line naming the variable and what
 * it accepts; it is never silently replaced by a default.
 */
import { ConfigError } from '../config/load.ts';

export const exporterNames = ['otlphttp', 'otlpgrpc', 'none'] as const;
export type ExporterName = (typeof exporterNames)[number];
export const tenantLabelModes = ['organization,api_key', 'organization', 'none'] as const;
export type TenantLabelMode = (typeof tenantLabelModes)[number];
export const loggerOutputs = ['stdout', 'file'] as const;

export interface ObservabilitySettings {
  readonly tracesExporter: ExporterName;
  readonly metricsExporter: ExporterName;
  /** Base OTLP endpoint, e.g. http://otel-collector:4318 (signal paths are appended for HTTP). */
  readonly endpoint: string;
  readonly sampleRate: number;
  readonly tenantLabels: TenantLabelMode;
  /** Resource attributes attached to spans, OTLP metrics and log lines alike. */
  readonly resource: Readonly<Record<string, string>>;
  readonly logToFile: boolean;
  readonly logsPath: string | undefined;
  readonly metricsExportIntervalMs: number;
}

export function loadObservabilitySettings(env: NodeJS.ProcessEnv = process.env): ObservabilitySettings {
  const problems: string[] = [];
  const value = (name: string) => {
    const raw = env[name];
    return raw === undefined || raw === '' ? undefined : raw.trim();
  };
  const oneOf = <T extends string>(name: string, accepted: readonly T[], fallback: T): T => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    if ((accepted as readonly string[]).includes(raw)) return raw as T;
    problems.push(`${name}="${raw}" is not valid; accepted values: ${accepted.join(', ')}`);
    return fallback;
  };

  const defaultExporter = oneOf('OBSERVABILITY_OTEL_EXPORTER', exporterNames, 'otlphttp');
  const tracesExporter = oneOf('OBSERVABILITY_OTEL_TRACES_EXPORTER', exporterNames, defaultExporter);
  // /metrics is the default metrics path: OTLP push only when asked for (never both by default).
  const metricsExporter = oneOf('OBSERVABILITY_OTEL_METRICS_EXPORTER', exporterNames, 'none');
  const tenantLabels = oneOf('OBSERVABILITY_TENANT_LABELS', tenantLabelModes, 'organization,api_key');

  const endpoint = value('OBSERVABILITY_OTEL_ENDPOINT') ?? 'http://127.0.0.1:4318';
  if (!URL.canParse(endpoint) || !['http:', 'https:'].includes(new URL(endpoint).protocol))
    problems.push(
      `OBSERVABILITY_OTEL_ENDPOINT="${endpoint}" is not valid; accepted values: an http(s) URL such as http://otel-collector:4318`,
    );

  const rawRate = value('OBSERVABILITY_SAMPLE_RATE');
  const sampleRate = rawRate === undefined ? 0.1 : Number(rawRate);
  if (rawRate !== undefined && (!/^\d*\.?\d+$/.test(rawRate) || !(sampleRate >= 0 && sampleRate <= 1)))
    problems.push(
      `OBSERVABILITY_SAMPLE_RATE="${rawRate}" is not valid; accepted values: a number from 0 to 1`,
    );

  const outputs = (value('LOGGER_OUTPUT') ?? 'stdout').split(',').map((entry) => entry.trim());
  for (const output of outputs)
    if (!(loggerOutputs as readonly string[]).includes(output))
      problems.push(
        `LOGGER_OUTPUT="${value('LOGGER_OUTPUT')}" is not valid; accepted values: a comma list of stdout, file`,
      );
  const logToFile = outputs.includes('file');
  const logsPath = value('ODOCK_SERVER_LOGS_PATH');
  if (logToFile && logsPath === undefined)
    problems.push(
      'ODOCK_SERVER_LOGS_PATH is required when LOGGER_OUTPUT includes file; accepted values: a writable directory',
    );

  const rawInterval = value('OBSERVABILITY_OTEL_METRICS_INTERVAL_MS');
  const metricsExportIntervalMs = rawInterval === undefined ? 15_000 : Number(rawInterval);
  if (!Number.isInteger(metricsExportIntervalMs) || metricsExportIntervalMs < 100)
    problems.push(
      `OBSERVABILITY_OTEL_METRICS_INTERVAL_MS="${rawInterval}" is not valid; accepted values: an integer ≥ 100`,
    );

  if (problems.length > 0) throw new ConfigError('environment', problems);

  const instanceId =
    value('OBSERVABILITY_SERVICE_INSTANCE_ID') ??
    value('POD_NAME') ??
    value('HOSTNAME') ??
    `pid-${process.pid}`;
  const resource: Record<string, string> = {
    'service.name': value('OBSERVABILITY_SERVICE_NAME') ?? 'odock-server',
    'service.namespace': value('OBSERVABILITY_SERVICE_NAMESPACE') ?? 'odock',
    'service.version': value('OBSERVABILITY_SERVICE_VERSION') ?? 'dev',
    'service.instance.id': instanceId,
    'deployment.environment.name': value('OBSERVABILITY_DEPLOYMENT_ENVIRONMENT') ?? 'production',
  };
  const kubernetes: Record<string, string> = {
    OBSERVABILITY_K8S_CLUSTER_NAME: 'k8s.cluster.name',
    OBSERVABILITY_K8S_NAMESPACE_NAME: 'k8s.namespace.name',
    OBSERVABILITY_K8S_DEPLOYMENT_NAME: 'k8s.deployment.name',
    OBSERVABILITY_K8S_POD_NAME: 'k8s.pod.name',
    OBSERVABILITY_K8S_NODE_NAME: 'k8s.node.name',
  };
  for (const [variable, attribute] of Object.entries(kubernetes)) {
    const attributeValue = value(variable);
    if (attributeValue !== undefined) resource[attribute] = attributeValue;
  }
  return Object.freeze({
    tracesExporter,
    metricsExporter,
    endpoint: endpoint.replace(/\/+$/, ''),
    sampleRate,
    tenantLabels,
    resource: Object.freeze(resource),
    logToFile,
    logsPath,
    metricsExportIntervalMs,
  });
}
