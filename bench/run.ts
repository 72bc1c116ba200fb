/**
 * `npm run bench`: the reproducible benchmark of issue 6. Starts the mock upstreams and a
 * stand-in OTLP collector on the load generator's core, the systems under test (bare proxy,
 * odock-server with telemetry on and off, Portkey) pinned together on the other core, measures
 * them interleaved, and writes bench/results/<name>.json and .md. `--help` lists the options;
 * docs/performance.md explains every number.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { holdCpuIdle } from './cpu-idle.ts';
import { countInstructions, instructionsPerRequest, requireValgrind } from './instruction-count.ts';
import { collectVersions, ensureDatabase, machineInfo } from './machine.ts';
import { type BenchOptions, benchUsage, parseBenchOptions } from './options.ts';
import type { OtlpStats } from './otlp-receiver.ts';
import { measurePauseCost, ratioPauseMs as pauseCostPauseMs, pauseCostSummary } from './pause-cost.ts';
import { run, type Service } from './processes.ts';
import { renderMarkdown } from './report.ts';
import type { BenchResults, InstructionResult } from './results.ts';
import { Scenarios } from './scenarios.ts';
import {
  answersStreams,
  type BenchEnvironment,
  mockModes,
  otlpUrl,
  type SystemId,
  startMock,
  startOtlpReceiverProcess,
  startSystem,
  streamLengthMs,
  systemUrl,
} from './systems.ts';

/** Prometheus's default scrape interval in the project's stack (telemetry contract, section 1). */
const scrapeIntervalMs = 15_000;

export interface BenchRun {
  results: BenchResults;
  markdownPath: string;
  jsonPath: string;
}

function estimateMinutes(options: BenchOptions): number {
  const d = options.durations;
  const targets = options.systems.length + 1;
  const cells = options.zeroMockConcurrencies.length + options.twentyMockConcurrencies.length;
  const settleS = d.settle > 0 ? d.settle + Math.max(2, Math.round(d.settle / 3)) : 0;
  const streaming = options.systems.filter(answersStreams).length;
  let seconds = 15 + options.systems.length * (3 + settleS);
  if (options.scenarios.includes('latency'))
    seconds += (cells * targets + options.cpuRounds * options.systems.length) * (d.warmup + d.latency + 0.3);
  if (options.scenarios.includes('throughput')) {
    const steps = Math.min(options.searchLadder.length, 8);
    seconds +=
      steps * targets * (d.searchWarmup + d.searchStep + 0.3) +
      options.systems.length * 3 * (d.openLoop + d.openLoopWarmup + 1);
  }
  if (options.scenarios.includes('stream')) {
    // --ttft-streams: each counted stream at one connection with its turn's share of the lead
    // stream (one in eleven).
    const streamS = (index: number) =>
      options.streamConcurrencies[index] === 1 && options.ttftStreams !== undefined
        ? (options.ttftStreams * streamLengthMs(options.stream) * 1.1) / 1000
        : (d.stream[index] ?? 0);
    seconds +=
      options.streamConcurrencies.reduce((sum, _, index) => sum + streamS(index) + d.streamWarmup + 2, 0) *
      (streaming + 1);
  }
  if (options.scenarios.includes('memory')) seconds += streaming * (d.memory + 3);
  // The pause cost: two series of 20 ms pauses, and the work back to back.
  seconds += (2 * options.pauseCost.runs * pauseCostPauseMs) / 1000 + 2;
  if (options.scenarios.includes('instructions')) {
    // Under callgrind, the variants side by side (stop 28's run): about 20 s to start, some 250
    // warm-up requests a second, 110 counted ones.
    const { warmup, requests } = options.instructionCounts;
    if (countedSystems(options).length > 0) seconds += 20 + warmup / 250 + requests / 110;
  }
  return seconds / 60;
}

async function fetchJson<T>(url: string): Promise<T | null> {
  try {
    const response = await fetch(url);
    return response.ok ? ((await response.json()) as T) : null;
  } catch {
    return null;
  }
}

