/**
 * Who kept a system's main thread from running: reads `perf sched timehist` (one line each time
 * a task leaves a CPU: its wait before it ran, the part of that wait it was runnable but not
 * running, the "scheduling delay", and how long it ran) and tells, for the main thread, how
 * often and how long it was ready but waited for its core, and which task held the core
 * meanwhile. A request the gateway could answer at once waits that long: on a kernel without
 * wakeup preemption a CPU-bound neighbour keeps the core until its tick.
 *
 *   perf sched record -a -o FILE -- sleep 3          # while the system is under load
 *   node bench/sched-waits.ts FILE --pid PID          # or: node bench/profile.ts --sched FILE
 */
import { run } from './processes.ts';
import { fail, toolArgs } from './tool-args.ts';

export interface SwitchOut {
  /** Seconds (perf's clock). */
  readonly time: number;
  readonly cpu: number;
  /** The task as perf names it, `comm[tid]` or `comm[tid/pid]`. */
  readonly task: string;
  readonly tid: number | undefined;
  readonly waitMs: number;
  readonly schedDelayMs: number;
  readonly runMs: number;
}

const line = /^\s*(\d+\.\d+)\s+\[(\d+)\]\s+(.+?)\s+(\d+\.\d+)\s+(\d+\.\d+)\s+(\d+\.\d+)\s*$/;
const taskId = /\[(\d+)(?:\/\d+)?\]$/;

/** The switch-out lines of `perf sched timehist` (header, wakeup and migration lines are left out). */
export function parseTimehist(output: string): SwitchOut[] {
  const switches: SwitchOut[] = [];
  for (const text of output.split('\n')) {
    const match = line.exec(text);
    if (match === null) continue;
    const task = match[3]!;
    const id = taskId.exec(task);
    switches.push({
      time: Number(match[1]),
      cpu: Number(match[2]),
      task,
      tid: id === null ? undefined : Number(id[1]),
      waitMs: Number(match[4]),
      schedDelayMs: Number(match[5]),
      runMs: Number(match[6]),
    });
  }
  return switches;
}

export interface Blocker {
  /** The task that ran on the core just before the thread got it back (`<idle>` included). */
  readonly task: string;
  readonly count: number;
  readonly totalMs: number;
  readonly maxMs: number;
}

export interface SchedWaits {
  readonly windowS: number;
  /** Times the thread got a CPU. */
  readonly runs: number;
  readonly runMs: number;
  /** Runs that followed a scheduling delay over the threshold. */
  readonly delayed: number;
  readonly delayedMs: number;
  readonly thresholdMs: number;
  readonly blockers: readonly Blocker[];
  /** CPU time per task name (comm, threads of one name together) over the window, on every CPU. */
  readonly busiest: ReadonlyArray<{ readonly name: string; readonly runMs: number }>;
}

/** The scheduling delays of thread `tid` longer than `thresholdMs`, by what held its core. */
export function summariseWaits(switches: readonly SwitchOut[], tid: number, thresholdMs = 0.5): SchedWaits {
  const lastOnCpu = new Map<number, string>();
  const blockers = new Map<string, { count: number; totalMs: number; maxMs: number }>();
  const busy = new Map<string, number>();
  let runs = 0;
  let runMs = 0;
  let delayed = 0;
  let delayedMs = 0;
  for (const change of switches) {
    const name = change.task.replace(taskId, '');
    busy.set(name, (busy.get(name) ?? 0) + change.runMs);
    if (change.tid === tid) {
      runs += 1;
      runMs += change.runMs;
      if (change.schedDelayMs > thresholdMs) {
        delayed += 1;
        delayedMs += change.schedDelayMs;
        const before = lastOnCpu.get(change.cpu) ?? '(unknown)';
        const blocker = blockers.get(before) ?? { count: 0, totalMs: 0, maxMs: 0 };
        blocker.count += 1;
        blocker.totalMs += change.schedDelayMs;
        blocker.maxMs = Math.max(blocker.maxMs, change.schedDelayMs);
        blockers.set(before, blocker);
      }
    }
    lastOnCpu.set(change.cpu, change.task);
  }
  const first = switches[0]?.time ?? 0;
  const last = switches.at(-1)?.time ?? 0;
  return {
    windowS: last - first,
    runs,
    runMs,
    delayed,
    delayedMs,
    thresholdMs,
    blockers: [...blockers]
      .map(([task, blocker]) => ({ task, ...blocker }))
      .sort((a, b) => b.totalMs - a.totalMs),
    busiest: [...busy]
      .filter(([name]) => name !== '<idle>')
      .map(([name, ms]) => ({ name, runMs: ms }))
      .sort((a, b) => b.runMs - a.runMs)
      .slice(0, 8),
  };
}

export function renderWaits(waits: SchedWaits, requests?: number): string {
  const ms = (value: number) => value.toFixed(1);
  const lines = [
    `Main thread over ${waits.windowS.toFixed(1)} s: ${waits.runs} times on a CPU, ${ms(waits.runMs)} ms running; ` +
      `${waits.delayed} times it was ready but waited more than ${waits.thresholdMs} ms for its core ` +
      `(${ms(waits.delayedMs)} ms in all${requests === undefined ? '' : `; ${((waits.delayed / requests) * 100).toFixed(2)} % of the ${requests} requests of the run's window`}).`,
    '',
    '| held the core meanwhile | times | waited (ms) | longest (ms) |',
    '| --- | ---: | ---: | ---: |',
    ...waits.blockers.map(
      (blocker) => `| ${blocker.task} | ${blocker.count} | ${ms(blocker.totalMs)} | ${ms(blocker.maxMs)} |`,
    ),
    '',
    '| busiest tasks, every CPU | ran (ms) |',
    '| --- | ---: |',
    ...waits.busiest.map((task) => `| ${task.name} | ${ms(task.runMs)} |`),
    '',
  ];
  return `${lines.join('\n')}\n`;
}

/** `perf sched record` of every CPU for `seconds`, into `file`. */
export async function recordSched(file: string, seconds: number): Promise<void> {
  await run(['perf', 'sched', 'record', '-a', '-o', file, '--', 'sleep', String(seconds)]);
}

export async function readSched(file: string): Promise<SwitchOut[]> {
  const { stdout } = await run(['perf', 'sched', 'timehist', '-i', file]);
  return parseTimehist(stdout);
}

if (import.meta.main) {
  const usage = 'node bench/sched-waits.ts PERF_SCHED_FILE --pid PID [--threshold MS]';
  const { values, positionals } = toolArgs(usage, {
    allowPositionals: true,
    options: { pid: { type: 'string' }, threshold: { type: 'string', default: '0.5' } },
  });
  const file = positionals[0];
  if (file === undefined || values.pid === undefined)
    fail(usage, 'the perf sched recording and the --pid of the thread to follow are both needed');
  const waits = summariseWaits(await readSched(file), Number(values.pid), Number(values.threshold));
  process.stdout.write(renderWaits(waits));
}
