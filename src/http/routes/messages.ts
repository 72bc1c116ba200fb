/**
 * `POST /v1/messages`: Anthropic Messages, unary and SSE events, Anthropic-family models only.
 * The Anthropic SDK's base URL is the gateway without `/v1`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { decodeMessages } from '../../gateway/decode.ts';
import { executeNative } from '../../gateway/execute.ts';
import { type GatewayServices, modelCall } from '../../gateway/lifecycle.ts';
import { endpoints } from '../../gateway/request-context.ts';
import type { Route } from '../server.ts';

/** Anthropic requires a version header; the client's own choice (and its beta flags) is forwarded. */
const defaultAnthropicVersion = '2023-06-01';

export function messagesRoute(services: GatewayServices): Route {
  return {
    method: 'POST',
    path: '/v1/messages',
    endpoint: endpoints.messages,
    handler: function messages(context, request, response) {
      // The Anthropic SDK reads `request-id` (its `requestID`); it carries the same id as X-Request-Id.
      response.setHeader('request-id', context.requestId);
      return modelCall(
        services,
        context,
        request,
        decodeMessages,
        { families: ['anthropic'], type: 'chat' },
        (decoded, candidates) =>
          executeNative(services, context, response, decoded, candidates, {
            path: '/v1/messages',
            format: 'anthropic',
            kind: 'chat',
            forwardHeaders: anthropicHeaders(request.headers),
          }),
      );
    },
  };
}

function anthropicHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const forwarded: Record<string, string> = {
    'anthropic-version':
      typeof headers['anthropic-version'] === 'string'
        ? headers['anthropic-version']
        : defaultAnthropicVersion,
  };
  if (typeof headers['anthropic-beta'] === 'string') forwarded['anthropic-beta'] = headers['anthropic-beta'];
  return forwarded;
}
