/**
 * Preloaded into a system under test by `bench/stream-memory.ts` (`node --expose-gc --import`):
 * on SIGWINCH it runs full garbage collections and appends one JSON line with what is left
 * (`process.memoryUsage()`, in bytes) to `BENCH_MEMORY_PROBE_OUT`. What a collection leaves is
 * what the process holds alive, so two readings differ by what was opened in between, without
 * the garbage that makes the peak resident set move from run to run.
 *
 * Plain JavaScript, like bin/odock-server.js: a TypeScript preload would make Node load its
 * TypeScript compiler into the gateway (about 18 MiB), which the gateway as shipped never does.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';

const out = process.env.BENCH_MEMORY_PROBE_OUT;
/** @type {(() => void) | undefined} */
const collect = globalThis.gc;
// BENCH_MEMORY_SNAPSHOT_DIR: a heap snapshot with each reading (`1.heapsnapshot`, `2...`), for
// bench/heap-diff.ts.
const snapshots = process.env.BENCH_MEMORY_SNAPSHOT_DIR;
let readings = 0;
if (out !== undefined && collect !== undefined) {
  process.on('SIGWINCH', () => {
    readings += 1;
    // Twice: the first collection's finalisers (sockets' native handles, weak callbacks) free
    // more that the second one then sees.
    collect();
    collect();
    const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
    if (snapshots !== undefined) writeHeapSnapshot(join(snapshots, `${readings}.heapsnapshot`));
    appendFileSync(out, `${JSON.stringify({ rss, heapUsed, heapTotal, external, arrayBuffers })}\n`);
  });
}
