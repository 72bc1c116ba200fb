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
import {
  type LoadResult,
  progressLinePrefix,
  resultLinePrefix,
  SampleBuffer,
  summarise,
} from './load-result.ts';
import type { RequestSpec } from './wrk.ts';

export interface StreamLoadOptions {
  /** The one target's request; with `turns`, the targets' own. */
  request?: RequestSpec;
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
  /**
   * One connection's streams taking turns between several targets, so that a drift of the
   * machine over the run reaches all of them alike (one after the other, the baseline of one
   * minute is compared with a system's of another). Each turn first sends `leadStreams` streams
   * that are not counted, then `streamsPerTurn` counted ones, to one target, then the next
   * target's turn. The lead streams are there because a turn comes after the other targets'
   * turns: a system idle that long starts its turn as a caller's first request after a pause
   * (an API key the gateway's cache let expire, say), which is not what a client streaming one
   * after another sees. `durationS` and `warmupS` are each target's: the run lasts as long as
   * the targets measured one after the other, and ends after a whole round. The result has
   * one `LoadResult` per target in `byTarget`.
   */
  turns?: {
    targets: ReadonlyArray<{ target: string; request: RequestSpec }>;
    streamsPerTurn: number;
    leadStreams: number;
    /**
     * Whole rounds to measure after the warm-up, whatever they take, instead of `durationS`'s
     * window: each target then counts exactly `rounds` × `streamsPerTurn` streams.
     */
    rounds?: number;
  };
  /** With turns, the least time between two progress reports (default a minute). */
  progressEveryMs?: number;
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

/** What one target's streams add up to inside the measured window. */
class Tally {
  readonly ttfts = new SampleBuffer();
  readonly totals = new SampleBuffer();
  started = 0;
  completed = 0;
  finishedInWindow = 0;
  allRequests = 0;

  result(durationS: number): LoadResult {
    const ttfts = this.ttfts.toArray();
    const samples = Array.from(ttfts, (value) => Math.round(value * 1000) / 1000);
    // Summarised once: a stream's latency is its time to first token.
    const ttftMs = summarise(ttfts);
    return {
      requests: this.started,
      errors: this.started - this.completed,
      durationS,
      rps: this.finishedInWindow / durationS,
      latencyMs: ttftMs,
      stream: {
        ttftMs,
        totalMs: summarise(this.totals.toArray()),
        completed: this.completed,
        ttftSamplesMs: samples,
      },
      allRequests: this.allRequests,
    };
  }
}

/**
 * `progress`, with turns: called after a round, at most every `options.progressEveryMs`, with
 * where the run stands (a cell of 600 streams per target at one connection runs for most of an
 * hour). Run as a process, the generator prints it as a `BENCH_PROGRESS` line.
 */
export async function runStreamLoadInProcess(
  options: StreamLoadOptions,
  progress?: (message: string) => void,
): Promise<LoadResult> {
  const progressEveryMs = options.progressEveryMs ?? 60_000;
  const turns = options.turns;
  if (turns !== undefined && options.concurrency !== 1)
    throw new Error('turns: streams take turns between targets only at concurrency 1');
  if (turns === undefined && options.request === undefined) throw new Error('a request, or turns');
  const targets = turns?.targets ?? [{ target: 'only', request: options.request! }];
  // Each target's request as undici takes it, and its tally: made once, not per stream.
  const lanes = targets.map(({ target, request }) => {
    const url = new URL(request.url);
    const dispatch = {
      origin: url.origin,
      path: url.pathname + url.search,
      method: 'POST' as const,
      headers: { 'content-type': 'application/json', ...request.headers },
      body: request.body,
    };
    return { target, dispatch, tally: new Tally() };
  });
  const timeoutMs = options.timeoutMs ?? 30_000;
  const agent = new Agent({
    connections: options.concurrency * targets.length,
    pipelining: 1,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  // Every target has the warm-up and the window it would have alone: with turns, the whole run
  // lasts as long as the targets one after the other did.
  const start = performance.now();
  const measureFrom = start + options.warmupS * 1000 * targets.length;
  // Counted rounds end when they are done, and every stream they count is inside the window.
  const end =
    turns?.rounds === undefined
      ? measureFrom + options.durationS * 1000 * targets.length
      : Number.POSITIVE_INFINITY;

  /** One stream; `measured`: it counts (sent inside the measured window, not a lead stream). */
  const one = async ({ dispatch, tally }: (typeof lanes)[number], measured: boolean): Promise<void> => {
    const sentAt = performance.now();
    if (measured) tally.started++;
    try {
      const response = await agent.request({ ...dispatch });
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
      tally.allRequests++;
      if (!measured) return;
      if (response.statusCode === 200 && firstToken !== undefined && tail.includes('data: [DONE]')) {
        tally.completed++;
        tally.ttfts.push(firstToken - sentAt);
        tally.totals.push(endedAt - sentAt);
      }
      if (endedAt <= end) tally.finishedInWindow++;
    } catch {
      // counted as an error: started but not completed
    }
  };

  if (turns === undefined) {
    const staggerMs = options.staggerMs ?? 0;
    const worker = async (index: number): Promise<void> => {
      const offset = (index * staggerMs) / options.concurrency;
      if (offset > 0) await sleep(offset);
      while (performance.now() < end) await one(lanes[0]!, performance.now() >= measureFrom);
    };
    await Promise.all(Array.from({ length: options.concurrency }, (_, index) => worker(index)));
  } else {
    // The warm-up goes round the targets a stream at a time; then whole rounds of turns, so
    // every target ends with the same number of counted streams.
    for (let next = 0; performance.now() < measureFrom; next = (next + 1) % lanes.length)
      await one(lanes[next]!, false);
    const more = (round: number) =>
      turns.rounds === undefined ? performance.now() < end : round < turns.rounds;
    let reportedAt = performance.now();
    for (let round = 0; more(round); round++) {
      for (const lane of lanes) {
        for (let lead = 0; lead < turns.leadStreams; lead++) await one(lane, false);
        for (let stream = 0; stream < turns.streamsPerTurn; stream++) await one(lane, true);
      }
      const now = performance.now();
      if (progress !== undefined && now - reportedAt >= progressEveryMs) {
        reportedAt = now;
        const counted = (round + 1) * turns.streamsPerTurn;
        const of = turns.rounds === undefined ? '' : ` of ${turns.rounds * turns.streamsPerTurn}`;
        const minutes = ((now - measureFrom) / 60_000).toFixed(0);
        progress(`${counted}${of} streams counted per target after ${minutes} min`);
      }
    }
  }
  await agent.destroy();
  // Counted rounds: each target's share of the time they took.
  const durationS =
    turns?.rounds === undefined
      ? options.durationS
      : (performance.now() - measureFrom) / 1000 / targets.length;

  const only = lanes[0]!.tally.result(durationS);
  if (turns === undefined) return only;
  return {
    ...only,
    byTarget: Object.fromEntries(lanes.map(({ target, tally }) => [target, tally.result(durationS)])),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await runStreamLoadInProcess(
    JSON.parse(process.argv[2] ?? '{}') as StreamLoadOptions,
    (message) => process.stdout.write(`${progressLinePrefix}${message}\n`),
  );
  process.stdout.write(`${resultLinePrefix}${JSON.stringify(result)}\n`);
  process.exit(0);
}
