import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { adapterFor } from '../providers/registry.ts';
import type { UpstreamResponse } from '../upstream/upstream-client.ts';
import { chatCompletionsContext } from './request-context-fixture.ts';
import { relayStream, type StreamRelayResult } from './stream-relay.ts';

const events = 400;
const filler = 'x'.repeat(16 * 1024);

/**
 * An upstream body that hands over one chunk per turn of the event loop, as socket reads do, and
 * stops while its consumer has paused it (`forEachChunk` returning false, until `resume`).
 */
function pushedBody(chunks: Iterable<Buffer>) {
  const iterator = chunks[Symbol.iterator]();
  let onChunk: ((chunk: Buffer) => boolean) | undefined;
  let settle: { resolve: () => void; reject: (error: unknown) => void } | undefined;
  let paused = false;
  let scheduled = false;
  const pump = () => {
    scheduled = false;
    if (paused || settle === undefined) return;
    const next = iterator.next();
    if (next.done) {
      settle.resolve();
      settle = undefined;
      return;
    }
    paused = !onChunk!(next.value);
    if (!paused) schedule();
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(pump);
  };
  return {
    forEachChunk(consumer: (chunk: Buffer) => boolean): Promise<void> {
      onChunk = consumer;
      return new Promise<void>((resolve, reject) => {
        settle = { resolve, reject };
        schedule();
      });
    },
    resume() {
      paused = false;
      schedule();
    },
    destroy(error?: Error) {
      settle?.reject(error ?? new Error('destroyed'));
      settle = undefined;
    },
  };
}

/** An OpenAI stream of `events` chunks of 16 KiB content each (6.4 MiB), then usage and [DONE]. */
function upstreamBody() {
  function* chunks() {
    for (let index = 0; index < events; index++)
      yield Buffer.from(
        `data: ${JSON.stringify({ id: 'c1', model: 'm', choices: [{ index: 0, delta: { content: `${index}:${filler}` } }] })}\n\n`,
      );
    yield Buffer.from(
      `data: ${JSON.stringify({ id: 'c1', model: 'm', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`,
    );
    yield Buffer.from('data: [DONE]\n\n');
  }
  return pushedBody(chunks());
}

let server: Server;
let port: number;
const results: StreamRelayResult[] = [];
let pushedBack = 0;
/** The most bytes the server's response ever held unsent: bounded only if the relay waits. */
let maxBuffered = 0;

before(async () => {
  server = createServer((request, response) => {
    request.resume();
    const abort = new AbortController();
    response.once('close', () => {
      if (!response.writableFinished) abort.abort();
    });
    const write = response.write.bind(response) as (chunk: string) => boolean;
    response.write = ((chunk: string) => {
      const accepted = write(chunk);
      if (!accepted) pushedBack += 1;
      maxBuffered = Math.max(maxBuffered, response.writableLength);
      return accepted;
    }) as typeof response.write;
    const context = chatCompletionsContext('r1', { signal: abort.signal });
    const upstream = { status: 200, headers: {}, body: upstreamBody() } as unknown as UpstreamResponse;
    void relayStream(context, response, upstream, adapterFor('openai'), {
      kind: 'native',
      format: 'openai',
      dropUsageOnlyChunks: false,
    }).then((result) => results.push(result));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(() => server.close());

test('a client that reads slowly gets every event in order: the relay waits for the socket', async () => {
  const text = await new Promise<string>((resolve, reject) => {
    const call = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/' }, (response) => {
      const parts: string[] = [];
      response.setEncoding('utf8');
      // Read nothing for a while so the server's socket buffer fills, then drain slowly.
      response.pause();
      setTimeout(() => {
        response.on('data', async (part: string) => {
          parts.push(part);
          response.pause();
          await delay(1);
          response.resume();
        });
        response.resume();
      }, 300);
      response.on('end', () => resolve(parts.join('')));
      response.on('error', reject);
    });
    call.on('error', reject);
    call.end('{}');
  });
  assert.ok(pushedBack > 0, 'the socket pushed back at least once');
  // 6.4 MiB went through; without waiting for 'drain' nearly all of it would queue in memory.
  assert.ok(maxBuffered < 512 * 1024, `at most ${maxBuffered} bytes waited in the response`);
  const data = text
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => line.slice(6));
  assert.equal(data.length, events + 2);
  for (let index = 0; index < events; index++)
    assert.ok(
      JSON.parse(data[index]!).choices[0].delta.content.startsWith(`${index}:`),
      `event ${index} in place`,
    );
  assert.equal(data.at(-1), '[DONE]');
  for (let waited = 0; results.length === 0 && waited < 2_000; waited += 10) await delay(10);
  assert.equal(results[0]?.outcome, 'completed');
  // 6.4 MiB of text went through; the relay accounts for it and keeps none of it.
  assert.equal(results[0]!.accumulator.result().content, '');
  assert.equal(results[0]!.accumulator.result().stopReason, 'stop');
});
