/**
 * `POST /v1/llm/chat`: the unified endpoint. OpenAI-shaped request in, any provider family
 * behind; normalized JSON out, or OpenAI `chat.completion.chunk` SSE when streaming.
 */
import { decodeUnifiedChat } from '../../gateway/decode.ts';
import { executeUnified } from '../../gateway/execute.ts';
import { type GatewayServices, modelCall } from '../../gateway/lifecycle.ts';
import { endpoints } from '../../gateway/request-context.ts';
import type { Route } from '../server.ts';

export function unifiedChatRoute(services: GatewayServices): Route {
  return {
    method: 'POST',
    path: '/v1/llm/chat',
    endpoint: endpoints.unifiedChat,
    handler: function unifiedChat(context, request, response) {
      return modelCall(
        services,
        context,
        request,
        decodeUnifiedChat,
        { families: ['openai', 'anthropic', 'gemini'], type: 'chat' },
        (decoded, candidates) => executeUnified(services, context, response, decoded, candidates),
      );
    },
  };
}
