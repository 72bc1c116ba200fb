/**
 * The measurements of a run. Every cell measures the direct-to-mock baseline and each system
 * back to back, in an order rotated from cell to cell (interleaved: no system is always
 * measured first or last, and a drift of the machine spreads over all of them).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type LoadResult, parseResultLine } from './load-result.ts';
import { cpuSnapshot, foreignLoad, processCpuSeconds, utilisation, waitForQuiet } from './machine.ts';
import type { OpenLoopOptions } from './open-loop.ts';
import type { BenchOptions } from './options.ts';
import { run, type Service } from './processes.ts';
import {
  type BenchResults,
  errorRate,
  type MaxThroughput,
  type Measurement,
  type SearchStep,
  subtract,
} from './results.ts';
import type { StreamLoadOptions } from './stream-load.ts';
import { type BenchEnvironment, type MockMode, requestFor, type SystemId, type TargetId } from './systems.ts';
import { runClosedLoop } from './wrk.ts';

export type Progress = (message: string) => void;

const addedP99LimitMs = 5;
const quiesceSampleMs = 200;
/** Share of one CPU the run's own processes may use and still count as idle. */
const quiesceBusyLimit = 0.05;
/** Cores' worth of other processes' CPU above which a measurement is repeated. */
const retryForeignLoad = 0.5;
const quietWaitMs = 10_000;
/** Other processes' CPUs below which the machine counts as quiet. */
const quietThreshold = 0.2;
const errorRateLimit = 0.001;

function rotate<T>(list: readonly T[], by: number): T[] {
  if (list.length === 0) return [];
  const shift = by % list.length;
  return [...list.slice(shift), ...list.slice(0, shift)];
}

const fixed = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

export class Scenarios {
  readonly #options: BenchOptions;
  readonly #environment: BenchEnvironment;
  readonly #services: ReadonlyMap<SystemId, Service>;
  readonly #results: BenchResults;
  readonly #progress: Progress;
  readonly #ownPids: readonly number[];
  readonly #startedAt: number;
  #cell = 0;

  constructor(
    options: BenchOptions,
    environment: BenchEnvironment,
    services: ReadonlyMap<SystemId, Service>,
    results: BenchResults,
    progress: Progress,
    infrastructure: readonly Service[],
  ) {
    this.#options = options;
    this.#environment = environment;
    this.#services = services;
    this.#results = results;
    this.#progress = progress;
    this.#ownPids = [...services.values(), ...infrastructure].map((service) => service.pid);
    this.#startedAt = performance.now();
  }

