/**
 * `GET /healthz` (liveness: the process serves) and `GET /readyz` (readiness: the stores answer
 * and the gateway is not draining), for load balancers and orchestrators.
 */
import type { GatewayServices } from '../../gateway/lifecycle.ts';
import { endpoints } from '../../gateway/request-context.ts';
import { sendJson } from '../respond.ts';
import type { Route } from '../server.ts';

export function healthRoutes(services: GatewayServices, isDraining: () => boolean): Route[] {
  return [
    {
      method: 'GET',
      path: '/healthz',
      endpoint: endpoints.health,
      handler: async function liveness(_context, _request, response) {
        sendJson(response, 200, { status: 'ok' });
      },
    },
    {
      method: 'GET',
      path: '/readyz',
      endpoint: endpoints.health,
      handler: async function readiness(_context, _request, response) {
        if (isDraining()) {
          sendJson(response, 503, { status: 'draining' });
          return;
        }
        const { ready, checks } = await services.readiness();
        sendJson(response, ready ? 200 : 503, { status: ready ? 'ready' : 'unavailable', checks });
      },
    },
  ];
}
