/**
 * `POST /v1/llm/chat`: the unified endpoint. OpenAI-shaped request in, any provider family
 * behind; normalized JSON out, or OpenAI `chat.completion.chunk` SSE when streaming.
 */
import { decodeUnifiedChat } from '../../gateway/decode.ts';
import { executeUnified } from '../../gateway/execute.ts';
import { admit, authenticate, decodeAndPlan, type GatewayServices, settle } from '../../gateway/lifecycle.ts';
import { endpoints } from '../../gateway/request-context.ts';
import type { Route } from '../server.ts';

export function unifiedChatRoute(services: GatewayServices): Route {
  return {
    method: 'POST',
    path: '/v1/llm/chat',
    endpoint: endpoints.unifiedChat,
    handler: async function unifiedChat(context, request, response) {
      await authenticate(services, context, request);
      const { decoded, candidates } = await decodeAndPlan(services, context, request, decodeUnifiedChat, {
        families: ['openai', 'anthropic', 'gemini'],
        type: 'chat',
      });
      const reservation = await admit(services, context, decoded.body);
      try {
        await executeUnified(services, context, response, decoded, candidates);
      } finally {
        await settle(services, context, reservation);
      }
    },
  };
}
