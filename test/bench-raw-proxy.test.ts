/**
 * bench/raw-proxy.ts: the raw-socket proxy the floor table measures the HTTP stack against
 * relays the benchmark's exchange as the bare proxy does, and refuses what it cannot frame
 * instead of passing it on half-read.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { Agent, fetch } from 'undici';
import { MessageFramer, startRawProxy } from '../bench/raw-proxy.ts';
import { type MockUpstream, startMockUpstream } from '../src/mock-upstream/server.ts';

describe('the raw-socket proxy', () => {
  let mock: MockUpstream;
  let proxy: Awaited<ReturnType<typeof startRawProxy>>;
  const agent = new Agent({ connections: 1, pipelining: 1 });
  const chat = {
    model: 'mock-gpt',
    messages: [{ role: 'user', content: 'Hello, raw proxy.' }],
    max_tokens: 16,
  };
  const call = (body: object, upstream = mock.url) =>
    fetch(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: 'Bearer sk-mock-upstream',
        'x-upstream': upstream,
      },
      body: JSON.stringify(body),
      dispatcher: agent,
    });

  before(async () => {
    mock = await startMockUpstream({ latencyMs: 0 });
    proxy = await startRawProxy({ host: '127.0.0.1', port: 0, upstream: undefined });
  });
  after(async () => {
    await agent.close();
    await proxy.close();
    await mock.close();
  });

  test('relays requests and answers on one kept-alive connection, without its own header', async () => {
    const connectionsBefore = mock.stats().connections;
    for (let index = 0; index < 3; index += 1) {
      const response = await call({ ...chat, max_tokens: 16 + index });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'application/json');
      const answer = (await response.json()) as { object: string; usage: { completion_tokens: number } };
      assert.equal(answer.object, 'chat.completion');
      const sent = mock.lastRequest()!;
      assert.equal(sent.headers.authorization, 'Bearer sk-mock-upstream');
      assert.equal(sent.headers['x-upstream'], undefined);
      assert.equal(sent.headers.host, new URL(mock.url).host);
      assert.deepEqual(JSON.parse(sent.bodyText), { ...chat, max_tokens: 16 + index });
    }
    assert.equal(mock.stats().connections - connectionsBefore, 1);
  });

  test('answers 502 for an upstream that is not there and for a stream, which has no length', async () => {
    const closed = await startMockUpstream({ latencyMs: 0 });
    const gone = closed.url;
    await closed.close();
    assert.equal((await call(chat, gone)).status, 502);
    const stream = await call({ ...chat, stream: true });
    assert.equal(stream.status, 502);
    assert.match(await stream.text(), /upstream failed/);
    // The connection is still good for the next request.
    assert.equal((await call(chat)).status, 200);
  });

  test('refuses a chunked request body with 501 and closes the connection', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const sent = httpRequest(`${proxy.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'x-upstream': mock.url, 'content-type': 'application/json' },
      });
      sent.on('response', (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      sent.on('error', reject);
      sent.write(JSON.stringify(chat));
      sent.end();
    });
    assert.equal(status, 501);
  });

  test('the framer waits for a whole message and keeps what follows it', () => {
    const framer = new MessageFramer(502);
    const answer = 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: 1\r\n\r\nhello';
    framer.push(Buffer.from(answer.slice(0, 20), 'latin1'));
    assert.equal(framer.next(), undefined);
    framer.push(Buffer.from(`${answer.slice(20)}${answer}`, 'latin1'));
    for (let index = 0; index < 2; index += 1) {
      const message = framer.next()!;
      assert.equal(message.startLine, 'HTTP/1.1 200 OK');
      assert.deepEqual(message.headerLines, ['content-length: 5', 'x-a: 1']);
      assert.equal(message.body.toString(), 'hello');
    }
    assert.equal(framer.next(), undefined);
    framer.push(Buffer.from('HTTP/1.1 200 OK\r\nx-a: 1\r\n\r\n', 'latin1'));
    assert.throws(() => framer.next(), { status: 502, message: 'an answer without Content-Length' });
  });
});
