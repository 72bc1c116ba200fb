/**
 * A soft memory limit for the gateway process, in the spirit of Go's GOMEMLIMIT: as the resident
 * memory approaches the limit, the garbage collector is made to collect sooner, trading CPU for
 * a bounded footprint instead of growing until the container's hard limit kills the process.
 *
 * How: after each full collection V8 sets the old generation's next limit at its live size times
 * a factor it picks itself (up to 4x under a high allocation rate: with 1,000 open streams the
 * gateway's old space grew to about 95 MiB around 30-55 MiB of live objects). V8's flag
 * `--heap-growing-percent=P` fixes that factor at 1 + P/100, and V8 reads it each time it sets
 * the limit, so it takes effect at the next full collection when it is changed at run time
 * (`v8.setFlagsFromString`; 0 gives the choice back to V8). The limiter reads the resident set
 * a few times a second and sets P from how close it is to the limit (`heapGrowingPercent`); away
 * from the limit it puts back the value the process was started with (the gateway starts with
 * `--heap-growing-percent=100`, src/node-flags.ts), or 0 when it was started without one.
 *
 * The limit is soft: memory outside V8's old generation (sockets, buffers, code) is not bounded
 * by it, and live objects above it are never freed. Off unless configured
 * (`ODOCK_MEMORY_LIMIT_MB`) or the process runs under a memory limit of its own (a container's
 * cgroup), then 80 % of that limit (docs/performance.md, "Memory with 1,000 streams open").
 */
import os from 'node:os';
import v8 from 'node:v8';

/** Below this share of the limit V8 grows the heap as it chooses... */
const engageAt = 0.7;
/** ...and once bounded, it stays bounded until the resident set falls below this share. */
const releaseBelow = 0.6;
/** From this share of the limit on, the old generation may grow by the minimum after a collection. */
const tightestAt = 0.9;
const loosestPercent = 100;
const tightestPercent = 10;

/**
 * The heap growing percent for a resident set of `rssBytes` under a soft limit of `limitBytes`,
 * given the `current` one: 0 (V8's own factor) below 70 % of the limit, then 100 % falling to 10 %
 * at 90 % and above, in steps of 10 so small moves of the resident set do not change the flag.
 * A bound in force is kept down to 60 %, so a resident set hovering at 70 % does not flip it.
 */
export function heapGrowingPercent(rssBytes: number, limitBytes: number, current = 0): number {
  const pressure = rssBytes / limitBytes;
  if (!(pressure >= (current === 0 ? engageAt : releaseBelow))) return 0;
  const tightness = Math.max(0, Math.min(1, (pressure - engageAt) / (tightestAt - engageAt)));
  const percent = loosestPercent - tightness * (loosestPercent - tightestPercent);
  return Math.max(tightestPercent, Math.round(percent / 10) * 10);
}

/**
 * The soft limit in bytes: the configured one (0 turns it off), else 80 % of the process's own
 * memory limit when it has one below the machine's memory (`process.constrainedMemory()` reads
 * the cgroup), else none.
 */
export function memoryLimitBytes(
  configuredMb: number | undefined,
  constrained: number = process.constrainedMemory(),
  total: number = os.totalmem(),
): number | undefined {
  if (configuredMb !== undefined) return configuredMb === 0 ? undefined : configuredMb * 1024 * 1024;
  return constrained > 0 && constrained < total ? Math.floor(constrained * 0.8) : undefined;
}

export interface MemoryLimiter {
  /** The heap growing percent the limit has set (0: none, the process's own is in force). */
  readonly percent: number;
  /** Stops reading and puts the process's own growth factor back. */
  stop(): void;
}

/**
 * The `--heap-growing-percent` the process was started with (the last one wins, as in V8), or 0
 * (V8's own factor) without one.
 */
export function startupHeapGrowingPercent(execArgv: readonly string[] = process.execArgv): number {
  let percent = 0;
  for (const argument of execArgv) {
    const match = /^--heap[-_]growing[-_]percent=(\d+)$/.exec(argument);
    if (match !== null) percent = Number(match[1]);
  }
  return percent;
}

export interface MemoryLimitOptions {
  limitBytes: number;
  intervalMs?: number;
  /** Reads the resident set (default: `process.memoryUsage.rss`). */
  rss?: () => number;
  /** Sets V8's heap growing percent (default: `v8.setFlagsFromString`). */
  apply?: (percent: number) => void;
  /** What is set when the limit does not bound the heap (default: `startupHeapGrowingPercent()`). */
  unboundedPercent?: number;
  /** Told each change, with the one before and the resident set that caused it. */
  onChange?: (percent: number, previous: number, rssBytes: number) => void;
}

export function startMemoryLimit(options: MemoryLimitOptions): MemoryLimiter {
  const rss = options.rss ?? process.memoryUsage.rss;
  const apply =
    options.apply ?? ((percent: number) => v8.setFlagsFromString(`--heap-growing-percent=${percent}`));
  const unbounded = options.unboundedPercent ?? startupHeapGrowingPercent();
  let percent = 0;
  const check = () => {
    const resident = rss();
    const next = heapGrowingPercent(resident, options.limitBytes, percent);
    if (next === percent) return;
    apply(next === 0 ? unbounded : next);
    const previous = percent;
    percent = next;
    options.onChange?.(next, previous, resident);
  };
  check();
  const timer = setInterval(check, options.intervalMs ?? 250);
  timer.unref();
  return {
    get percent() {
      return percent;
    },
    stop() {
      clearInterval(timer);
      if (percent !== 0) apply(unbounded);
      percent = 0;
    },
  };
}
