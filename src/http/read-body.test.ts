import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GatewayError } from '../errors.ts';
import { readJsonObject } from './read-body.ts';

const limitBytes = 4_096;

/** What the server saw of one request: the parsed body or the error code. */
interface Seen {
  body?: Record<string, unknown>;
  error?: string;
}

describe('reading a JSON request body', () => {
  const seen: Seen[] = [];
  const server = createServer((incoming: IncomingMessage, response) => {
    readJsonObject(incoming, limitBytes).then(
      (body) => {
        seen.push({ body });
        response.end('ok');
      },
      (error: unknown) => {
        seen.push({ error: error instanceof GatewayError ? error.code : String(error) });
        response.statusCode = error instanceof GatewayError ? error.status : 500;
        response.end();
      },
    );
  });
  let url = '';
  before(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(() => server.close());

  /** Sends `parts` as the body, `pauseMs` apart (chunked when there is more than one part). */
  async function send(
    parts: string[],
    pauseMs = 0,
    encoding: BufferEncoding = 'utf8',
  ): Promise<{ status: number; seen: Seen }> {
    const call = request(url, { method: 'POST', headers: { 'content-type': 'application/json' } });
    const answered = once(call, 'response') as Promise<[IncomingMessage]>;
    for (const [index, part] of parts.entries()) {
      if (index > 0 && pauseMs > 0) await sleep(pauseMs);
      if (index === parts.length - 1) call.end(part, encoding);
      else call.write(part, encoding);
    }
    const [response] = await answered;
    response.resume();
    await once(response, 'end');
    return { status: response.statusCode ?? 0, seen: seen.at(-1)! };
  }

  test('a body that came with its headers is parsed', async () => {
    const { status, seen: one } = await send(['{"model":"m","n":1}']);
    assert.equal(status, 200);
    assert.deepEqual(one.body, { model: 'm', n: 1 });
  });

  test('a body arriving in pieces is decoded once it is whole, characters split between pieces included', async () => {
    const text = 'é'.repeat(100);
    const bytes = Buffer.from(`{"model":"m","text":"${text}"}`);
    // Cut inside the two bytes of an é: decoding piece by piece would spoil it.
    const cut = bytes.indexOf(Buffer.from('é')) + 1;
    const pieces = [bytes.subarray(0, cut), bytes.subarray(cut)].map((piece) => piece.toString('latin1'));
    const { status, seen: slow } = await send(pieces, 30, 'latin1');
    assert.equal(status, 200);
    assert.deepEqual(slow.body, { model: 'm', text });
  });

  test('over the limit is refused either way, and malformed JSON is a 400', async () => {
    const big = `{"x":"${'y'.repeat(limitBytes)}"}`;
    const whole = await send([big]);
    assert.deepEqual([whole.status, whole.seen.error], [413, 'request_too_large']);
    const arriving = await send([big.slice(0, 1_000), big.slice(1_000)], 30);
    assert.deepEqual([arriving.status, arriving.seen.error], [413, 'request_too_large']);
    const broken = await send(['{"model":']);
    assert.deepEqual([broken.status, broken.seen.error], [400, 'invalid_request_body']);
    const empty = await send(['']);
    assert.deepEqual([empty.status, empty.seen.error], [400, 'invalid_request_body']);
  });
});
