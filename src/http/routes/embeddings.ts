/** `POST /v1/embeddings`: OpenAI Embeddings, OpenAI-family embedding models only. */
import { decodeEmbeddings } from '../../gateway/decode.ts';
import { executeNative } from '../../gateway/execute.ts';
import { type GatewayServices, modelCall } from '../../gateway/lifecycle.ts';
import { endpoints } from '../../gateway/request-context.ts';
import type { Route } from '../server.ts';

const wire = { path: '/embeddings', format: 'openai', kind: 'embeddings' } as const;

export function embeddingsRoute(services: GatewayServices): Route {
  return {
    method: 'POST',
    path: '/v1/embeddings',
    endpoint: endpoints.embeddings,
    handler: function embeddings(context, request, response) {
      return modelCall(
        services,
        context,
        request,
        decodeEmbeddings,
        { families: ['openai'], type: 'embeddings' },
        (decoded, candidates) => executeNative(services, context, response, decoded, candidates, wire),
      );
    },
  };
}
