/**
 * The benchmark's stream load: with `staggerMs` its clients start their first streams spread
 * over that time instead of all at once, and each stream's time to first token is still read
 * from the first event that carries content. With `turns`, one connection's streams take turns
 * between targets, each turn led by streams that are not counted.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  type LoadResult,
  parseResultLine,
  progressLinePrefix,
  resultLinePrefix,
} from '../bench/load-result.ts';
import { run } from '../bench/processes.ts';
import { runStreamLoadInProcess, type StreamLoadOptions } from '../bench/stream-load.ts';

describe('benchmark stream load', () => {
  let arrivals: number[] = [];
  // A role-only preamble, then content 30 ms later, then the end: each stream lasts about 500 ms,
  // longer than the stagger, so the first four requests to arrive are the four clients' first.
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    arrivals.push(performance.now());
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write('data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n');
      setTimeout(() => {
        response.write('data: {"choices":[{"delta":{"content":"Hello"}}]}\n\n');
        setTimeout(() => response.end('data: [DONE]\n\n'), 470);
      }, 30);
    });
  });
  let url = '';
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  const run = (staggerMs: number | undefined) =>
    runStreamLoadInProcess({
      request: { url, headers: {}, body: '{"stream":true}' },
      concurrency: 4,
      durationS: 1,
      warmupS: 0,
      ...(staggerMs === undefined ? {} : { staggerMs }),
    });

  it('spreads the first streams over the stagger, a quarter of it apart for four clients', async () => {
    arrivals = [];
    const result = await run(400);
    const [first, second, third, fourth] = arrivals;
    // Timers never fire early: each client starts at least 100 ms after the one before, less
    // the time the earlier one may have spent connecting.
    for (const [earlier, later] of [
      [first, second],
      [second, third],
      [third, fourth],
    ] as const)
      assert.ok(later! - earlier! >= 80, `clients started ${later! - earlier!} ms apart`);
    assert.ok(result.stream!.completed >= 4);
    assert.equal(result.errors, 0);
    // The preamble does not count: the first token is the content 30 ms after the answer began.
    assert.ok(result.stream!.ttftMs.p50 >= 29, `TTFT p50 ${result.stream!.ttftMs.p50} ms`);
  });

  it('starts every client at once without a stagger', async () => {
    arrivals = [];
    await run(undefined);
    const [first, , , fourth] = arrivals;
    assert.ok(fourth! - first! < 80, `the four first streams arrived within ${fourth! - first!} ms`);
  });
});

describe('benchmark stream load taking turns', () => {
  /** Which target each request reached, in order of arrival. */
  let arrivals: string[] = [];
  // Two targets on one server, told apart by path, with their first token 20 and 50 ms after
  // the request: each target's time to first token must come from its own streams only.
  const firstTokenMs: Record<string, number> = { '/fast': 20, '/slow': 50 };
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const target = request.url!;
    arrivals.push(target);
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      setTimeout(() => {
        response.write('data: {"choices":[{"delta":{"content":"Hello"}}]}\n\n');
        setTimeout(() => response.end('data: [DONE]\n\n'), 5);
      }, firstTokenMs[target]);
    });
  });
  let origin = '';
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  const targets = () =>
    ['fast', 'slow'].map((target) => ({
      target,
      request: { url: `${origin}/${target}`, headers: {}, body: '{"stream":true}' },
    }));

  it('sends each turn to one target, counts all but its lead streams, and reports each target apart', async () => {
    arrivals = [];
    const result = await runStreamLoadInProcess({
      concurrency: 1,
      durationS: 0.4,
      warmupS: 0.05,
      turns: { targets: targets(), streamsPerTurn: 3, leadStreams: 1 },
    });
    // The warm-up (0.1 s for both) goes round the targets a stream at a time, none counted; then
    // whole rounds of four streams per target (one lead, three counted), fast first.
    // About three warm-up streams (of 25 and 55 ms) in 0.1 s: fewer than a round's eight.
    const warmup = arrivals.length % 8;
    assert.ok(warmup >= 2, `${warmup} warm-up streams`);
    for (const [index, target] of arrivals.slice(0, warmup).entries())
      assert.equal(target, index % 2 === 0 ? '/fast' : '/slow', `warm-up stream ${index} reached ${target}`);
    const rounds = (arrivals.length - warmup) / 8;
    assert.ok(
      rounds >= 1 && Number.isInteger(rounds),
      `${arrivals.length} streams after ${warmup} warm-up ones`,
    );
    for (const [index, target] of arrivals.slice(warmup).entries())
      assert.equal(
        target,
        index % 8 < 4 ? '/fast' : '/slow',
        `stream ${index} of the rounds reached ${target}`,
      );
    const fast = result.byTarget?.fast;
    const slow = result.byTarget?.slow;
    assert.ok(fast !== undefined && slow !== undefined);
    for (const tally of [fast, slow]) {
      assert.equal(tally.stream!.completed, rounds * 3);
      assert.equal(tally.errors, 0);
      assert.ok(tally.allRequests! >= rounds * 4 + 1);
    }
    assert.ok(fast.stream!.ttftMs.max < 45, `fast TTFT max ${fast.stream!.ttftMs.max} ms`);
    assert.ok(slow.stream!.ttftMs.p50 >= 49, `slow TTFT p50 ${slow.stream!.ttftMs.p50} ms`);
  });

  it("with counted rounds, measures exactly that many and reports every stream's time to first token", async () => {
    arrivals = [];
    const progress: string[] = [];
    const result = await runStreamLoadInProcess(
      {
        concurrency: 1,
        // A window far longer than two rounds take: the rounds, not the window, end the run.
        durationS: 60,
        warmupS: 0,
        turns: { targets: targets(), streamsPerTurn: 2, leadStreams: 1, rounds: 2 },
        progressEveryMs: 0,
      },
      (message) => progress.push(message),
    );
    assert.equal(arrivals.length, 2 * 2 * 3);
    assert.deepEqual(progress, [
      '2 of 4 streams counted per target after 0 min',
      '4 of 4 streams counted per target after 0 min',
    ]);
    for (const [target, firstToken] of [
      ['fast', 20],
      ['slow', 50],
    ] as const) {
      const tally = result.byTarget?.[target];
      assert.ok(tally !== undefined);
      assert.equal(tally.stream!.completed, 4);
      const samples = tally.stream!.ttftSamplesMs!;
      assert.equal(samples.length, 4);
      for (const sample of samples)
        assert.ok(sample >= firstToken - 1 && sample < firstToken + 40, `${sample}`);
      assert.ok(Math.abs(Math.max(...samples) - tally.stream!.ttftMs.max) <= 0.0005);
      // Each target's share of the time the rounds took (a few hundred ms), not the 60 s asked for.
      assert.ok(tally.durationS < 5, `${tally.durationS} s`);
    }
  });

  it('run as a process, prints its progress as lines the harness reads while it runs', async () => {
    const lines: string[] = [];
    const options: StreamLoadOptions = {
      concurrency: 1,
      durationS: 60,
      warmupS: 0,
      turns: { targets: targets(), streamsPerTurn: 1, leadStreams: 0, rounds: 3 },
      progressEveryMs: 0,
    };
    const script = fileURLToPath(new URL('../bench/stream-load.ts', import.meta.url));
    const { stdout } = await run([process.execPath, script, JSON.stringify(options)], {
      onLine: (line) => lines.push(line),
    });
    const progress = lines.filter((line) => line.startsWith(progressLinePrefix));
    assert.deepEqual(
      progress.map((line) => line.slice(progressLinePrefix.length)),
      ['1', '2', '3'].map((count) => `${count} of 3 streams counted per target after 0 min`),
    );
    // Every line reached the callback, the result line last, and all of stdout is still returned.
    assert.ok(lines.at(-1)!.startsWith(resultLinePrefix));
    assert.equal(parseResultLine<LoadResult>(stdout).byTarget?.fast?.stream?.completed, 3);
  });

  it('refuses turns at more than one connection', async () => {
    await assert.rejects(
      runStreamLoadInProcess({
        concurrency: 2,
        durationS: 0.1,
        warmupS: 0,
        turns: { targets: targets(), streamsPerTurn: 1, leadStreams: 0 },
      }),
      /only at concurrency 1/,
    );
  });
});