  get #systems(): SystemId[] {
    return this.#options.systems.filter((system) => this.#services.has(system));
  }

  /**
   * Waits (at most the preset's `quiesceTimeoutS`) until the run's own processes are idle: an overloaded
   * system can still be working off a backlog when its generator has given up, and that must
   * not be charged to the next measurement.
   */
  async #quiesce(): Promise<void> {
    const deadline = performance.now() + this.#options.quiesceTimeoutS * 1000;
    let before = await Promise.all(this.#ownPids.map((pid) => processCpuSeconds(pid).catch(() => 0)));
    while (performance.now() < deadline) {
      await sleep(quiesceSampleMs);
      const after = await Promise.all(this.#ownPids.map((pid) => processCpuSeconds(pid).catch(() => 0)));
      const used = after.reduce((sum, seconds, index) => sum + seconds - (before[index] ?? 0), 0);
      if (used / (quiesceSampleMs / 1000) < quiesceBusyLimit) return;
      before = after;
    }
  }

  /** With `--wait-quiet`: before each cell, wait for other processes to leave the CPUs alone. */
  async #beforeCell(label: string): Promise<void> {
    const maxMs = this.#options.waitQuietS * 1000;
    if (maxMs <= 0) return;
    const started = performance.now();
    const foreign = await waitForQuiet(this.#ownPids, { maxMs, windowMs: 2_000, threshold: quietThreshold });
    const waitedS = (performance.now() - started) / 1000;
    if (waitedS > 3)
      this.#progress(
        `${label}: waited ${waitedS.toFixed(0)} s for a quiet machine (other processes now ${foreign.toFixed(2)} CPUs)`,
      );
  }

  /** Within the time budget, or always when the run was asked to wait for quiet. */
  #mayRetry(): boolean {
    if (this.#options.waitQuietS > 0) return true;
    return (performance.now() - this.#startedAt) / 1000 < this.#options.budgetS * 0.8;
  }

  /**
   * Runs `load` against `target`, with CPU accounting of the target's process, of both cores and
   * of the rest of the machine. A measurement disturbed by other processes (more than half a CPU
   * on average) is repeated once, after waiting for the machine to calm down, while the
   * run is within its time budget; the less disturbed of the two is kept.
   */
  async #measure(
    target: TargetId,
    mock: MockMode,
    kind: Measurement['kind'],
    parameters: { concurrency?: number; rate?: number },
    load: () => Promise<LoadResult>,
  ): Promise<Measurement> {
    let measurement = await this.#measureOnce(target, mock, kind, parameters, load);
    if ((measurement.foreignLoad ?? 0) > retryForeignLoad && this.#mayRetry()) {
      await waitForQuiet(this.#ownPids, {
        maxMs: Math.max(quietWaitMs, this.#options.waitQuietS * 1000),
        windowMs: 1_000,
        threshold: quietThreshold,
      });
      const again = await this.#measureOnce(target, mock, kind, parameters, load);
      again.retried = true;
      if ((again.foreignLoad ?? 0) < (measurement.foreignLoad ?? 0)) measurement = again;
      else measurement.retried = true;
    }
    return measurement;
  }

  async #measureOnce(
    target: TargetId,
    mock: MockMode,
    kind: Measurement['kind'],
    parameters: { concurrency?: number; rate?: number },
    load: () => Promise<LoadResult>,
  ): Promise<Measurement> {
    await this.#quiesce();
    const service = target === 'direct' ? undefined : this.#services.get(target);
    const cpuBefore = service === undefined ? 0 : await processCpuSeconds(service.pid);
    const before = await cpuSnapshot(this.#ownPids);
    const result = await load();
    const after = await cpuSnapshot(this.#ownPids);
    const measurement: Measurement = { target, mock, kind, ...parameters, result };
    if (service !== undefined) {
      const cpuSeconds = (await processCpuSeconds(service.pid)) - cpuBefore;
      const requests = result.allRequests ?? result.requests;
      if (requests > 0) measurement.cpuMsPerRequest = (cpuSeconds * 1000) / requests;
    }
    const { systemCpu, loadCpu } = this.#environment;
    if (systemCpu !== undefined)
      measurement.systemCoreBusy = utilisation(before.cores, after.cores, systemCpu);
    if (loadCpu !== undefined) measurement.loadCoreBusy = utilisation(before.cores, after.cores, loadCpu);
    const others = foreignLoad(before, after);
    measurement.foreignLoad = others.foreign;
    measurement.datastoreLoad = others.datastores;
    return measurement;
  }

  async #closedLoop(
    target: TargetId,
    mock: MockMode,
    connections: number,
    warmupS: number,
    durationS: number,
  ) {
    const request = requestFor(this.#environment, target, mock);
    const cpu = this.#environment.loadCpu;
    if (warmupS > 0) await this.#quiesce();
    if (warmupS > 0) await runClosedLoop({ request, connections, durationS: warmupS, cpu });
    return this.#measure(target, mock, 'closed', { concurrency: connections }, () =>
      runClosedLoop({ request, connections, durationS, cpu }),
    );
  }

  async #generator<T>(script: string, options: T): Promise<LoadResult> {
    const path = fileURLToPath(new URL(script, import.meta.url));
    const command = [process.execPath, path, JSON.stringify(options)];
    const cpu = this.#environment.loadCpu;
    const { stdout } = await run(cpu === undefined ? command : ['taskset', '-c', cpu, ...command]);
    return parseResultLine<LoadResult>(stdout);
  }

  #openLoop(target: TargetId, rate: number) {
    const { durations } = this.#options;
    const options: OpenLoopOptions = {
      request: requestFor(this.#environment, target, 'twenty'),
      rate,
      durationS: durations.openLoop,
      warmupS: durations.openLoopWarmup,
    };
    return this.#measure(target, 'twenty', 'open', { rate }, () =>
      this.#generator('./open-loop.ts', options),
    );
  }

  #streams(target: TargetId, concurrency: number, durationS: number, warmupS: number) {
    const options: StreamLoadOptions = {
      request: requestFor(this.#environment, target, 'stream'),
      concurrency,
      durationS,
      warmupS,
    };
    return this.#measure(target, 'stream', 'stream', { concurrency }, () =>
      this.#generator('./stream-load.ts', options),
    );
  }

  /** Added latency at concurrency 1 (0 ms mock) and at 1, 10, 64 (20 ms mock). */
  async latency(): Promise<void> {
    const { durations } = this.#options;
    const cells: Array<[MockMode, number]> = [
      ...this.#options.zeroMockConcurrencies.map((concurrency): [MockMode, number] => ['zero', concurrency]),
      ...this.#options.twentyMockConcurrencies.map((concurrency): [MockMode, number] => [
        'twenty',
        concurrency,
      ]),
    ];
    for (const [mock, concurrency] of cells) {
      await this.#beforeCell(`latency ${mock === 'zero' ? '0' : '20'} ms mock, c=${concurrency}`);
      const targets = rotate<TargetId>(['direct', ...this.#systems], this.#cell++);
      const measured = new Map<TargetId, Measurement>();
      for (const target of targets) {
        const measurement = await this.#closedLoop(
          target,
          mock,
          concurrency,
          durations.warmup,
          durations.latency,
        );
        this.#results.latency.push(measurement);
        measured.set(target, measurement);
      }
      const direct = measured.get('direct')!.result.latencyMs;
      const line = [`direct p50 ${fixed(direct.p50)} p99 ${fixed(direct.p99)}`];
      for (const system of this.#systems) {
        const result = measured.get(system)!.result;
        const added = subtract(result.latencyMs, direct);
        line.push(`${system} +${fixed(added.p50)}/+${fixed(added.p99)}`);
      }
      this.#progress(
        `latency ${mock === 'zero' ? '0' : '20'} ms mock, c=${concurrency}: ${line.join(', ')} ms`,
      );
    }
  }

  /**
   * Closed-loop search for the most requests/s at added p99 ≤ 5 ms and < 0.1 % errors (20 ms
   * mock), one connection count after another, then one bisection step; then an open-loop run
   * at the rate found (and at the target rate for odock-server) to check it without
   * coordinated omission.
   */
  async throughput(): Promise<void> {
    const { durations, searchLadder } = this.#options;
    const directRuns: Measurement[] = [];
    const lastPass = new Map<SystemId, number>();
    const firstFail = new Map<SystemId, number>();
    let active = this.#systems;

    const baselineFor = (rps: number): number => {
      // The direct run with the nearest throughput at or below the system's: same load on the mock.
      const sorted = [...directRuns].sort((a, b) => a.result.rps - b.result.rps);
      const below = sorted.filter((entry) => entry.result.rps <= rps * 1.05);
      return (below.at(-1) ?? sorted[0]!).result.latencyMs.p99;
    };
    const step = async (system: SystemId, concurrency: number): Promise<boolean> => {
      const measurement = await this.#closedLoop(
        system,
        'twenty',
        concurrency,
        durations.searchWarmup,
        durations.searchStep,
      );
      const baselineP99Ms = baselineFor(measurement.result.rps);
      const addedP99Ms = measurement.result.latencyMs.p99 - baselineP99Ms;
      const rate = errorRate(measurement.result);
      const pass = addedP99Ms <= addedP99LimitMs && rate < errorRateLimit;
      const entry: SearchStep = {
        target: system,
        concurrency,
        measurement,
        baselineP99Ms,
        addedP99Ms,
        errorRate: rate,
        pass,
      };
      this.#results.search.push(entry);
      const best = this.#results.maxThroughput[system];
      if (pass && (best == null || measurement.result.rps > best.rps)) {
        const found: MaxThroughput = { rps: measurement.result.rps, concurrency, addedP99Ms };
        this.#results.maxThroughput[system] = found;
      }
      this.#progress(
        `search c=${concurrency} ${system}: ${Math.round(measurement.result.rps)} rps, p99 ${fixed(
          measurement.result.latencyMs.p99,
        )} (+${fixed(addedP99Ms)}) ms, ${fixed(rate * 100)} % errors, CPU ${fixed(
          (measurement.systemCoreBusy ?? Number.NaN) * 100,
          0,
        )} %/${fixed((measurement.loadCoreBusy ?? Number.NaN) * 100, 0)} % → ${pass ? 'pass' : 'fail'}`,
      );
      return pass;
    };

    for (const system of this.#systems) this.#results.maxThroughput[system] = null;
    for (const concurrency of searchLadder) {
      if (active.length === 0) break;
      await this.#beforeCell(`search c=${concurrency}`);
      const direct = await this.#closedLoop(
        'direct',
        'twenty',
        concurrency,
        durations.searchWarmup,
        durations.searchStep,
      );
      directRuns.push(direct);
      this.#results.search.push({
        target: 'direct',
        concurrency,
        measurement: direct,
        baselineP99Ms: direct.result.latencyMs.p99,
        addedP99Ms: 0,
        errorRate: errorRate(direct.result),
        pass: true,
      });
      this.#progress(
        `search c=${concurrency} direct: ${Math.round(direct.result.rps)} rps, p99 ${fixed(
          direct.result.latencyMs.p99,
        )} ms, load core ${fixed((direct.loadCoreBusy ?? Number.NaN) * 100, 0)} %`,
      );
      for (const system of rotate(active, this.#cell++)) {
        if (await step(system, concurrency)) lastPass.set(system, concurrency);
        else firstFail.set(system, concurrency);
      }
      active = active.filter((system) => !firstFail.has(system));
    }
    for (const system of this.#systems) {
      const low = lastPass.get(system);
      const high = firstFail.get(system);
      if (low === undefined || high === undefined || high - low < 16) continue;
      await step(system, Math.round((low + high) / 2));
    }
    await this.#openLoops();
  }

  async #openLoops(): Promise<void> {
    const runs: Array<[SystemId, number]> = [];
    for (const system of this.#systems) {
      const found = this.#results.maxThroughput[system];
      if (found) runs.push([system, Math.max(50, Math.floor(found.rps / 50) * 50)]);
    }
    for (const system of ['odock', 'odock-notel'] as const)
      if (
        this.#systems.includes(system) &&
        !runs.some(([entry, rate]) => entry === system && rate === this.#options.targetRate)
      )
        runs.push([system, this.#options.targetRate]);
    const rates = [...new Set(runs.map(([, rate]) => rate))].sort((a, b) => a - b);
    for (const rate of rates) {
      await this.#beforeCell(`open loop ${rate} rps`);
      const targets = rotate<TargetId>(
        ['direct', ...runs.filter(([, r]) => r === rate).map(([system]) => system)],
        this.#cell++,
      );
      const measured = new Map<TargetId, Measurement>();
      for (const target of targets) {
        const measurement = await this.#openLoop(target, rate);
        this.#results.openLoop.push(measurement);
        measured.set(target, measurement);
      }
      const direct = measured.get('direct')!.result;
      const line = [
        `direct p99 ${fixed(direct.latencyMs.p99)} (send lag p99 ${fixed(direct.sendLagMs?.p99 ?? Number.NaN)})`,
      ];
      for (const [target, measurement] of measured) {
        if (target === 'direct') continue;
        const added = subtract(measurement.result.latencyMs, direct.latencyMs);
        line.push(
          `${target} +${fixed(added.p50)}/+${fixed(added.p99)}/+${fixed(added.p999)}, ${fixed(
            errorRate(measurement.result) * 100,
          )} % errors`,
        );
      }
      this.#progress(`open loop ${rate} rps: ${line.join('; ')} ms`);
    }
  }

  /** Added time to first token, streams of the stream mock, at each stream concurrency. */
  async streams(): Promise<void> {
    const { durations, streamConcurrencies } = this.#options;
    for (const [index, concurrency] of streamConcurrencies.entries()) {
      await this.#beforeCell(`streams c=${concurrency}`);
      const durationS = durations.stream[index] ?? durations.stream.at(-1)!;
      const measured = new Map<TargetId, Measurement>();
      for (const target of rotate<TargetId>(['direct', ...this.#systems], this.#cell++)) {
        const measurement = await this.#streams(target, concurrency, durationS, durations.streamWarmup);
        this.#results.streams.push(measurement);
        measured.set(target, measurement);
      }
      const direct = measured.get('direct')!.result.stream!.ttftMs;
      const line = [`direct TTFT p50 ${fixed(direct.p50)} p99 ${fixed(direct.p99)}`];
      for (const system of this.#systems) {
        const result = measured.get(system)!.result;
        const added = subtract(result.stream!.ttftMs, direct);
        line.push(`${system} +${fixed(added.p50)}/+${fixed(added.p99)} (n=${result.stream!.completed})`);
      }
      this.#progress(`streams c=${concurrency}: ${line.join(', ')} ms`);
    }
  }

  /** Peak RSS so far, then the peak while `memoryStreams` streams are open at once. */
  async memory(): Promise<void> {
    for (const system of this.#systems) {
      const service = this.#services.get(system)!;
      const runPeakMiB = (await service.memory()).peakMiB;
      this.#results.memory[system] = { runPeakMiB };
    }
    if (!this.#options.scenarios.includes('memory')) return;
    const concurrency = this.#options.memoryStreams;
    for (const system of rotate(this.#systems, this.#cell++)) {
      await this.#beforeCell(`memory ${system}`);
      const service = this.#services.get(system)!;
      const reset = await service.resetPeak();
      const measurement = await this.#streams(system, concurrency, this.#options.durations.memory, 0);
      const peak = (await service.memory()).peakMiB;
      const entry = this.#results.memory[system]!;
      entry.concurrentStreams = concurrency;
      entry.streams = measurement;
      if (reset) entry.streamsPeakMiB = peak;
      this.#progress(
        `memory ${system}: ${concurrency} concurrent streams, peak RSS ${fixed(peak, 0)} MiB${
          reset ? '' : ' (peak not resettable: whole-run peak)'
        }, ${measurement.result.stream!.completed} streams completed, TTFT p99 ${fixed(
          measurement.result.stream!.ttftMs.p99,
        )} ms`,
      );
    }
  }
}
