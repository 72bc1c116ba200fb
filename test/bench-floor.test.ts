/**
 * bench/floor-proxy.ts: the floor the benchmark measures odock-server against does the work
 * its levels name (a table of CPU per request is only worth what the proxy behind it does).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFloorProxy } from '../bench/floor-proxy.ts';
import { type MockUpstream, startMockUpstream } from '../src/mock-upstream/server.ts';

describe('the floor proxy at level 6', () => {
  let mock: MockUpstream;
  let proxy: Awaited<ReturnType<typeof startFloorProxy>>;
  const call = (headers: Record<string, string>, body: object) =>
    fetch(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-upstream': mock.url, ...headers },
      body: JSON.stringify(body),
    });
  const chat = { model: 'mock-gpt', messages: [{ role: 'user', content: 'Hello, floor.' }], max_tokens: 16 };

  before(async () => {
    mock = await startMockUpstream({ latencyMs: 0 });
    proxy = await startFloorProxy({ host: '127.0.0.1', port: 0, level: 6 });
  });
  after(async () => {
    await proxy.close();
    await mock.close();
  });

  test('forwards with the provider key, relays the answer and counts its tokens', async () => {
    const response = await call({ authorization: 'Bearer sk-mock-upstream' }, chat);
    assert.equal(response.status, 200);
    const requestId = response.headers.get('x-request-id');
    assert.match(requestId ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const answer = (await response.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
    const sent = mock.lastRequest()!;
    assert.equal(sent.headers.authorization, 'Bearer sk-mock-upstream');
    assert.equal(sent.headers['x-request-id'], requestId);
    assert.deepEqual(JSON.parse(sent.bodyText), chat);
    const exposition = await proxy.registry.metrics();
    const counted = (tokenClass: string) =>
      Number(
        new RegExp(`^tokens_total\\{[^}]*token_class="${tokenClass}"\\} (\\d+)$`, 'm').exec(exposition)?.[1],
      );
    assert.equal(counted('input'), answer.usage.prompt_tokens);
    assert.equal(counted('output'), answer.usage.completion_tokens);
  });

  test('refuses an unknown key, an unknown model and a stream before any upstream call', async () => {
    const before = mock.stats().requests;
    assert.equal((await call({ authorization: 'Bearer sk-wrong' }, chat)).status, 401);
    assert.equal(
      (await call({ authorization: 'Bearer sk-mock-upstream' }, { ...chat, model: 'other' })).status,
      404,
    );
    assert.equal(
      (await call({ authorization: 'Bearer sk-mock-upstream' }, { ...chat, stream: true })).status,
      400,
    );
    assert.equal(mock.stats().requests, before);
  });
});
