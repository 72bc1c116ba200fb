/** `POST /v1/embeddings`: OpenAI Embeddings, OpenAI-family embedding models only. */
import { decodeEmbeddings } from '../../gateway/decode.ts';
import { executeNative } from '../../gateway/execute.ts';
import { admit, authenticate, decodeAndPlan, type GatewayServices, settle } from '../../gateway/lifecycle.ts';
import { endpoints } from '../../gateway/request-context.ts';
import type { Route } from '../server.ts';

export function embeddingsRoute(services: GatewayServices): Route {
  return {
    method: 'POST',
    path: '/v1/embeddings',
    endpoint: endpoints.embeddings,
    handler: async function embeddings(context, request, response) {
      await authenticate(services, context, request);
      const { decoded, candidates } = await decodeAndPlan(services, context, request, decodeEmbeddings, {
        families: ['openai'],
        type: 'embeddings',
      });
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
