/**
 * Command-line options of `npm run bench` and the three presets: `full` (the published run,
 * about 35 minutes), `--quick` (the same matrix with short measurements, about 8 minutes) and
 * `--smoke` (about a minute, bare proxy and odock only; what test/bench-smoke.test.ts runs).
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type CpuIdleMode, cpuIdleOption } from './cpu-idle.ts';
import { type StreamShape, type SystemId, systemIds } from './systems.ts';
import { parseGatewayEnvironment } from './tool-args.ts';

export const scenarioIds = ['latency', 'throughput', 'stream', 'memory', 'instructions'] as const;
export type ScenarioId = (typeof scenarioIds)[number];
export const presetNames = ['full', 'quick', 'smoke'] as const;
export type PresetName = (typeof presetNames)[number];

/** Seconds. */
export interface Durations {
  /**
   * Unmeasured load each system gets once, before the first cell: V8 compiles the request path
   * during its first ~20,000 requests (over a thousand functions, on the same core as the
   * event loop), and a gateway in production has long finished that.
   */
  settle: number;
  /** Discarded run before each closed-loop measurement. */
  warmup: number;
  latency: number;
  searchWarmup: number;
  searchStep: number;
  openLoopWarmup: number;
  openLoop: number;
  streamWarmup: number;
  /** Per stream concurrency, in the order of `streamConcurrencies`. */
  stream: readonly number[];
  memory: number;
}

export interface Preset {
  systems: readonly SystemId[];
  scenarios: readonly ScenarioId[];
  durations: Durations;
  /** Latency matrix cells: concurrency at the 0 ms mock and at the 20 ms mock. */
  zeroMockConcurrencies: readonly number[];
  twentyMockConcurrencies: readonly number[];
  /**
   * Extra interleaved runs of the CPU cell (c=64 at the 20 ms mock; the matrix's first cell
   * without it) after the latency matrix, each as long as a latency cell. CPU per request and
   * the capacity ratios are the median over the cell and these rounds: one 8-second cell moves
   * by ±20 % on a shared VM.
   */
  cpuRounds: number;
  /** Closed-loop connection counts tried in the throughput search, in order. */
  searchLadder: readonly number[];
  streamConcurrencies: readonly number[];
  memoryStreams: number;
  stream: StreamShape;
  /** The issue's throughput target, also run open loop for odock-server. */
  targetRate: number;
  /**
   * The `instructions` scenario, last: odock-server with telemetry on and off under callgrind,
   * one request at a time against the 0 ms mock (bench/instruction-count.ts), after `warmup`
   * requests, `requests` counted.
   */
  instructionCounts: { warmup: number; requests: number };
  /**
   * The machine's cost of a pause (bench/pause-cost.ts), timed on the systems' core before any of
   * them starts: `runs` timed runs after each 20 ms pause, sleeping and spinning, and five times
   * as many back to back, after `warmup` untimed runs.
   */
  pauseCost: { runs: number; warmup: number };
  /** Seconds the run should take at most; disturbed measurements are repeated only within 80 % of it. */
  budgetS: number;
  /** Longest wait for the run's own processes to go idle before a measurement. */
  quiesceTimeoutS: number;
}

const issueStream: StreamShape = { timeToFirstTokenMs: 20, chunkIntervalMs: 20, chunks: 64 };
const fullLadder = [16, 32, 64, 96, 128, 160, 192, 256, 320, 384, 512];

