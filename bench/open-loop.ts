/**
 * Open-loop load at a fixed rate (wrk2's method; wrk2 is not packaged for Debian): request n
 * is due at start + n/rate whatever happened to the earlier ones, and its latency is measured
 * from that due time, so a stalled system is charged for every request it kept waiting
 * (no coordinated omission). Run as its own process, pinned to the load generator's core:
 *
 *   node bench/open-loop.ts '{"request":{...},"rate":4000,"durationS":10,"warmupS":2}'
 *
 * Prints one `BENCH_RESULT {LoadResult}` line. The scheduler wakes on timers (about 1 ms
 * granularity), so a request can leave up to ~1 ms after its due time; that lag is charged to
 * the request and reported as `sendLagMs` (it is the same for the direct-to-mock baseline).
 */
import { fileURLToPath } from 'node:url';
import { Http1Pool } from './http1-client.ts';
import { type LoadResult, resultLinePrefix, SampleBuffer, summarise } from './load-result.ts';
import type { RequestSpec } from './wrk.ts';

export interface OpenLoopOptions {
  request: RequestSpec;
  /** Requests per second. */
  rate: number;
  durationS: number;
  warmupS: number;
  /** Upper bound of open connections; requests beyond it wait in the pool (and that wait counts). */
  connections?: number;
  timeoutMs?: number;
}

export async function runOpenLoopInProcess(options: OpenLoopOptions): Promise<LoadResult> {
  const url = new URL(options.request.url);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const pool = new Http1Pool(
    url,
    { 'content-type': 'application/json', ...options.request.headers },
    options.request.body,
    options.connections ?? 2048,
  );
  const interval = 1000 / options.rate;
  const start = performance.now() + 20;
  const measureFrom = start + options.warmupS * 1000;
  const end = measureFrom + options.durationS * 1000;

  const latencies = new SampleBuffer();
  const lags = new SampleBuffer();
  let scheduled = 0;
  /** Measured requests answered with a non-2xx status, or whose connection failed. */
  let failed = 0;
  let inFlight = 0;
  let allRequests = 0;
  let allSent: () => void = () => {};
  const drained = new Promise<void>((resolve) => {
    allSent = resolve;
  });
  let sending = true;

  const settle = (due: number, measured: boolean, ok: boolean): void => {
    allRequests++;
    if (measured && ok) latencies.push(performance.now() - due);
    else if (measured) failed++;
    inFlight--;
    if (!sending && inFlight === 0) allSent();
  };
  const fire = (due: number): void => {
    const measured = due >= measureFrom;
    if (measured) {
      scheduled++;
      lags.push(performance.now() - due);
    }
    inFlight++;
    pool.send((status) => settle(due, measured, status >= 200 && status < 300));
  };

  let index = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      let due = start + index * interval;
      while (due <= now && due < end) {
        fire(due);
        index++;
        due = start + index * interval;
      }
      if (due >= end) {
        resolve();
        return;
      }
      setTimeout(tick, Math.max(0, due - performance.now()));
    };
    setTimeout(tick, Math.max(0, start - performance.now()));
  });
  sending = false;
  if (inFlight > 0) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs + 1_000)))]);
    clearTimeout(timer);
  }
  // Failed answers and requests still unanswered by now (timeouts) are the errors; closing the
  // pool settles the unanswered ones as failed, so both are counted before it.
  const completed = latencies.length;
  const errors = scheduled - completed;
  const unanswered = errors - failed;
  pool.close();

  return {
    requests: scheduled,
    errors,
    unanswered,
    durationS: options.durationS,
    rps: completed / options.durationS,
    latencyMs: summarise(latencies.toArray()),
    sendLagMs: summarise(lags.toArray()),
    scheduled,
    allRequests,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await runOpenLoopInProcess(JSON.parse(process.argv[2] ?? '{}') as OpenLoopOptions);
  process.stdout.write(`${resultLinePrefix}${JSON.stringify(result)}\n`);
  process.exit(0);
}
