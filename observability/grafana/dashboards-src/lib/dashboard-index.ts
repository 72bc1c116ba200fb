/**
 * Every shipped dashboard: uid, title and Grafana folder. Dashboards link to each other through
 * this index (never through a hand-typed uid), and the alert rules' dashboard links must resolve
 * to one of these uids. The folder is the directory under `observability/grafana/dashboards/`,
 * which Grafana's file provisioning turns into a folder of the same name.
 */
export const folders = [
  'Infrastructure',
  'Containers',
  'Applications',
  'Operations',
  'Organizations',
  'Logs',
  'Traces',
] as const;
export type Folder = (typeof folders)[number];

export interface DashboardEntry {
  readonly uid: string;
  readonly title: string;
  readonly folder: Folder;
}

export const dashboardIndex = {
  infrastructure: { uid: 'odock-infrastructure', title: 'Infrastructure (hosts)', folder: 'Infrastructure' },
  containers: { uid: 'odock-containers', title: 'Containers', folder: 'Containers' },
  applications: { uid: 'odock-applications', title: 'Applications', folder: 'Applications' },
  gatewayRequests: {
    uid: 'odock-gateway-requests',
    title: 'Gateway Request Dashboard',
    folder: 'Operations',
  },
  providers: { uid: 'odock-providers', title: 'Provider Dashboard', folder: 'Operations' },
  rateLimits: { uid: 'odock-rate-limits', title: 'Rate Limit Dashboard', folder: 'Operations' },
  backendSafety: { uid: 'odock-backend-safety', title: 'Backend Safety Dashboard', folder: 'Operations' },
  tokenUsage: { uid: 'odock-token-usage', title: 'Token Usage Dashboard', folder: 'Operations' },
  usageBudget: { uid: 'odock-usage-budget', title: 'Usage / Budget Dashboard', folder: 'Operations' },
  cacheRevalidation: {
    uid: 'odock-cache-revalidation',
    title: 'Cache Revalidation Dashboard',
    folder: 'Operations',
  },
  loggerHealth: { uid: 'odock-logger-health', title: 'Logger Health Dashboard', folder: 'Operations' },
  organizations: { uid: 'odock-organizations', title: 'Organizations Overview', folder: 'Organizations' },
  requestLogs: { uid: 'odock-logs-request', title: 'Request Logs', folder: 'Logs' },
  logsExplore: { uid: 'odock-logs-explore', title: 'Logs Explorer', folder: 'Logs' },
  tracesOverview: { uid: 'odock-traces-overview', title: 'Traces Overview', folder: 'Traces' },
  otelPipeline: { uid: 'odock-otel-pipeline', title: 'OTel Pipeline Health', folder: 'Traces' },
} as const satisfies Record<string, DashboardEntry>;

export type DashboardKey = keyof typeof dashboardIndex;

/** The path Grafana serves a dashboard under (the slug after the uid is optional). */
export function dashboardPath(entry: DashboardEntry): string {
  return `/d/${entry.uid}`;
}
