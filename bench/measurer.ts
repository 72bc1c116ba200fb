/**
 * One measurement of a benchmark run: waits until the run's own processes are idle, drives the
 * load (wrk, or one of the Node generators as its own pinned process), and accounts for the
 * CPU of the target's process, of both cores and of the rest of the machine; a measurement
 * disturbed by other processes is repeated once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type LoadResult, parseResultLine, progressLinePrefix } from './load-result.ts';
import {
  cpuSnapshot,
  foreignLoad,
  handshakeCounters,
  processCpuSeconds,
  utilisation,
  waitForQuiet,
} from './machine.ts';
import type { OpenLoopOptions } from './open-loop.ts';
import type { BenchOptions } from './options.ts';
import { run, type Service } from './processes.ts';
import type { Measurement } from './results.ts';
import type { StreamLoadOptions } from './stream-load.ts';
import {
  answersStreams,
  type BenchEnvironment,
  type MockMode,
  requestFor,
  type SystemId,
  type TargetId,
} from './systems.ts';
import { runClosedLoop } from './wrk.ts';

export type Progress = (message: string) => void;

/** What a measurement's cell is: its connections (closed loop, streams) or its rate (open loop). */
type CellParameters = Pick<Measurement, 'concurrency' | 'rate'>;

const quiesceSampleMs = 200;
/** Share of one CPU the run's own processes may use and still count as idle. */
const quiesceBusyLimit = 0.05;
/** Cores' worth of other processes' CPU above which a measurement is repeated. */
const retryForeignLoad = 0.5;
const quietWaitMs = 10_000;
/** Other processes' CPUs below which the machine counts as quiet. */
const quietThreshold = 0.2;

export class Measurer {
  readonly #options: BenchOptions;
  readonly #environment: BenchEnvironment;
  readonly #services: ReadonlyMap<SystemId, Service>;
  readonly #progress: Progress;
  readonly #ownPids: readonly number[];
  readonly #startedAt: number;

