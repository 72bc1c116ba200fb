/**
 * Test helper (not part of the server): a tiny WHATWG-conformant SSE parser and HTTP calls
 * that expose what a gateway would see, resets included. It is deliberately independent of
 * src/providers, so the mock's wire format is checked against the SSE spec, not against the
 * code it exists to test.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';

export interface ParsedEvent {
  event: string | undefined;
  data: string;
}

/** Parses a complete event stream: CRLF, LF or CR line ends, multi-line data, comments. */
export function parseEventStream(text: string): ParsedEvent[] {
  const events: ParsedEvent[] = [];
  let event: string | undefined;
  let data: string[] = [];
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === '') {
      if (data.length > 0) events.push({ event, data: data.join('\n') });
      event = undefined;
      data = [];
      continue;
    }
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return events;
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Everything received, even when the connection failed afterwards. */
  text: string;
  /** The socket error that ended the exchange, if any (code ECONNRESET for a reset). */
  error: NodeJS.ErrnoException | undefined;
  /** Milliseconds from sending the request to the response headers. */
  headersAfterMs: number;
  /** Milliseconds from sending to each received chunk. */
  chunkTimesMs: number[];
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: unknown;
  signal?: AbortSignal;
}

/**
 * One request on a fresh connection (no pool, so a reset never leaks into another test).
 * Resolves with whatever arrived and the error that cut it short; rejects only when nothing
 * arrived at all (no response headers), with that error.
 */
export function send(baseUrl: string, path: string, options: SendOptions = {}): Promise<RawResponse> {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const request = httpRequest(new URL(path, baseUrl), {
      method: options.method ?? (body === undefined ? 'GET' : 'POST'),
      agent: false,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
      signal: options.signal,
    });
    request.once('error', reject);
    request.once('response', (response) => {
      const result: RawResponse = {
        status: response.statusCode ?? 0,
        headers: response.headers,
        text: '',
        error: undefined,
        headersAfterMs: performance.now() - started,
        chunkTimesMs: [],
      };
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        result.text += chunk;
        result.chunkTimesMs.push(performance.now() - started);
      });
      // After the headers, a socket failure is reported on the request and on the response.
      const fail = (error: NodeJS.ErrnoException): void => {
        result.error ??= error;
        resolve(result);
      };
      request.off('error', reject);
      request.once('error', fail);
      response.once('error', fail);
      response.once('end', () => resolve(result));
    });
    request.end(body);
  });
}

/** Sends and parses a JSON answer. */
export async function sendJson(
  baseUrl: string,
  path: string,
  options: SendOptions = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Record<string, unknown> }> {
  const response = await send(baseUrl, path, options);
  if (response.error !== undefined) throw response.error;
  return { status: response.status, headers: response.headers, body: JSON.parse(response.text) };
}

/** The data of each `data:` event parsed as JSON, `[DONE]` kept as the string. */
export function eventData(events: readonly ParsedEvent[]): unknown[] {
  return events.map((event) => (event.data === '[DONE]' ? event.data : JSON.parse(event.data)));
}

export function delay(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}
