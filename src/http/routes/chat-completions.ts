/** `POST /v1/chat/completions`: OpenAI Chat Completions, unary and SSE, OpenAI-family models only. */
import { decodeChatCompletions } from '../../gateway/decode.ts';
import { executeNative } from '../../gateway/execute.ts';
import { type GatewayServices, modelCall } from '../../gateway/lifecycle.ts';
import { endpoints } from '../../gateway/request-context.ts';
import type { Route } from '../server.ts';

const wire = { path: '/chat/completions', format: 'openai', kind: 'chat' } as const;

export function chatCompletionsRoute(services: GatewayServices): Route {
  return {
    method: 'POST',
    path: '/v1/chat/completions',
    endpoint: endpoints.chatCompletions,
    handler: function chatCompletions(context, request, response) {
      return modelCall(
        services,
        context,
        request,
        decodeChatCompletions,
        { families: ['openai'], type: 'chat' },
        (decoded, candidates) => executeNative(services, context, response, decoded, candidates, wire),
      );
    },
  };
}
