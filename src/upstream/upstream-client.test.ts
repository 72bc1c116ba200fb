import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { queryObjects } from 'node:v8';
import { UpstreamClient, UpstreamFailure } from './upstream-client.ts';

/** `/fast` answers at once; `/trickle` sends headers, then a byte every 50 ms for 2 s. */
function startUpstream(): Promise<Server> {
  const server = createServer((request, response) => {
    request.resume();
    if (request.url === '/trickle') {
      response.writeHead(200, { 'content-type': 'application/json' });
      let sent = 0;
      const timer = setInterval(() => {
        if (response.destroyed || sent === 40) {
          clearInterval(timer);
          response.end();
          return;
        }
        response.write(' ');
        sent += 1;
      }, 50);
      response.on('close', () => clearInterval(timer));
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end('{"ok":true}');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Live AbortSignals after a full collection (`v8.queryObjects` collects first). */
function liveSignals(): number {
  return queryObjects(AbortSignal, { format: 'count' }) as number;
}

describe('upstream client', () => {
  let server: Server;
  let base: string;
  const client = new UpstreamClient({ connectTimeoutMs: 1_000 });

  before(async () => {
    server = await startUpstream();
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await client.close();
    server.close();
  });

  const call = (path: string, timeoutMs: number, signal = new AbortController().signal) =>
    client.send({
      url: base + path,
      headers: { 'content-type': 'application/json' },
      body: '{}',
      timeoutMs,
      totalDeadline: true,
      signal,
    });

  test('a finished unary call leaves no deadline timer or signal alive', async () => {
    const before = liveSignals();
    for (let index = 0; index < 50; index++) {
      const response = await call('/fast', 60_000);
      assert.equal(response.status, 200);
      assert.equal(await response.body.text(), '{"ok":true}');
    }
    // A deadline kept alive for the model's timeout would hold its signal (and a timer) for 60 s.
    const after = liveSignals();
    assert.ok(after - before < 10, `live AbortSignals before ${before}, after ${after}`);
  });

  test('the whole-exchange deadline cuts a body that keeps trickling within the silence timeout', async () => {
    const started = performance.now();
    const response = await call('/trickle', 400);
    await assert.rejects(response.body.text(), (error: unknown) => {
      assert.ok(error instanceof UpstreamFailure, String(error));
      assert.equal(error.kind, 'timeout');
      return true;
    });
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 350 && elapsed < 1_500, `cut after ${elapsed} ms`);
  });

  test("the client's abort cancels the call as 'aborted'", async () => {
    const controller = new AbortController();
    const response = await call('/trickle', 10_000, controller.signal);
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(response.body.text());
    await assert.rejects(call('/fast', 10_000, controller.signal), (error: unknown) => {
      assert.ok(error instanceof UpstreamFailure);
      assert.equal(error.kind, 'aborted');
      return true;
    });
  });
});
