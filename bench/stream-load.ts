/**
 * Streaming load: `concurrency` clients, each reading one SSE chat completion to its end and
 * starting the next. Time to first token is measured from sending the request to the first
 * SSE event whose `choices[0].delta.content` is non-empty (the role-only preamble chunk does
 * not count), so it is comparable between the mock, the gateway and a proxy. A stream counts
 * as completed when `data: [DONE]` arrived. Run as its own process on the generator's core:
 *
 *   node bench/stream-load.ts '{"request":{...},"concurrency":64,"durationS":10,"warmupS":2}'
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Agent } from 'undici';
import { type LoadResult, resultLinePrefix, SampleBuffer, summarise } from './load-result.ts';
import type { RequestSpec } from './wrk.ts';

export interface StreamLoadOptions {
  request: RequestSpec;
  concurrency: number;
  durationS: number;
  warmupS: number;
  timeoutMs?: number;
  /**
   * Spreads the clients' first streams over this many milliseconds (client i starts at
   * i/concurrency of it), so that with the length of one stream here the streams start evenly
   * spaced, as independent callers' would, instead of all at once and again together each time
   * they end. Started together, every measured stream was one of a herd of `concurrency` new
   * requests arriving in the same millisecond. 0 or absent: all start at once.
   */
  staggerMs?: number;
}

/** True when one SSE event (without its blank-line terminator) carries content text. */
function carriesContent(event: string): boolean {
  for (const line of event.split('\n')) {
    if (!line.startsWith('data:')) continue;
    const data = line.slice(5).trim();
    if (data === '[DONE]' || data.length === 0) continue;
    try {
      const chunk = JSON.parse(data) as { choices?: Array<{ delta?: { content?: unknown } }> };
      const content = chunk.choices?.[0]?.delta?.content;
      if (typeof content === 'string' && content.length > 0) return true;
    } catch {
      // not JSON: not content
    }
  }
  return false;
}

export async function runStreamLoadInProcess(options: StreamLoadOptions): Promise<LoadResult> {
  const url = new URL(options.request.url);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const agent = new Agent({
    connections: options.concurrency,
    pipelining: 1,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const headers = { 'content-type': 'application/json', ...options.request.headers };
  const start = performance.now();
  const measureFrom = start + options.warmupS * 1000;
  const end = measureFrom + options.durationS * 1000;

  const ttfts = new SampleBuffer();
  const totals = new SampleBuffer();
  let started = 0;
  let completed = 0;
  let finishedInWindow = 0;
  let allRequests = 0;

  const one = async (): Promise<void> => {
    const sentAt = performance.now();
    const measured = sentAt >= measureFrom;
    if (measured) started++;
    try {
      const response = await agent.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: 'POST',
        headers,
        body: options.request.body,
      });
      const decoder = new TextDecoder();
      let pending = '';
      let firstToken: number | undefined;
      let tail = '';
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        const text = decoder.decode(chunk, { stream: true });
        if (firstToken === undefined) {
          pending += text;
          let boundary = pending.indexOf('\n\n');
          while (boundary !== -1 && firstToken === undefined) {
            if (carriesContent(pending.slice(0, boundary))) firstToken = performance.now();
            pending = pending.slice(boundary + 2);
            boundary = pending.indexOf('\n\n');
          }
        }
        tail = (tail + text).slice(-64);
      }
      const endedAt = performance.now();
      allRequests++;
      if (!measured) return;
      if (response.statusCode === 200 && firstToken !== undefined && tail.includes('data: [DONE]')) {
        completed++;
        ttfts.push(firstToken - sentAt);
        totals.push(endedAt - sentAt);
      }
      if (endedAt <= end) finishedInWindow++;
    } catch {
      // counted as an error: started but not completed
    }
  };

  const staggerMs = options.staggerMs ?? 0;
  const worker = async (index: number): Promise<void> => {
    const offset = (index * staggerMs) / options.concurrency;
    if (offset > 0) await sleep(offset);
    while (performance.now() < end) await one();
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, index) => worker(index)));
  await agent.destroy();

  return {
    requests: started,
    errors: started - completed,
    durationS: options.durationS,
    rps: finishedInWindow / options.durationS,
    latencyMs: summarise(ttfts.toArray().slice()),
    stream: {
      ttftMs: summarise(ttfts.toArray()),
      totalMs: summarise(totals.toArray()),
      completed,
    },
    allRequests,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await runStreamLoadInProcess(JSON.parse(process.argv[2] ?? '{}') as StreamLoadOptions);
  process.stdout.write(`${resultLinePrefix}${JSON.stringify(result)}\n`);
  process.exit(0);
}
