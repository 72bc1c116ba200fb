/**
 * What a pause costs the work after it, on the core the systems under test run on: one fixed
 * piece of JavaScript (a chat completion parsed and serialised, a table of 20,000 entries read
 * at 3,000 places: about the size of a request's own work in the gateway), timed back to back
 * and again after each of a series of pauses, in a child process pinned with `taskset`.
 *
 *   node bench/pause-cost.ts --help
 *
 * On the virtual machines this benchmark has run on, the same work takes several times as long
 * after a pause of 5 ms or more, whether the process slept or spun on the CPU meanwhile: what it
 * had in the caches is gone by then (another guest sharing the physical core, or the host).
 * A system at one connection of the 20 ms mock, and before a stream's first token, does its work
 * after such a pause every time; back to back (the 0 ms mock) it does not. So the numbers of
 * those cells are its work at the slower speed, and the ratio measured here tells two machines
 * apart (docs/performance.md, "Work after a pause").
 */
import { fileURLToPath } from 'node:url';
import { nearestRank } from './load-result.ts';
import { run } from './processes.ts';
import { fail, toolArgs } from './tool-args.ts';

/** One series of timed runs of the work: how each was preceded, and its quantiles (µs). */
export interface PauseSeries {
  /** 0: back to back. */
  pauseMs: number;
  /** How the pause was spent: sleeping in the event loop, or spinning on the CPU. */
  mode: 'sleep' | 'spin';
  runs: number;
  p10Us: number;
  p50Us: number;
  p90Us: number;
}

export interface PauseCost {
  /** The CPU the work ran on (`taskset -c`), or null when it was not pinned. */
  cpu: string | null;
  series: PauseSeries[];
  /** p50 after a 20 ms sleep over p50 back to back: the figure the results table carries. */
  ratio: number;
}

export interface PauseCostOptions {
  cpu?: string | undefined;
  /** Pauses to time the work after (ms); 0 (back to back) is always measured first. */
  pausesMs?: readonly number[];
  modes?: ReadonlyArray<'sleep' | 'spin'>;
  /** Timed runs per series (after a pause of 100 ms or more, a quarter as many). */
  runs?: number;
  /** Runs before the first series, so V8 has optimised the work. */
  warmup?: number;
}

/** The pause the results' ratio is taken at: the 20 ms mock's gap between a call and its answer. */
export const ratioPauseMs = 20;

/**
 * Times the work in a child process (pinned to `cpu` when given) and summarises it. Takes about
 * `runs` × (sum of the pauses) × 2 modes, a few seconds with the defaults.
 */
export async function measurePauseCost(options: PauseCostOptions = {}): Promise<PauseCost> {
  const pausesMs = options.pausesMs ?? [1, 5, ratioPauseMs, 100];
  const modes = options.modes ?? ['sleep', 'spin'];
  const runs = options.runs ?? 200;
  const warmup = options.warmup ?? 2_000;
  const probe = [
    process.execPath,
    fileURLToPath(import.meta.url),
    '--probe',
    '--pauses',
    pausesMs.join(','),
    '--modes',
    modes.join(','),
    '--runs',
    String(runs),
    '--warmup',
    String(warmup),
  ];
  const command = options.cpu === undefined ? probe : ['taskset', '-c', options.cpu, ...probe];
  const { stdout } = await run(command);
  const series = JSON.parse(stdout) as PauseSeries[];
  return { cpu: options.cpu ?? null, series, ratio: pauseRatio(series) };
}

/** The series after `pauseMs` spent as `mode` (back to back, `pauseMs` 0, whatever the mode). */
function seriesAt(
  series: readonly PauseSeries[],
  pauseMs: number,
  mode: 'sleep' | 'spin',
): PauseSeries | undefined {
  return series.find((entry) => entry.pauseMs === pauseMs && (pauseMs === 0 || entry.mode === mode));
}

/** p50 after a sleep of `ratioPauseMs` over p50 back to back; NaN when either is missing. */
export function pauseRatio(series: readonly PauseSeries[]): number {
  const backToBack = seriesAt(series, 0, 'sleep');
  const paused = seriesAt(series, ratioPauseMs, 'sleep');
  if (backToBack === undefined || paused === undefined || backToBack.p50Us <= 0) return Number.NaN;
  return paused.p50Us / backToBack.p50Us;
}

/** The nearest-rank quantiles of one series of times. */
export function summariseSeries(
  pauseMs: number,
  mode: 'sleep' | 'spin',
  timesUs: readonly number[],
): PauseSeries {
  if (timesUs.length === 0) throw new Error('a series needs at least one timed run');
  const sorted = [...timesUs].sort((a, b) => a - b);
  const at = (fraction: number) => nearestRank(sorted, fraction);
  const round = (value: number) => Math.round(value * 10) / 10;
  return {
    pauseMs,
    mode,
    runs: sorted.length,
    p10Us: round(at(0.1)),
    p50Us: round(at(0.5)),
    p90Us: round(at(0.9)),
  };
}

/**
 * The ratio's two p50s, and the spinning one when it was timed, in words: what the benchmark's
 * progress and its report's machine line say.
 */
export function pauseCostSummary(cost: PauseCost): string {
  const p50 = (pauseMs: number, mode: 'sleep' | 'spin') => seriesAt(cost.series, pauseMs, mode)?.p50Us;
  const spun = p50(ratioPauseMs, 'spin');
  return (
    `the same JavaScript took ${p50(0, 'sleep')} µs back to back and ${p50(ratioPauseMs, 'sleep')} µs after ` +
    `sleeping ${ratioPauseMs} ms (${cost.ratio.toFixed(1)}×)${spun === undefined ? '' : `, ${spun} µs after spinning as long`} (p50s)`
  );
}

