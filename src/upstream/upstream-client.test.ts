import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { queryObjects, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { UpstreamClient, UpstreamFailure } from './upstream-client.ts';

// node --test runs each file in a process of its own: `gc` for this file's retention test.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const bigChunks = 128;
const bigChunk = 64 * 1024;
/** What the upstream saw: requests per path, and `/big` answers cut before their end. */
const seen = { paths: [] as string[], bigCut: 0, hugeSent: 0 };

/**
 * `/fast` answers at once; `/trickle` sends headers, then a byte every 50 ms for 2 s; `/big`
 * sends 8 MiB in 64 KiB chunks as fast as the socket takes them (`/huge`: 64 MiB); `/reset`
 * sends headers and part of a body, then destroys the connection.
 */
function startUpstream(): Promise<Server> {
  const server = createServer((request, response) => {
    request.resume();
    seen.paths.push(request.url ?? '');
    if (request.url === '/big' || request.url === '/huge') {
      const huge = request.url === '/huge';
      const chunks = huge ? bigChunks * 8 : bigChunks;
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      let sent = 0;
      const pump = () => {
        while (sent < chunks) {
          const accepted = response.write(Buffer.alloc(bigChunk, sent % 251));
          sent += 1;
          if (huge) seen.hugeSent = sent;
          if (!accepted) {
            response.once('drain', pump);
            return;
          }
        }
        response.end();
      };
      response.on('close', () => {
        if (sent < chunks && !huge) seen.bigCut += 1;
      });
      pump();
      return;
    }
    if (request.url === '/reset') {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      response.write('{"partial":');
      setTimeout(() => response.socket?.destroy(), 20);
      return;
    }
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

  const call = (
    path: string,
    timeoutMs: number,
    signal = new AbortController().signal,
    through: UpstreamClient = client,
  ) =>
    through.send({
      baseUrl: base,
      path,
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

  test("a finished call's body keeps nothing of undici: its request and the answer's raw header buffers are collectable", async () => {
    // undici publishes both on this channel; only weak references are kept of them here.
    const undiciObjects: Array<WeakRef<object>> = [];
    const onHeaders = (message: unknown) => {
      const { request, response } = message as { request: object; response: { headers: object } };
      undiciObjects.push(new WeakRef(request), new WeakRef(response.headers));
    };
    diagnosticsChannel.subscribe('undici:request:headers', onHeaders);
    let response: Awaited<ReturnType<typeof call>>;
    try {
      response = await call('/fast', 60_000);
      assert.equal(await response.body.text(), '{"ok":true}');
    } finally {
      diagnosticsChannel.unsubscribe('undici:request:headers', onHeaders);
    }
    assert.equal(undiciObjects.length, 2);
    // The answer is still held (a route keeps it until its response is written, or longer).
    await delay(10);
    collectGarbage();
    await delay(0);
    collectGarbage();
    assert.deepEqual(
      undiciObjects.map((reference) => reference.deref() === undefined),
      [true, true],
      "undici's request and raw headers were collected",
    );
    assert.equal(response.status, 200);
  });

  test("an answer still being read keeps none of undici's raw header buffers", async () => {
    // A stream can last minutes and a gateway holds thousands: the header bytes (views of the
    // socket read they came in, which they keep alive) must not live as long as the call.
    const rawHeaders: Array<WeakRef<object>> = [];
    const onHeaders = (message: unknown) => {
      rawHeaders.push(new WeakRef((message as { response: { headers: object } }).response.headers));
    };
    diagnosticsChannel.subscribe('undici:request:headers', onHeaders);
    let response: Awaited<ReturnType<typeof call>>;
    try {
      response = await call('/trickle', 60_000);
    } finally {
      diagnosticsChannel.unsubscribe('undici:request:headers', onHeaders);
    }
    let chunks = 0;
    let firstChunk!: () => void;
    const started = new Promise<void>((resolve) => {
      firstChunk = resolve;
    });
    const reading = response.body.forEachChunk(() => {
      chunks += 1;
      firstChunk();
      return true;
    });
    await started;
    await delay(10);
    collectGarbage();
    await delay(0);
    collectGarbage();
    assert.equal(rawHeaders.length, 1);
    assert.equal(rawHeaders[0]!.deref(), undefined, 'the raw header buffers were collected mid-answer');
    const chunksBefore = chunks;
    for (let waited = 0; chunks === chunksBefore && waited < 2_000; waited += 10) await delay(10);
    assert.ok(chunks > chunksBefore, 'the answer is still being read');
    response.body.destroy();
    await reading.catch(() => {});
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

  test('the whole-exchange deadline counts the wait for a free connection, and a call it ends there is never sent', async () => {
    const single = new UpstreamClient({ connectTimeoutMs: 1_000, connections: 1 });
    try {
      // The only connection is busy for 2 s with a trickling answer.
      const busy = await call('/trickle', 10_000, undefined, single);
      const reading = busy.body.text();
      const sentBefore = seen.paths.filter((path) => path === '/fast').length;
      const started = performance.now();
      await assert.rejects(call('/fast', 300, undefined, single), (error: unknown) => {
        assert.ok(error instanceof UpstreamFailure, String(error));
        assert.equal(error.kind, 'timeout');
        return true;
      });
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 250 && elapsed < 1_500, `cut after ${elapsed} ms in the queue`);
      await reading;
      await delay(100);
      assert.equal(
        seen.paths.filter((path) => path === '/fast').length,
        sentBefore,
        'the queued call went out',
      );
    } finally {
      await single.close();
    }
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

  test('a reader that stops early cancels the call: the upstream sees its answer cut', async () => {
    const cutBefore = seen.bigCut;
    const response = await call('/big', 10_000);
    await assert.rejects(
      response.body.forEachChunk((chunk) => {
        assert.ok(chunk.length > 0);
        response.body.destroy();
        return false;
      }),
      UpstreamFailure,
    );
    for (let waited = 0; seen.bigCut === cutBefore && waited < 2_000; waited += 10) await delay(10);
    assert.equal(seen.bigCut, cutBefore + 1);
  });

  test('an unread body is not buffered without bound: undici stops reading the socket', async () => {
    const response = await call('/huge', 10_000);
    await delay(300);
    // 64 MiB were offered at once; with reading paused, the upstream is held back by full
    // socket buffers (a few MiB on loopback) instead of everything piling up in the gateway.
    const sent = seen.hugeSent * bigChunk;
    assert.ok(sent < 32 * 1024 * 1024, `the upstream got ${sent} bytes out while nobody read`);
    assert.equal((await response.body.bytes()).length, bigChunks * 8 * bigChunk);
  });

  /** Checks that `chunk` holds /big's bytes from offset `received` on. */
  const assertBigBytes = (chunk: Buffer, received: number) => {
    for (let at = 0; at < chunk.length; at++) {
      const expected = Math.floor((received + at) / bigChunk) % 251;
      if (chunk[at] !== expected) assert.fail(`byte ${received + at} is ${chunk[at]}, not ${expected}`);
    }
  };

  test('a body read chunk by chunk arrives whole and in order while the reader is slower than the socket', async () => {
    const response = await call('/big', 10_000);
    let index = 0;
    let received = 0;
    let pauses = 0;
    let deliveredWhilePaused = 0;
    let paused = false;
    await response.body.forEachChunk((chunk) => {
      if (paused) deliveredWhilePaused += 1;
      assertBigBytes(chunk, received);
      received += chunk.length;
      if (index++ % 16 !== 0) return true;
      // The reader falls behind for a while: it pauses the body and resumes 5 ms later.
      pauses += 1;
      paused = true;
      setTimeout(() => {
        paused = false;
        response.body.resume();
      }, 5);
      return false;
    });
    assert.equal(received, bigChunks * bigChunk);
    assert.ok(pauses > 0, 'the consumer paused the body');
    assert.equal(deliveredWhilePaused, 0, 'no chunk reached the consumer while it had paused the body');
  });

  test('forEachChunk first hands over what arrived before it was called', async () => {
    const response = await call('/big', 10_000);
    await delay(100);
    let received = 0;
    await response.body.forEachChunk((chunk) => {
      assertBigBytes(chunk, received);
      received += chunk.length;
      return true;
    });
    assert.equal(received, bigChunks * bigChunk);
  });

  test('a paused forEachChunk holds undici back: the upstream stops at full socket buffers', async () => {
    const response = await call('/huge', 10_000);
    let received = 0;
    let release!: () => void;
    const pausedOnce = new Promise<void>((resolve) => {
      release = resolve;
    });
    let pausedBefore = false;
    const reading = response.body.forEachChunk((chunk) => {
      received += chunk.length;
      if (pausedBefore) return true;
      pausedBefore = true;
      release();
      return false;
    });
    await pausedOnce;
    await delay(300);
    const sent = seen.hugeSent * bigChunk;
    assert.ok(sent < 32 * 1024 * 1024, `the upstream got ${sent} bytes out while the consumer had paused`);
    response.body.resume();
    await reading;
    assert.equal(received, bigChunks * 8 * bigChunk);
  });

  test('a consumer that throws in forEachChunk stops the call', async () => {
    const cutBefore = seen.bigCut;
    const thrown = new Error('the consumer failed');
    const failing = await call('/big', 10_000);
    let calls = 0;
    await assert.rejects(
      failing.body.forEachChunk(() => {
        calls += 1;
        throw thrown;
      }),
      (error: unknown) => error === thrown,
    );
    await delay(50);
    assert.equal(calls, 1, 'the consumer got no chunk after it threw');
    for (let waited = 0; seen.bigCut === cutBefore && waited < 2_000; waited += 10) await delay(10);
    assert.equal(seen.bigCut, cutBefore + 1, 'the upstream saw its answer cut');
  });

  test('forEachChunk settles on an answer that ended before it was called: paused, then resumed, or destroyed', {
    timeout: 5_000,
  }, async () => {
    const paused = await call('/fast', 10_000);
    await delay(50);
    let text = '';
    const reading = paused.body.forEachChunk((chunk) => {
      text += chunk.toString();
      return false;
    });
    let settled = false;
    void reading.then(() => {
      settled = true;
    });
    await delay(20);
    assert.equal(settled, false, 'a paused consumer is not told the end before it resumes');
    paused.body.resume();
    await reading;
    assert.equal(text, '{"ok":true}');

    const destroyed = await call('/fast', 10_000);
    await delay(50);
    await assert.rejects(
      destroyed.body.forEachChunk(() => {
        destroyed.body.destroy();
        return false;
      }),
      UpstreamFailure,
    );
  });

  test('forEachChunk rejects when the connection is lost in the middle of the body', async () => {
    const response = await call('/reset', 10_000);
    let received = '';
    await assert.rejects(
      response.body.forEachChunk((chunk) => {
        received += chunk.toString();
        return true;
      }),
    );
    assert.equal(received, '{"partial":');
  });

  test('a body is read once', async () => {
    const response = await call('/fast', 10_000);
    assert.equal(await response.body.text(), '{"ok":true}');
    assert.throws(() => response.body.bytes(), /already read/);
  });

  test('a connection lost in the middle of the body fails its reader', async () => {
    const response = await call('/reset', 10_000);
    assert.equal(response.status, 200);
    await assert.rejects(response.body.bytes(), (error: unknown) => {
      assert.ok(!(error instanceof UpstreamFailure && error.kind === 'timeout'), String(error));
      return true;
    });
  });

  test('a call aborted while it waits for a connection settles at once and is never sent', async () => {
    const single = new UpstreamClient({ connectTimeoutMs: 1_000, connections: 1 });
    try {
      const holding = await call('/trickle', 10_000, undefined, single);
      const controller = new AbortController();
      const sentBefore = seen.paths.filter((path) => path === '/fast').length;
      const queued = call('/fast', 10_000, controller.signal, single);
      setTimeout(() => controller.abort(), 50);
      const started = performance.now();
      await assert.rejects(queued, (error: unknown) => {
        assert.ok(error instanceof UpstreamFailure, String(error));
        assert.equal(error.kind, 'aborted');
        return true;
      });
      assert.ok(performance.now() - started < 1_000, 'settled before the connection was free');
      holding.body.destroy();
      // The freed connection takes the queued call, which is cancelled before it is written.
      await delay(200);
      assert.equal(seen.paths.filter((path) => path === '/fast').length, sentBefore);
    } finally {
      await single.destroy();
    }
  });
});
