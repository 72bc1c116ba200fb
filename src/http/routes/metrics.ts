/** `GET /metrics`: the Prometheus exposition of the catalog and runtime series. */
import type { Registry } from 'prom-client';
import { endpoints } from '../../gateway/request-context.ts';
import type { Route } from '../server.ts';

export function metricsRoute(registry: Registry): Route {
  return {
    method: 'GET',
    path: '/metrics',
    endpoint: endpoints.metrics,
    handler: async function metrics(_context, _request, response) {
      const body = await registry.metrics();
      response.writeHead(200, {
        'content-type': registry.contentType,
        'content-length': Buffer.byteLength(body),
      });
      response.end(body);
    },
  };
}