export function renderPauseCost(cost: PauseCost): string {
  const lines = [
    `The same work (bench/pause-cost.ts) after a pause, on ${cost.cpu === null ? 'an unpinned CPU' : `CPU ${cost.cpu}`}:`,
    '',
    '| before each run | runs | p10 (µs) | p50 (µs) | p90 (µs) | p50 against back to back |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  const base = seriesAt(cost.series, 0, 'sleep')?.p50Us ?? Number.NaN;
  for (const entry of cost.series) {
    const label =
      entry.pauseMs === 0
        ? 'nothing (back to back)'
        : `${entry.pauseMs} ms, ${entry.mode === 'sleep' ? 'sleeping' : 'spinning'}`;
    lines.push(
      `| ${label} | ${entry.runs} | ${entry.p10Us} | ${entry.p50Us} | ${entry.p90Us} | ${(entry.p50Us / base).toFixed(1)}× |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

// ---- the probe (the child process) ----

/** A chat completion as an upstream answers one, about 1.5 KB of JSON. */
const answer = JSON.stringify({
  id: 'chatcmpl-pause-cost',
  object: 'chat.completion',
  created: 1_765_000_000,
  model: 'mock-gpt',
  choices: Array.from({ length: 4 }, (_, index) => ({
    index,
    message: { role: 'assistant', content: 'The quick brown fox jumps over the lazy dog. '.repeat(6) },
    finish_reason: 'stop',
  })),
  usage: { prompt_tokens: 12, completion_tokens: 64, total_tokens: 76 },
});

/** A table about the size of the gateway's configuration and caches (about 1 MB). */
const table = Array.from({ length: 20_000 }, (_, index) => ({
  index,
  key: `key-${index}`,
  weight: index % 7,
}));

function work(): number {
  let total = 0;
  for (let round = 0; round < 4; round++) {
    const parsed = JSON.parse(answer) as { choices: unknown[] };
    total += JSON.stringify(parsed).length + parsed.choices.length;
  }
  for (let step = 0; step < 3_000; step++) {
    const entry = table[(step * 7_919) % table.length]!;
    total += entry.weight + entry.key.length;
  }
  return total;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function spin(ms: number): number {
  const end = performance.now() + ms;
  let turns = 0;
  while (performance.now() < end) turns++;
  return turns;
}

async function probe(pausesMs: number[], modes: Array<'sleep' | 'spin'>, runs: number, warmup: number) {
  let sink = 0;
  for (let index = 0; index < warmup; index++) sink += work();
  const series: PauseSeries[] = [];
  const time = async (pauseMs: number, mode: 'sleep' | 'spin', count: number) => {
    const times: number[] = [];
    for (let index = 0; index < count; index++) {
      if (pauseMs > 0) {
        if (mode === 'sleep') await sleep(pauseMs);
        else sink += spin(pauseMs);
      }
      const start = performance.now();
      sink += work();
      times.push((performance.now() - start) * 1000);
    }
    series.push(summariseSeries(pauseMs, mode, times));
  };
  await time(0, 'sleep', runs * 5);
  for (const pauseMs of pausesMs)
    for (const mode of modes)
      await time(pauseMs, mode, pauseMs >= 100 ? Math.max(1, Math.round(runs / 4)) : runs);
  // The sum is printed nowhere but keeps V8 from dropping the work as unused.
  if (sink === -1) process.stderr.write('unreachable\n');
  process.stdout.write(JSON.stringify(series));
}

const usage = `
node bench/pause-cost.ts [--cpu 0] [--pauses 1,5,20,100] [--modes sleep,spin] [--runs 200] [--warmup 2000]
  Times one fixed piece of JavaScript back to back and after each pause (sleeping in the event
  loop, or spinning on the CPU), pinned to --cpu (default 0: the core the benchmark gives the
  systems under test; --cpu none leaves it unpinned), and prints a table.
`;

if (import.meta.main) {
  const { values } = toolArgs(usage, {
    options: {
      probe: { type: 'boolean' },
      cpu: { type: 'string', default: '0' },
      pauses: { type: 'string', default: `1,5,${ratioPauseMs},100` },
      modes: { type: 'string', default: 'sleep,spin' },
      runs: { type: 'string', default: '200' },
      warmup: { type: 'string', default: '2000' },
    },
  });
  const pausesMs = values.pauses.split(',').map(Number);
  const modes = values.modes.split(',') as Array<'sleep' | 'spin'>;
  const runs = Number(values.runs);
  const warmup = Number(values.warmup);
  if (pausesMs.some((pause) => !Number.isFinite(pause) || pause <= 0))
    fail(usage, `--pauses: positive numbers of milliseconds, got "${values.pauses}"`);
  if (modes.some((mode) => mode !== 'sleep' && mode !== 'spin'))
    fail(usage, `--modes: sleep and/or spin, got "${values.modes}"`);
  if (!Number.isInteger(runs) || runs < 1) fail(usage, `--runs: a positive integer, got "${values.runs}"`);
  if (!Number.isInteger(warmup) || warmup < 0)
    fail(usage, `--warmup: an integer ≥ 0, got "${values.warmup}"`);
  if (values.probe) await probe(pausesMs, modes, runs, warmup);
  else {
    const cost = await measurePauseCost({
      cpu: values.cpu === 'none' ? undefined : values.cpu,
      pausesMs,
      modes,
      runs,
      warmup,
    });
    process.stdout.write(renderPauseCost(cost));
  }
}
