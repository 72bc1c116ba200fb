/** `POST /v1/chat/completions`: OpenAI Chat Completions, unary and SSE, OpenAI-family models only. */
import { decodeChatCompletions } from '../../gateway/decode.ts';
import { executeNative } from '../../gateway/execute.ts';
import { admit, authenticate, decodeAndPlan, type GatewayServices, settle } from '../../gateway/lifecycle.ts';
import { endpoints } from '../../gateway/request-context.ts';
import type { Route } from '../server.ts';

export function chatCompletionsRoute(services: GatewayServices): Route {
  return {
    method: 'POST',
    path: '/v1/chat/completions',
    endpoint: endpoints.chatCompletions,
    handler: async function chatCompletions(context, request, response) {
      await authenticate(services, context, request);
      const { decoded, candidates } = await decodeAndPlan(services, context, request, decodeChatCompletions, {
        families: ['openai'],
        type: 'chat',
      });
      const reservation = await admit(services, context, decoded.body);
      try {
        await executeNative(services, context, response, decoded, candidates, {
          path: '/chat/completions',
          format: 'openai',
          kind: 'chat',
        });
      } finally {
        await settle(services, context, reservation);
      }
    },
  };
}
