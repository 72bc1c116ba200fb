/**
 * The Node.js flags the gateway is started with (`npm start`, the Dockerfile's ENTRYPOINT and
 * the benchmark's gateway process; a test keeps the three equal). They cannot be applied from
 * inside the process: V8 sizes its heap before any of our code runs.
 *
 * `--max-semi-space-size=4` (MiB): V8's default young generation on a 64-bit machine grows to
 * 64 MiB semi-spaces; the gateway then scavenges every ~50 MB of allocation and copies every
 * object still alive at that moment, which on one core stopped the event loop 20-40 ms at a
 * time and cost more CPU per request in all (the parallel scavenger's helper threads compete
 * with the main thread). With 4 MiB semi-spaces the pauses are about 2 ms (p99 about 6 ms) and
 * the CPU per request is lower; measured in docs/performance.md ("What changed, and what each
 * change bought"; 2, 8 and 16 MiB under "Tried and not kept").
 *
 * `--v8-pool-size=1`: one V8 platform worker thread instead of four. The JavaScript of the gateway
 * runs on one thread; the workers do concurrent marking, sweeping and background compilation.
 * With four of them on a one-core budget (the benchmark pins the gateway to one CPU; a container
 * with a one-CPU quota is the same) they preempt the main thread in scheduler slices, and every
 * slice is latency for the requests waiting behind it. In six interleaved A/Bs the gateway's p99
 * fell in every one (64 connections: 47-57 ms against 60-66; 16 connections: 28-29 against
 * 31-35) at the same or less CPU per request. On a machine with cores to spare, fewer helpers
 * make collections take longer in wall-clock time, but off the main thread.
 *
 * Not here on purpose: `--heap-growing-percent=50` bounds the heap's growth (peak RSS with 1,000
 * open streams 206-210 MiB instead of 264-357) but costs 5-10 % more CPU per request at all
 * times. The soft memory limit (`ODOCK_MEMORY_LIMIT_MB`, src/memory-limit.ts) sets that flag
 * while the process runs, only when the resident set nears the limit (docs/performance.md,
 * "Memory with 1,000 streams open").
 */
export const gatewayNodeFlags: readonly string[] = ['--max-semi-space-size=4', '--v8-pool-size=1'];
