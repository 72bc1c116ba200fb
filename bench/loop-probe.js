/**
 * Preloaded into a system under test by `bench/profile.ts --probe` (`node --import`): records
 * the event loop's delay (how long a ready callback waited) and every garbage collection
 * pause, and writes them as JSON to `BENCH_LOOP_PROBE_OUT` when the process exits. It answers
 * "what stalls the loop" when tail latency is high while the CPU is not saturated.
 *
 * Plain JavaScript, like bin/odock-server.js: a TypeScript preload would make Node load its
 * TypeScript compiler into the gateway (about 18 MiB of heap and native memory), which the
 * gateway as shipped never does, and the resident set and collections read here would be
 * another process's.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';

const out = process.env.BENCH_LOOP_PROBE_OUT;
if (out !== undefined) {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  /** @type {Record<number, string>} */
  const kinds = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks',
  };
  /** @type {Record<string, number[]>} */
  const pauses = {};
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const detail = /** @type {{ detail?: { kind?: number } }} */ (entry).detail;
      const kind = kinds[detail?.kind ?? -1] ?? 'other';
      const durations = pauses[kind] ?? [];
      durations.push(entry.duration);
      pauses[kind] = durations;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  // With `--expose-gc`, the heap left after a full collection at the start and at the end of
  // the window: what the measured requests retained (a leak shows as growth per request).
  /** @type {(() => void) | undefined} */
  const collect = globalThis.gc;
  const liveHeap = () => {
    collect?.();
    return process.memoryUsage().heapUsed;
  };
  let heapAtStart = 0;
  // BENCH_HEAP_SNAPSHOT_DIR: heap snapshots at both ends of the window, to diff what was retained.
  const snapshots = process.env.BENCH_HEAP_SNAPSHOT_DIR;
  const snapshot = (/** @type {string} */ name) => {
    if (snapshots !== undefined) writeHeapSnapshot(join(snapshots, `${name}.heapsnapshot`));
  };
  // BENCH_ALLOC_PROFILE_OUT: V8's sampling heap profiler over the window, counting objects the
  // collector already freed too, so it answers "what allocates" (the young-generation churn), not
  // only "what is retained". The same-thread inspector session answers synchronously.
  const allocOut = process.env.BENCH_ALLOC_PROFILE_OUT;
  const session = allocOut === undefined ? undefined : new Session();
  session?.connect();
  const post = (/** @type {string} */ method, /** @type {object | undefined} */ params) => {
    /** @type {unknown} */
    let result;
    session?.post(method, params, (error, value) => {
      if (error) throw error;
      result = value;
    });
    return result;
  };
  /** Starts the window over (the profiler calls it through SIGUSR2 when the measured run begins). */
  const reset = () => {
    if (collect) heapAtStart = liveHeap();
    snapshot('start');
    if (session !== undefined) {
      post('HeapProfiler.enable');
      // BENCH_ALLOC_KEEP: which sampled objects the profile keeps. `all` (default): every
      // allocation; `live`: only what is still alive at the end (what the window retained);
      // `promoted`: what outlived the young generation (freed by a full collection or alive),
      // the objects that make scavenges long and fill the old generation.
      const keep = process.env.BENCH_ALLOC_KEEP ?? 'all';
      post('HeapProfiler.startSampling', {
        samplingInterval: 4096,
        includeObjectsCollectedByMajorGC: keep === 'all' || keep === 'promoted',
        includeObjectsCollectedByMinorGC: keep === 'all',
      });
    }
    delay.reset();
    for (const kind of Object.keys(pauses)) delete pauses[kind];
  };
  process.on('SIGUSR2', reset);
  process.once('exit', () => {
    const ms = (/** @type {number} */ nanoseconds) => nanoseconds / 1e6;
    const summary = (/** @type {number[]} */ durations) => {
      const sorted = [...durations].sort((a, b) => a - b);
      const at = (/** @type {number} */ p) =>
        sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
      return {
        count: sorted.length,
        totalMs: sorted.reduce((sum, value) => sum + value, 0),
        p50Ms: at(50),
        p99Ms: at(99),
        maxMs: sorted.at(-1) ?? 0,
        over5Ms: sorted.filter((value) => value > 5).length,
      };
    };
    if (session !== undefined) {
      const stopped = /** @type {{ profile: unknown } | undefined} */ (post('HeapProfiler.stopSampling'));
      if (stopped !== undefined && allocOut !== undefined)
        writeFileSync(allocOut, JSON.stringify(stopped.profile));
    }
    const heapAtEnd = collect ? liveHeap() : 0;
    snapshot('end');
    writeFileSync(
      out,
      JSON.stringify({
        ...(collect ? { liveHeapMiB: { start: heapAtStart / 2 ** 20, end: heapAtEnd / 2 ** 20 } } : {}),
        rssMiB: process.memoryUsage().rss / 2 ** 20,
        eventLoopDelay: {
          p50Ms: ms(delay.percentile(50)),
          p99Ms: ms(delay.percentile(99)),
          p999Ms: ms(delay.percentile(99.9)),
          maxMs: ms(delay.max),
        },
        gc: Object.fromEntries(Object.entries(pauses).map(([kind, durations]) => [kind, summary(durations)])),
      }),
    );
  });
}
