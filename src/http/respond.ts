/**
 * Response helpers. Every response carries `X-Request-Id` (set by the server before a handler
 * runs); errors are one JSON shape, `{"error": {"code", "message", ...}}`, from the registry.
 */
import type { ServerResponse } from 'node:http';
import { GatewayError, toGatewayError } from '../errors.ts';
import type { RequestContext } from '../gateway/request-context.ts';

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
  });
  response.end(payload);
}

/** Sends a raw JSON text received from upstream without re-serialising it. */
export function sendJsonText(response: ServerResponse, status: number, payload: string | Buffer): void {
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length,
  });
  response.end(payload);
}

/**
 * Answers with the registry's status and code. A non-GatewayError becomes `internal_error`:
 * its message and stack stay in the process.
 */
export function sendError(context: RequestContext, response: ServerResponse, error: unknown): GatewayError {
  const gatewayError = toGatewayError(error);
  context.outcome.status = gatewayError.status;
  context.outcome.errorCode = gatewayError.code;
  if (response.headersSent || response.destroyed) return gatewayError;
  if (gatewayError.details?.retry_after !== undefined)
    response.setHeader('retry-after', String(Math.ceil(gatewayError.details.retry_after)));
  if (gatewayError.code === 'request_too_large') response.setHeader('connection', 'close');
  sendJson(response, gatewayError.status, gatewayError.toBody());
  return gatewayError;
}

export { GatewayError };
