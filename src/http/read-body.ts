/**
 * Reads a JSON request body with a size limit. An oversized body answers 413
 * `request_too_large` (checked against Content-Length before reading, and while reading for
 * chunked uploads); malformed JSON answers 400 `invalid_request_body`.
 */
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { GatewayError } from '../errors.ts';

/**
 * The request body as a JSON object: `invalid_request_body` when it is not valid JSON or not an
 * object. Parsed as the body ends, in the promise that reads it: no second promise, and no
 * microtask turn between the last chunk and the parse.
 */
export function readJsonObject(
  request: IncomingMessage,
  limitBytes: number,
): Promise<Record<string, unknown>> {
  const declared = request.headers['content-length'];
  if (declared !== undefined && Number(declared) > limitBytes) return Promise.reject(tooLarge(limitBytes));
  return readStream(request, limitBytes, () => tooLarge(limitBytes), parseJsonObject);
}

/**
 * Every chunk of `stream` as one Buffer (a single chunk is returned without a copy), resolved
 * as `complete` makes it (a throw from it rejects); more than `limitBytes` rejects with
 * `tooLarge()`, and a stream closed before its end rejects. Listeners rather than `for await`:
 * no async iterator and no promise per chunk.
 */
function readStream<T>(
  stream: Readable,
  limitBytes: number,
  tooLarge: () => Error,
  complete: (body: Buffer) => T,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limitBytes) {
        finish();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      finish();
      try {
        resolve(complete(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received)));
      } catch (error) {
        reject(error);
      }
    };
    const onError = (error: Error) => {
      finish();
      reject(error);
    };
    const onClose = () => {
      finish();
      reject(new Error('the stream closed before its end (the peer went away)'));
    };
    const finish = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}

function parseJsonObject(body: Buffer): Record<string, unknown> {
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
