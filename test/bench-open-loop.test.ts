/**
 * The benchmark's open loop counts what went wrong by kind: a request answered with an error
 * and a request never answered are both errors, and the never-answered ones are told apart (a
 * system past its capacity leaves requests unanswered; one that refuses answers them).
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { runOpenLoopInProcess } from '../bench/open-loop.ts';

describe('benchmark open loop', () => {
  let arrived = 0;
  let refused = 0;
  let ignored = 0;
  // Of every four requests: one gets no answer, one a 500, two a 200.
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    request.resume();
    request.on('end', () => {
      const turn = arrived++ % 4;
      if (turn === 0) {
        ignored++;
        return;
      }
      if (turn === 1) {
        refused++;
        response.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"refused"}');
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('counts unanswered requests among the errors, apart from error answers', async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const result = await runOpenLoopInProcess({
      request: { url: `http://127.0.0.1:${port}/v1/chat/completions`, headers: {}, body: '{}' },
      rate: 200,
      durationS: 1,
      warmupS: 0,
      timeoutMs: 200,
    });
    // No warm-up: every request the server saw was scheduled in the measured window.
    assert.equal(result.requests, arrived);
    assert.ok(arrived >= 150, `the loop sent about 200 requests (sent ${arrived})`);
    assert.equal(result.unanswered, ignored);
    assert.equal(result.errors, ignored + refused);
    assert.ok(ignored > 0 && refused > 0);
    // Only the answered 200s have a latency.
    assert.equal(result.rps * result.durationS, arrived - ignored - refused);
  });
});
