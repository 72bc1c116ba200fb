/**
 * The organisation-scoped usage read API (spec/gateway.md section 5, "Usage Records"):
 *   GET /v1/usage/records                 list: date range, filters, request id search, sort, cursor
 *   GET /v1/usage/records/{request_id}    one record with its routing chain and breakdowns
 *   GET /v1/usage/export                  every record of a slice as CSV or JSON Lines
 * (and GET /v1/usage/analytics, in usage-analytics.ts). Every route takes an organisation admin
 * key and reads only that key's organisation; see docs/usage-records.md.
 */
import { once } from 'node:events';
import { GatewayError } from '../../errors.ts';
import { endpoints } from '../../gateway/request-context.ts';
import {
  type ExportFormat,
  exportContentTypes,
  exportFormats,
  exportRecords,
} from '../../usage/usage-export.ts';
import {
  findRecord,
  listRecords,
  parseListOptions,
  parseUsageFilter,
  queryOf,
} from '../../usage/usage-query.ts';
import type { UsageApi } from '../../usage/usage-service.ts';
import { toRecordView } from '../../usage/usage-view.ts';
import { sendJson } from '../respond.ts';
import type { Route } from '../server.ts';
import { usageAnalyticsRoute } from './usage-analytics.ts';

const recordPrefix = '/v1/usage/records/';
/** The request ids the server accepts or makes (see requestIdFor in server.ts). */
const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/;

export function usageRoutes(api: UsageApi): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/usage/records',
      endpoint: endpoints.usage,
      handler: async function listUsageRecords(_context, request, response) {
        const admin = api.admin.authenticate(request.headers);
        const query = queryOf(request);
        const filter = parseUsageFilter(query, admin.organizationId);
        const page = await listRecords(api.database, filter, parseListOptions(query));
        sendJson(response, 200, {
          object: 'list',
          organization_id: admin.organizationId,
          from: filter.from.toISOString(),
          to: filter.to.toISOString(),
          data: page.rows.map((row) => toRecordView(row, false)),
          next_cursor: page.nextCursor,
        });
      },
    },
    {
      method: 'GET',
      path: '/v1/usage/records/{request_id}',
      endpoint: endpoints.usage,
      handler: async function usageRecordDetail(_context, request, response) {
        const admin = api.admin.authenticate(request.headers);
        const path = (request.url ?? '').split('?')[0]!;
        let requestId: string;
        try {
          requestId = decodeURIComponent(path.slice(recordPrefix.length));
        } catch {
          throw new GatewayError('usage_record_not_found');
        }
        const named = queryOf(request).get('organization_id');
        if (named !== null && named !== admin.organizationId)
          throw new GatewayError('organization_forbidden');
        if (!requestIdPattern.test(requestId)) throw new GatewayError('usage_record_not_found');
        const found = await findRecord(api.database, admin.organizationId, requestId);
        if (found === undefined) throw new GatewayError('usage_record_not_found');
        sendJson(response, 200, {
          ...toRecordView(found.row, true),
          same_request_id_records: found.sameRequestId,
        });
      },
    },
    {
      method: 'GET',
      path: '/v1/usage/export',
      endpoint: endpoints.usage,
      handler: async function exportUsageRecords(context, request, response) {
        const admin = api.admin.authenticate(request.headers);
        const query = queryOf(request);
        const format = query.get('format') ?? 'jsonl';
        if (!(exportFormats as readonly string[]).includes(format))
          throw new GatewayError('invalid_request', `format must be one of ${exportFormats.join(', ')}`, {
            details: { param: 'format' },
          });
        const filter = parseUsageFilter(query, admin.organizationId);
        const day = (time: Date) => time.toISOString().slice(0, 10);
        response.writeHead(200, {
          'content-type': exportContentTypes[format as ExportFormat],
          'content-disposition': `attachment; filename="usage-${admin.organizationId}-${day(filter.from)}-${day(filter.to)}.${format}"`,
          'cache-control': 'no-store',
        });
        await exportRecords(api.database, filter, format as ExportFormat, async (chunk) => {
          if (!response.write(chunk)) await once(response, 'drain', { signal: context.signal });
        });
        response.end();
      },
    },
    usageAnalyticsRoute(api),
  ];
}
