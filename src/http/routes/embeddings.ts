/** `POST /v1/embeddings`: OpenAI Embeddings, OpenAI-family embedding models only. */
import { decodeEmbeddings } from '../../gateway/decode.ts';
import { executeNative } from '../../gateway/execute.ts';
import { admit, authenticate, type GatewayServices, plan, settle } from '../../gateway/lifecycle.ts';
import { endpoints } from '../../gateway/request-context.ts';
import { readJsonObject } from '../read-body.ts';
import type { Route } from '../server.ts';

export function embeddingsRoute(services: GatewayServices): Route {
  return {
    method: 'POST',
    path: '/v1/embeddings',
    endpoint: endpoints.embeddings,
    handler: async function embeddings(context, request, response) {
      await authenticate(services, context, request);
      const decoded = decodeEmbeddings(await readJsonObject(request, services.settings.maxBodyBytes));
      const candidates = plan(services, context, decoded.model, { families: ['openai'], type: 'embeddings' });
      const reservation = await admit(services, context, decoded.body);
      try {
        await executeNative(services, context, response, decoded, candidates, {
          path: '/embeddings',
          format: 'openai',
          kind: 'embeddings',
        });
      } finally {
        await settle(services, context, reservation);
      }
    },
  };
}
