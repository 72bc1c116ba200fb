/**
 * Reads a JSON request body with a size limit. An oversized body answers 413
 * `request_too_large` (checked against Content-Length before reading, and while reading for
 * chunked uploads); malformed JSON answers 400 `invalid_request_body`.
 */
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.ts';

export async function readBody(request: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = request.headers['content-length'];
  if (declared !== undefined && Number(declared) > limitBytes) throw tooLarge(limitBytes);
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received > limitBytes) throw tooLarge(limitBytes);
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
}

export async function readJsonObject(
  request: IncomingMessage,
  limitBytes: number,
): Promise<Record<string, unknown>> {
  const body = await readBody(request, limitBytes);
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new GatewayError('invalid_request_body', 'The request body is not valid JSON.');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new GatewayError('invalid_request_body', 'The request body must be a JSON object.');
  return value as Record<string, unknown>;
}

function tooLarge(limitBytes: number): GatewayError {
  return new GatewayError('request_too_large', `The request body exceeds the limit of ${limitBytes} bytes.`);
}