  constructor(
    options: BenchOptions,
    environment: BenchEnvironment,
    services: ReadonlyMap<SystemId, Service>,
    infrastructure: readonly Service[],
    progress: Progress,
  ) {
    this.#options = options;
    this.#environment = environment;
    this.#services = services;
    this.#progress = progress;
    this.#ownPids = [...services.values(), ...infrastructure].map((service) => service.pid);
    this.#startedAt = performance.now();
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
  async beforeCell(label: string): Promise<void> {
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
    parameters: CellParameters,
    load: () => Promise<LoadResult>,
  ): Promise<Measurement> {
    const [measurement] = await this.#measureTogether([target], mock, kind, parameters, async () => [
      await load(),
    ]);
    return measurement!;
  }

  /**
   * `#measure` for one load that drives several targets (streams taking turns): `load` answers a
   * result per target, in their order; each target's process is accounted on its own, the
   * cores and the other processes once for all of them.
   */
  async #measureTogether(
    targets: readonly TargetId[],
    mock: MockMode,
    kind: Measurement['kind'],
    parameters: CellParameters,
    load: () => Promise<LoadResult[]>,
  ): Promise<Measurement[]> {
    let measurements = await this.#measureOnce(targets, mock, kind, parameters, load);
    const disturbance = (of: Measurement[]) => of[0]?.foreignLoad ?? 0;
    if (disturbance(measurements) > retryForeignLoad && this.#mayRetry()) {
      await waitForQuiet(this.#ownPids, {
        maxMs: Math.max(quietWaitMs, this.#options.waitQuietS * 1000),
        windowMs: 1_000,
        threshold: quietThreshold,
      });
      const again = await this.#measureOnce(targets, mock, kind, parameters, load);
      if (disturbance(again) < disturbance(measurements)) measurements = again;
      for (const measurement of measurements) measurement.retried = true;
    }
    return measurements;
  }

  async #measureOnce(
    targets: readonly TargetId[],
    mock: MockMode,
    kind: Measurement['kind'],
    parameters: CellParameters,
    load: () => Promise<LoadResult[]>,
  ): Promise<Measurement[]> {
    await this.#quiesce();
    const services = targets.map((target) => (target === 'direct' ? undefined : this.#services.get(target)));
    const cpuBefore = await Promise.all(
      services.map((service) => (service === undefined ? 0 : processCpuSeconds(service.pid))),
    );
    const before = await cpuSnapshot(this.#ownPids);
    const handshakesBefore = await handshakeCounters();
    const results = await load();
    const handshakesAfter = await handshakeCounters();
    const after = await cpuSnapshot(this.#ownPids);
    const { systemCpu, loadCpu } = this.#environment;
    const others = foreignLoad(before, after);
    return Promise.all(
      targets.map(async (target, index) => {
        const result = results[index]!;
        const measurement: Measurement = {
          target,
          mock,
          kind,
          ...parameters,
          result,
          listenOverflows: handshakesAfter.listenOverflows - handshakesBefore.listenOverflows,
          synRetransmits: handshakesAfter.synRetransmits - handshakesBefore.synRetransmits,
        };
        const service = services[index];
        if (service !== undefined) {
          const cpuSeconds = (await processCpuSeconds(service.pid)) - cpuBefore[index]!;
          const requests = result.allRequests ?? result.requests;
          if (requests > 0) measurement.cpuMsPerRequest = (cpuSeconds * 1000) / requests;
        }
        if (systemCpu !== undefined)
          measurement.systemCoreBusy = utilisation(before.cores, after.cores, systemCpu);
        if (loadCpu !== undefined) measurement.loadCoreBusy = utilisation(before.cores, after.cores, loadCpu);
        measurement.foreignLoad = others.foreign;
        measurement.datastoreLoad = others.datastores;
        return measurement;
      }),
    );
  }

  async closedLoop(
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

  /** Runs a load generator on the load core; the progress it prints is passed on, under `label`. */
  async #generator<T>(script: string, options: T, label?: string): Promise<LoadResult> {
    const path = fileURLToPath(new URL(script, import.meta.url));
    const command = [process.execPath, path, JSON.stringify(options)];
    const cpu = this.#environment.loadCpu;
    const onLine = (line: string) => {
      if (label !== undefined && line.startsWith(progressLinePrefix))
        this.#progress(`${label}: ${line.slice(progressLinePrefix.length)}`);
    };
    const { stdout } = await run(cpu === undefined ? command : ['taskset', '-c', cpu, ...command], {
      onLine,
    });
    return parseResultLine<LoadResult>(stdout);
  }

  openLoop(target: TargetId, rate: number) {
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

  /**
   * Unmeasured load that lets V8 finish compiling a system's request path: unary requests at 64
   * connections (20 ms mock) for `durationS`, then 64 streams for a third of it (for a system
   * that answers streams).
   */
  async settle(target: SystemId, durationS: number): Promise<void> {
    const cpu = this.#environment.loadCpu;
    const request = requestFor(this.#environment, target, 'twenty');
    await runClosedLoop({ request, connections: 64, durationS, cpu });
    if (!answersStreams(target)) return;
    const streams: StreamLoadOptions = {
      request: requestFor(this.#environment, target, 'stream'),
      concurrency: 64,
      durationS: Math.max(2, Math.round(durationS / 3)),
      warmupS: 0,
    };
    await this.#generator('./stream-load.ts', streams);
  }

  /** `staggerMs`: the clients' first streams spread over that time (bench/stream-load.ts). */
  streams(target: TargetId, concurrency: number, durationS: number, warmupS: number, staggerMs = 0) {
    const options: StreamLoadOptions = {
      request: requestFor(this.#environment, target, 'stream'),
      concurrency,
      durationS,
      warmupS,
      staggerMs,
    };
    return this.#measure(target, 'stream', 'stream', { concurrency }, () =>
      this.#generator('./stream-load.ts', options),
    );
  }

  /**
   * One connection's streams taking turns between `targets` (bench/stream-load.ts `turns`):
   * `streamsPerTurn` counted streams to one target after `leadStreams` uncounted ones, then the
   * next target's turn, for `durationS` (and `warmupS`) per target. One measurement per target,
   * in their order, each marked with its turn length, without a CPU per stream.
   */
  async streamsInTurns(
    targets: readonly TargetId[],
    durationS: number,
    warmupS: number,
    streamsPerTurn: number,
    leadStreams: number,
    /** Whole rounds to count (bench/stream-load.ts `turns.rounds`); undefined: `durationS` decides. */
    rounds?: number,
  ): Promise<Measurement[]> {
    const options: StreamLoadOptions = {
      concurrency: 1,
      durationS,
      warmupS,
      turns: {
        targets: targets.map((target) => ({
          target,
          request: requestFor(this.#environment, target, 'stream'),
        })),
        streamsPerTurn,
        leadStreams,
        ...(rounds === undefined ? {} : { rounds }),
      },
    };
    const measurements = await this.#measureTogether(
      targets,
      'stream',
      'stream',
      { concurrency: 1 },
      async () => {
        const { byTarget } = await this.#generator('./stream-load.ts', options, 'streams c=1 in turns');
        return targets.map((target) => {
          const result = byTarget?.[target];
          if (result === undefined) throw new Error(`the stream load reported nothing for ${target}`);
          return result;
        });
      },
    );
    for (const measurement of measurements) {
      measurement.streamsPerTurn = streamsPerTurn;
      // A system's CPU over a cell whose time it spent mostly waiting out the other targets'
      // turns is mostly what it does idle (its timers: about 5 ms a second for the gateway),
      // not what a stream costs.
      delete measurement.cpuMsPerRequest;
    }
    return measurements;
  }
}
