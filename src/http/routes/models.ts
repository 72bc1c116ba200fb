/** `GET /v1/models`: the models the calling key may use, in OpenAI's list shape. */
import { modelGranted } from '../../gateway/authenticate.ts';
import { authenticate, type GatewayServices } from '../../gateway/lifecycle.ts';
import { endpoints } from '../../gateway/request-context.ts';
import { sendJson } from '../respond.ts';
import type { Route } from '../server.ts';

export function modelsRoute(services: GatewayServices): Route {
  return {
    method: 'GET',
    path: '/v1/models',
    endpoint: endpoints.models,
    handler: async function models(context, request, response) {
      const authenticated = authenticate(services, context, request);
      const principal = authenticated instanceof Promise ? await authenticated : authenticated;
      const data = [...services.config.models.values()]
        .filter((model) => modelGranted(principal, model.name))
        .map((model) => ({
          id: model.name,
          object: 'model',
          created: 0,
          owned_by: model.provider.name,
          type: model.type,
        }));
      sendJson(response, 200, { object: 'list', data });
    },
  };
}
