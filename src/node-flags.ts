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
 * the CPU per request is lower; measured in docs/performance-history.md ("What changed, and what each
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
 * `--no-allocation-site-pretenuring`: V8 watches object and array literals, and once most of what
 * one literal made is still alive at a young-generation collection (85 %, in one collection) it
 * allocates that literal's objects in the old generation from then on, for the life of the
 * process. A request's objects made when it arrives live as long as its upstream call, 20 ms and
 * more, about as long as the time between two scavenges under load; which of them crossed the
 * line changed from run to run. The cost was not the few objects themselves: a request's object
 * in the old generation stays there, dead, until the next full collection, and every young
 * object it pointed to is kept alive by it at each scavenge, copied once and then promoted (a
 * garbage collector's nepotism). With the request context made that way, 3-5 KiB per unary
 * call ended in the old generation, the floor proxy's 0.2 (`--trace-gc-nvp`: 275-300 KB
 * promoted per scavenge against 22); with this flag 27-33 KB, and 1.5 KiB per call of old
 * garbage in all with telemetry on (docs/performance-history.md, "What a unary call promotes").
 *
 * `--heap-growing-percent=100`: the old generation may grow to twice what was alive after a full
 * collection before the next one starts. V8's own factor follows the rate at which the old
 * generation fills: the less a request promotes, the tighter V8 sets it (to keep the time spent
 * marking about the same), so promoting less alone did not make full collections rarer (one
 * every 1.3-2.7 s at 64 connections either way). Fixed at 2, they come every 4-5 s at 64
 * connections and once in 15 s at 16, whose p99 fell 0.4-1.5 ms in three interleaved pairs,
 * with the resident set 145-154 MiB against 161-166. Under a high allocation rate V8 chose up to
 * 4 itself (1,000 open streams): there the fixed factor bounds the heap lower than V8 did. The
 * soft memory limit below puts 100 back when it lets go.
 *
 * Not here on purpose: `--heap-growing-percent=50` bounds the heap's growth further (peak RSS
 * with 1,000 open streams 206-210 MiB instead of 264-357) but costs 5-10 % more CPU per request
 * at all times. The soft memory limit (`ODOCK_MEMORY_LIMIT_MB`, src/memory-limit.ts) sets that flag
 * while the process runs, only when the resident set nears the limit (docs/performance.md,
 * "Memory with 1,000 streams open").
 */
export const gatewayNodeFlags: readonly string[] = [
  '--max-semi-space-size=4',
  '--v8-pool-size=1',
  '--no-allocation-site-pretenuring',
  '--heap-growing-percent=100',
];