export const presets: Record<PresetName, Preset> = {
  full: {
    systems: systemIds,
    scenarios: scenarioIds,
    durations: {
      settle: 15,
      warmup: 2,
      latency: 8,
      searchWarmup: 1,
      // Long enough to hold the gateway's periodic pauses (a full collection every few seconds,
      // the /metrics scrape every 15 s): at 4 s a step at 16 connections passed or failed by
      // whether one landed in it (docs/performance.md, "What each number means").
      searchStep: 10,
      openLoopWarmup: 2,
      openLoop: 10,
      streamWarmup: 2,
      // A stream of the issue's shape lasts 1.3 s, so one connection completes about 100 in
      // 135 s: enough for a p99 that is not the cell's maximum (20 s held 15 streams, and the
      // time-to-first-token target flipped from run to run on its slowest one).
      stream: [135, 10],
      memory: 10,
    },
    zeroMockConcurrencies: [1],
    twentyMockConcurrencies: [1, 10, 64],
    cpuRounds: 3,
    searchLadder: fullLadder,
    streamConcurrencies: [1, 64],
    memoryStreams: 1000,
    stream: issueStream,
    targetRate: 4000,
    // bench/instructions.ts's defaults: the count moves by 0.3-1.5 % between two runs of one tree.
    instructionCounts: { warmup: 20_000, requests: 5_000 },
    pauseCost: { runs: 200, warmup: 2_000 },
    budgetS: 1800,
    quiesceTimeoutS: 15,
  },
  quick: {
    systems: systemIds,
    scenarios: scenarioIds,
    durations: {
      settle: 5,
      warmup: 1,
      latency: 3,
      searchWarmup: 1,
      searchStep: 2,
      openLoopWarmup: 1,
      openLoop: 3,
      streamWarmup: 1,
      stream: [5, 3],
      memory: 4,
    },
    zeroMockConcurrencies: [1],
    twentyMockConcurrencies: [1, 10, 64],
    cpuRounds: 1,
    searchLadder: [32, 64, 128, 192, 256, 384],
    streamConcurrencies: [1, 64],
    memoryStreams: 1000,
    stream: issueStream,
    targetRate: 4000,
    instructionCounts: { warmup: 3_000, requests: 1_000 },
    pauseCost: { runs: 50, warmup: 1_000 },
    budgetS: 300,
    quiesceTimeoutS: 10,
  },
  smoke: {
    systems: ['bare', 'odock'],
    scenarios: scenarioIds,
    durations: {
      settle: 0,
      warmup: 0,
      latency: 1,
      searchWarmup: 0,
      searchStep: 1,
      openLoopWarmup: 0,
      openLoop: 1,
      streamWarmup: 0,
      stream: [1],
      memory: 1,
    },
    zeroMockConcurrencies: [1],
    twentyMockConcurrencies: [],
    cpuRounds: 1,
    searchLadder: [8],
    streamConcurrencies: [1],
    memoryStreams: 10,
    stream: { timeToFirstTokenMs: 5, chunkIntervalMs: 5, chunks: 4 },
    targetRate: 200,
    instructionCounts: { warmup: 30, requests: 10 },
    pauseCost: { runs: 3, warmup: 10 },
    budgetS: 0,
    quiesceTimeoutS: 2,
  },
};

export interface BenchOptions extends Preset {
  preset: PresetName;
  /** Directory of the results files, and their base name (`latest`, `quick`, `smoke`). */
  outDir: string;
  outName: string;
  portBase: number;
  repoRoot: string;
  gatewayRoot: string;
  /** Postgres server where the benchmark's database is created, and its name. */
  adminDatabaseUrl: string;
  databaseName: string;
  /** Use this database as is instead (nothing is created). */
  databaseUrl: string | undefined;
  redisUrl: string;
  /** Pin systems to CPU 0 and the load side to CPU 1 (needs two CPUs). */
  pin: boolean;
  /** Seconds to wait at most, before each cell, for other processes to leave the CPUs alone. */
  waitQuietS: number;
  /** `--cpu-idle`: hold idle CPUs polling for the run (`poll`, bench/cpu-idle.ts) or leave them (`os`). */
  cpuIdle: CpuIdleMode;
  /** `--gateway-env`: odock-server's environment beyond the benchmark's (empty: as shipped). */
  gatewayEnv: Record<string, string>;
  /**
   * `--ttft-streams`: counted streams per target in the one-connection stream cell, in whole
   * turns, instead of the streams its duration holds (about 100 in the full preset: too few to
   * bound a p99 from above, bench/quantile-interval.ts). Undefined: the duration decides.
   */
  ttftStreams?: number;
}

