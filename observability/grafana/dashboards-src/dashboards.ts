/**
 * Every dashboard built from code, in the order the folders appear in Grafana. Adding one means
 * an entry in `lib/dashboard-index.ts`, a module in its folder's directory, and a line here.
 */
import { applications } from './applications/applications.ts';
import { containers } from './containers/containers.ts';
import { infrastructure } from './infrastructure/infrastructure.ts';
import type { GeneratedDashboard } from './lib/dashboard.ts';
import { logsExplore } from './logs/logs-explore.ts';
import { requestLogs } from './logs/request-logs.ts';
import { backendSafety } from './operations/backend-safety.ts';
import { cacheRevalidation } from './operations/cache-revalidation.ts';
import { gatewayRequests } from './operations/gateway-requests.ts';
import { loggerHealth } from './operations/logger-health.ts';
import { providers } from './operations/providers.ts';
import { rateLimits } from './operations/rate-limits.ts';
import { tokenUsage } from './operations/token-usage.ts';
import { usageBudget } from './operations/usage-budget.ts';
import { organizations } from './organizations/organizations.ts';
import { otelPipeline } from './traces/otel-pipeline.ts';
import { tracesOverview } from './traces/traces-overview.ts';

export const dashboards: readonly GeneratedDashboard[] = [
  infrastructure,
  containers,
  applications,
  gatewayRequests,
  providers,
  rateLimits,
  backendSafety,
  tokenUsage,
  usageBudget,
  cacheRevalidation,
  loggerHealth,
  organizations,
  requestLogs,
  logsExplore,
  tracesOverview,
  otelPipeline,
];