export async function runBench(
  options: BenchOptions,
  log: (line: string) => void = console.log,
): Promise<BenchRun> {
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const progress = (message: string) => {
    const seconds = Math.round((performance.now() - started) / 1000);
    log(
      `[${String(Math.floor(seconds / 60)).padStart(2, '0')}:${String(seconds % 60).padStart(2, '0')}] ${message}`,
    );
  };
  // Before anything starts: a run without valgrind would fail only at its end.
  if (options.scenarios.includes('instructions') && countedSystems(options).length > 0)
    await requireValgrind();
  const cpus = os.cpus().length;
  const pin = options.pin && cpus >= 2;
  const notes: string[] = [];
  if (options.pin && !pin) notes.push(`only ${cpus} CPU: processes were not pinned`);
  const runDir = await mkdtemp(join(os.tmpdir(), 'odock-bench-'));
  const databaseUrl =
    options.databaseUrl ??
    (await ensureDatabase(options.adminDatabaseUrl, options.databaseName, options.repoRoot));
  const environment: BenchEnvironment = {
    repoRoot: options.repoRoot,
    gatewayRoot: options.gatewayRoot,
    portBase: options.portBase,
    systemCpu: pin ? '0' : undefined,
    loadCpu: pin ? '1' : undefined,
    runDir,
    databaseUrl,
    redisUrl: options.redisUrl,
    stream: options.stream,
    gatewayEnv: options.gatewayEnv,
  };
  progress(
    `${options.preset} run: systems ${options.systems.join(', ')}; scenarios ${options.scenarios.join(', ')}; ` +
      `about ${Math.ceil(estimateMinutes(options))} min; logs in ${runDir}`,
  );

  // Held from before the first process starts until the last one stopped.
  const cpuIdle = holdCpuIdle(options.cpuIdle);
  progress(`idle CPUs: ${cpuIdle.description}`);
  const infrastructure: Service[] = [];
  const services = new Map<SystemId, Service>();
  const metricsScrapes: Record<string, number> = {};
  let scraper: NodeJS.Timeout | undefined;
  const stopAll = async () => {
    clearInterval(scraper);
    for (const service of [...services.values(), ...infrastructure]) await service.stop().catch(() => {});
  };
  const interrupt = () => {
    stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  let succeeded = false;
  try {
    // Timed on the systems' core while nothing of the run is up yet.
    progress("timing the work after a pause on the systems' core (bench/pause-cost.ts)");
    const pauseCost = await measurePauseCost({
      cpu: environment.systemCpu,
      pausesMs: [pauseCostPauseMs],
      runs: options.pauseCost.runs,
      warmup: options.pauseCost.warmup,
    });
    progress(`work after a pause: ${pauseCostSummary(pauseCost)}`);
    const starting = [
      ...mockModes.map((mode) => startMock(environment, mode)),
      startOtlpReceiverProcess(environment),
    ];
    const infrastructureStarts = await Promise.allSettled(starting);
    for (const outcome of infrastructureStarts)
      if (outcome.status === 'fulfilled') infrastructure.push(outcome.value);
    for (const outcome of infrastructureStarts) if (outcome.status === 'rejected') throw outcome.reason;
    // The gateways one after the other (two processes migrating one database wait on each
    // other's lock); the others alongside.
    const startOne = async (system: SystemId) => {
      services.set(system, await startSystem(environment, system));
      progress(`started ${system} (pid ${services.get(system)!.pid}) on ${systemUrl(environment, system)}`);
    };
    const gateways = options.systems.filter((system) => system.startsWith('odock'));
    const others = options.systems.filter((system) => !system.startsWith('odock'));
    const startedSystems = await Promise.allSettled([
      (async () => {
        for (const system of gateways) await startOne(system);
      })(),
      ...others.map(startOne),
    ]);
    for (const outcome of startedSystems) if (outcome.status === 'rejected') throw outcome.reason;
    // Report in the order of the options, whatever order they started in.
    const ordered = new Map(options.systems.map((system) => [system, services.get(system)!]));
    services.clear();
    for (const [system, service] of ordered) services.set(system, service);
    if (services.has('odock')) {
      const scrape = async () => {
        const status = await fetch(`${systemUrl(environment, 'odock')}/metrics`)
          .then(async (response) => {
            await response.arrayBuffer();
            return String(response.status);
          })
          .catch(() => 'error');
        metricsScrapes[status] = (metricsScrapes[status] ?? 0) + 1;
      };
      await scrape();
      scraper = setInterval(scrape, scrapeIntervalMs);
    }

    const results: BenchResults = {
      schema: 1,
      preset: options.preset,
      startedAt,
      finishedAt: '',
      elapsedS: 0,
      machine: await machineInfo(),
      pauseCost,
      versions: await collectVersions({
        repoRoot: options.repoRoot,
        gatewayRoot: options.gatewayRoot,
        databaseUrl,
        redisUrl: options.redisUrl,
      }),
      setup: {
        systemCpu: environment.systemCpu ?? null,
        loadCpu: environment.loadCpu ?? null,
        systems: options.systems,
        scenarios: options.scenarios,
        durations: options.durations,
        stream: options.stream,
        targetRate: options.targetRate,
        ...(options.ttftStreams === undefined ? {} : { ttftStreams: options.ttftStreams }),
        ...(Object.keys(options.gatewayEnv).length === 0 ? {} : { gatewayEnv: options.gatewayEnv }),
        cpuIdle: cpuIdle.description,
      },
      telemetry: { otlp: null, metricsScrapes, active: false },
      latency: [],
      search: [],
      maxThroughput: {},
      saturationThroughput: {},
      openLoop: [],
      streams: [],
      memory: {},
      notes,
    };
    const scenarios = new Scenarios(options, environment, services, results, progress, infrastructure);
    await scenarios.settle();
    if (options.scenarios.includes('latency')) await scenarios.latency();
    if (options.scenarios.includes('throughput')) await scenarios.throughput();
    if (options.scenarios.includes('stream')) await scenarios.streams();
    await scenarios.memory();

    clearInterval(scraper);
    const otlp = await fetchJson<OtlpStats>(`${otlpUrl(environment)}/stats`);
    results.telemetry.otlp = otlp;
    results.telemetry.active = (otlp?.traces.requests ?? 0) > 0 || (metricsScrapes['200'] ?? 0) > 0;
    for (const [system, service] of services)
      if (service.exited) notes.push(`${system} exited during the run (see its log)`);
    if (options.scenarios.includes('instructions'))
      results.instructions = await countGatewayInstructions(options, environment, services, progress);
    results.finishedAt = new Date().toISOString();
    results.elapsedS = (performance.now() - started) / 1000;

    await mkdir(options.outDir, { recursive: true });
    const jsonPath = join(options.outDir, `${options.outName}.json`);
    const markdownPath = join(options.outDir, `${options.outName}.md`);
    await writeFile(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
    await formatJson(options.repoRoot, jsonPath);
    await writeFile(markdownPath, `# Benchmark results\n\n${renderMarkdown(results)}`);
    progress(`wrote ${markdownPath} and ${jsonPath}`);
    succeeded = true;
    return { results, markdownPath, jsonPath };
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    await stopAll();
    cpuIdle.release();
    // Logs stay for a post-mortem when the run failed.
    if (succeeded) await rm(runDir, { recursive: true, force: true }).catch(() => {});
    else log(`logs kept in ${runDir}`);
  }
}

/** The systems the `instructions` scenario counts: odock-server with telemetry on and off. */
function countedSystems(options: BenchOptions): SystemId[] {
  return options.systems.filter((system) => system === 'odock' || system === 'odock-notel');
}

/**
 * The `instructions` scenario: each gateway variant stopped (its counted twin listens on the
 * same port) and started again under callgrind, in a run directory of its own. A count does not
 * depend on what else the machine runs, so the variants are counted side by side, unpinned (one
 * core each), in the time of one.
 */
async function countGatewayInstructions(
  options: BenchOptions,
  environment: BenchEnvironment,
  services: ReadonlyMap<SystemId, Service>,
  progress: (line: string) => void,
): Promise<Partial<Record<SystemId, InstructionResult>>> {
  const { warmup, requests } = options.instructionCounts;
  const countOne = async (system: SystemId): Promise<[SystemId, InstructionResult]> => {
    await services.get(system)?.stop();
    const runDir = join(environment.runDir, `instructions-${system}`);
    await mkdir(runDir, { recursive: true });
    const count = await countInstructions({ ...environment, runDir, systemCpu: undefined }, system, {
      warmup,
      requests,
      // The start and the end of each phase: every tenth would flood the run's progress.
      progress: (line, milestone) => {
        if (milestone) progress(line);
      },
    });
    const perRequest = instructionsPerRequest(count);
    progress(
      `instructions ${system}: ${Math.round(perRequest.withoutCollector).toLocaleString('en-US')} per request ` +
        `without the collector and V8's compilers (${Math.round(perRequest.total).toLocaleString('en-US')} in all)`,
    );
    return [
      system,
      {
        warmup,
        requests,
        perRequest: perRequest.total,
        withoutCollector: perRequest.withoutCollector,
        elapsedS: count.elapsedS,
      },
    ];
  };
  // Settled, not raced: a failed count must not leave its twin running under valgrind.
  const outcomes = await Promise.allSettled(countedSystems(options).map(countOne));
  for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
  return Object.fromEntries(
    outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : [])),
  );
}

/** Lays the JSON out as the repository's formatter does, so a committed result passes `biome check`. */
async function formatJson(repoRoot: string, path: string): Promise<void> {
  await run([join(repoRoot, 'node_modules/.bin/biome'), 'format', '--write', path], { cwd: repoRoot }).catch(
    () => {},
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let options: BenchOptions | 'help';
  try {
    options = parseBenchOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${benchUsage}`);
    process.exit(2);
  }
  if (options === 'help') {
    process.stdout.write(benchUsage);
  } else {
    const { markdownPath } = await runBench(options);
    process.stdout.write(`\n${await readFile(markdownPath, 'utf8')}`);
  }
}