export const benchUsage = `usage: npm run bench -- [options]

  --quick                  short measurements of the full matrix (about 8 minutes)
  --smoke                  about a minute: bare proxy and odock only (the test suite's smoke run)
  --systems a,b            subset of ${systemIds.join(', ')}
  --scenarios a,b          subset of ${scenarioIds.join(', ')}
                           (instructions: odock-server with telemetry on and off under valgrind's
                           callgrind, one request at a time, after the others; needs valgrind)
  --out DIR                results directory (default bench/results)
  --name NAME              results file base name (default: latest for full runs, else the preset)
  --port-base N            first of the ports the run uses (default 18100; 24 ports)
  --gateway-root DIR       run the gateway (bin/odock-server.js) from another checkout (default: this one)
  --admin-database-url U   Postgres server on which the bench database is created
                           (default postgres://postgres@127.0.0.1:5432/test)
  --database-name NAME     the benchmark's own database (default odock_bench)
  --database-url U         use this database as is
  --redis-url U            Redis (default redis://127.0.0.1:6379)
  --target-rate N          open-loop rate of the issue's throughput target (default 4000)
  --no-pin                 do not pin processes to CPUs
  --cpu-idle poll|os       poll (default): idle CPUs poll instead of halting for the run (the
                           harness holds /dev/cpu_dma_latency at 0 µs; needs root), so no request
                           waits for a halted virtual CPU to wake; os: the idle states as they are
  --wait-quiet S           on a shared machine: before each cell, wait up to S seconds until other
                           processes use less than a fifth of a CPU, and repeat disturbed
                           measurements whatever the time (default 0: do not wait)
  --ttft-streams N         counted streams per target at one connection in the stream scenario
                           (default: what the preset's duration holds, about 100 in the full run;
                           a p99 has an upper bound from 368 streams, their slowest, so the
                           time-to-first-token target can be decided from there: 400 streams
                           take some 9 minutes per target)
  --gateway-env KEY=VALUE  odock-server's environment beyond the benchmark's (repeatable), e.g.
                           ODOCK_MEMORY_LIMIT_MB=224; default: as shipped. The results list it
`;

export function parseBenchOptions(argv: readonly string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      quick: { type: 'boolean' },
      smoke: { type: 'boolean' },
      systems: { type: 'string' },
      scenarios: { type: 'string' },
      out: { type: 'string' },
      name: { type: 'string' },
      'port-base': { type: 'string' },
      'gateway-root': { type: 'string' },
      'admin-database-url': { type: 'string' },
      'database-name': { type: 'string' },
      'database-url': { type: 'string' },
      'redis-url': { type: 'string' },
      'target-rate': { type: 'string' },
      'no-pin': { type: 'boolean' },
      'cpu-idle': { type: 'string' },
      'wait-quiet': { type: 'string' },
      'gateway-env': { type: 'string', multiple: true },
      'ttft-streams': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const preset: PresetName = values.smoke ? 'smoke' : values.quick ? 'quick' : 'full';
  const base = presets[preset];
  const list = <T extends string>(text: string | undefined, allowed: readonly T[], flag: string) => {
    if (text === undefined) return undefined;
    const entries = text.split(',').map((entry) => entry.trim());
    for (const entry of entries)
      if (!(allowed as readonly string[]).includes(entry))
        throw new Error(`--${flag}: unknown "${entry}" (one of ${allowed.join(', ')})`);
    return entries as T[];
  };
  const integer = (text: string | undefined, flag: string, fallback: number) => {
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`--${flag}: must be a positive integer`);
    return value;
  };
  const repoRoot = fileURLToPath(new URL('..', import.meta.url));
  return {
    ...base,
    preset,
    systems: list(values.systems, systemIds, 'systems') ?? base.systems,
    scenarios: list(values.scenarios, scenarioIds, 'scenarios') ?? base.scenarios,
    outDir: resolve(values.out ?? fileURLToPath(new URL('./results', import.meta.url))),
    outName: values.name ?? (preset === 'full' ? 'latest' : preset),
    portBase: integer(values['port-base'], 'port-base', 18100),
    repoRoot,
    gatewayRoot: resolve(values['gateway-root'] ?? repoRoot),
    adminDatabaseUrl: values['admin-database-url'] ?? 'postgres://postgres@127.0.0.1:5432/test',
    databaseName: values['database-name'] ?? 'odock_bench',
    databaseUrl: values['database-url'],
    redisUrl: values['redis-url'] ?? 'redis://127.0.0.1:6379',
    pin: !values['no-pin'],
    waitQuietS: values['wait-quiet'] === undefined ? 0 : integer(values['wait-quiet'], 'wait-quiet', 0),
    cpuIdle: cpuIdleOption(values['cpu-idle']),
    targetRate: integer(values['target-rate'], 'target-rate', base.targetRate),
    gatewayEnv: parseGatewayEnvironment(values['gateway-env']),
    ...(values['ttft-streams'] === undefined
      ? {}
      : { ttftStreams: integer(values['ttft-streams'], 'ttft-streams', 0) }),
  };
}
