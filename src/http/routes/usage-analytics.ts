/**
 * `GET /v1/usage/analytics`: Traffic Analytics for a slice of the caller's organisation (the
 * filters of the records list), summary KPIs and the same KPIs per time bucket.
 */
import { endpoints } from '../../gateway/request-context.ts';
import { trafficAnalytics } from '../../usage/usage-analytics.ts';
import { parseUsageFilter, queryOf } from '../../usage/usage-query.ts';
import type { UsageApi } from '../../usage/usage-service.ts';
import { sendJson } from '../respond.ts';
import type { Route } from '../server.ts';

export function usageAnalyticsRoute(api: UsageApi): Route {
  return {
    method: 'GET',
    path: '/v1/usage/analytics',
    endpoint: endpoints.usage,
    handler: async function usageAnalytics(_context, request, response) {
      const admin = api.admin.authenticate(request.headers);
      const query = queryOf(request);
      const filter = parseUsageFilter(query, admin.organizationId);
      sendJson(response, 200, await trafficAnalytics(api.database, filter, query.get('bucket') ?? undefined));
    },
  };
}
