/**
 * The measurements of a run. Every cell measures the direct-to-mock baseline and each system
 * back to back, in an order rotated from cell to cell (interleaved: no system is always
 * measured first or last, and a drift of the machine spreads over all of them).
 */
import { Measurer, type Progress } from './measurer.ts';
import type { BenchOptions } from './options.ts';
import type { Service } from './processes.ts';
import {
  type BenchResults,
  cpuCellOf,
  errorRate,
  type MaxThroughput,
  type Measurement,
  rotate,
  type SearchStep,
  subtract,
} from './results.ts';
import {
  answersStreams,
  type BenchEnvironment,
  type MockMode,
  mockLabel,
  type SystemId,
  streamLengthMs,
  type TargetId,
} from './systems.ts';

export type { Progress };

/** What the scenarios ask of a measurer: `Measurer`'s own methods (a test gives a scripted one). */
export type ScenarioMeasurer = Pick<
  Measurer,
  'settle' | 'beforeCell' | 'closedLoop' | 'openLoop' | 'streams' | 'streamsInTurns'
>;

const addedP99LimitMs = 5;
const errorRateLimit = 0.001;

const fixed = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

export class Scenarios {
  readonly #options: BenchOptions;
  readonly #services: ReadonlyMap<SystemId, Service>;
  readonly #results: BenchResults;
  readonly #progress: Progress;
  readonly #measurer: ScenarioMeasurer;
  #cell = 0;

  constructor(
    options: BenchOptions,
    environment: BenchEnvironment,
    services: ReadonlyMap<SystemId, Service>,
    results: BenchResults,
    progress: Progress,
    infrastructure: readonly Service[],
    measurer: ScenarioMeasurer = new Measurer(options, environment, services, infrastructure, progress),
  ) {
    this.#options = options;
    this.#services = services;
    this.#results = results;
    this.#progress = progress;
    this.#measurer = measurer;
  }

  get #systems(): SystemId[] {
    return this.#options.systems.filter((system) => this.#services.has(system));
  }

  /** The systems that answer streams (all but the floor proxy). */
  get #streamingSystems(): SystemId[] {
    return this.#systems.filter(answersStreams);
  }

  /** Each system's unmeasured settling load (`durations.settle`), before the first cell. */
  async settle(): Promise<void> {
    const seconds = this.#options.durations.settle;
    if (seconds <= 0) return;
    for (const system of this.#systems) {
      this.#progress(
        `settling ${system}: ${seconds} s of unmeasured load while V8 compiles its request path`,
      );
      await this.#measurer.settle(system, seconds);
    }
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
      await this.#measurer.beforeCell(`latency ${mockLabel(mock)}, c=${concurrency}`);
      const targets = rotate<TargetId>(['direct', ...this.#systems], this.#cell++);
      const measured = new Map<TargetId, Measurement>();
      for (const target of targets) {
        const measurement = await this.#measurer.closedLoop(
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
      this.#progress(`latency ${mockLabel(mock)}, c=${concurrency}: ${line.join(', ')} ms`);
    }
    await this.#cpuRounds();
  }

  /**
   * The CPU cell (c=64 at the 20 ms mock, else the matrix's first cell) again for every system,
   * `cpuRounds` times, each round in a rotated order. CPU per request is then a median of
   * interleaved runs rather than one cell's reading (results.ts, `cpuPerRequest`).
   */
  async #cpuRounds(): Promise<void> {
    const { durations, cpuRounds } = this.#options;
    const cell = cpuCellOf(this.#results);
    if (cell === undefined) return;
    const label = `${mockLabel(cell.mock)}, c=${cell.concurrency}`;
    for (let round = 1; round <= cpuRounds; round += 1) {
      await this.#measurer.beforeCell(`CPU round ${round} of ${cpuRounds}, ${label}`);
      const line: string[] = [];
      for (const system of rotate(this.#systems, this.#cell++)) {
        const measurement = await this.#measurer.closedLoop(
          system,
          cell.mock,
          cell.concurrency,
          durations.warmup,
          durations.latency,
        );
        this.#results.latency.push({ ...measurement, round });
        line.push(`${system} ${fixed(measurement.cpuMsPerRequest ?? Number.NaN, 3)}`);
      }
      this.#progress(
        `CPU round ${round} of ${cpuRounds}, ${label}: ${line.join(', ')} ms of CPU per request`,
      );
    }
  }

  /**
   * Closed-loop search for the most requests/s at added p99 ≤ 5 ms and < 0.1 % errors (20 ms
   * mock), one connection count after another, then one bisection step; then an open-loop run
   * at the rate found (and at the issue's target rate for odock-server) to check it without
   * coordinated omission. A system leaves the ladder only after a failed step that brought no
   * more throughput (saturated): a failed latency step (one garbage-collection pause can fail a
   * short step) must not end the climb, or the saturation throughput, the highest seen pass or
   * fail, would be whatever the system reached when its tail first went over the limit. A system
   * that passed no step of the ladder is then tried below it, at half the connections each time
   * down to one, until a step passes: without that its measure would be "none passed" (Portkey's
   * in every full run, and odock-server's when its tail fails the first step), and no ratio on
   * the issue's measure could be taken.
   */
  async throughput(): Promise<void> {
    const { durations, searchLadder } = this.#options;
    const directRuns: Measurement[] = [];
    const lastPass = new Map<SystemId, number>();
    /** The first failed connection count above the last pass: the bisection's upper end. */
    const failAbove = new Map<SystemId, number>();
    let active = this.#systems;

    const baselineFor = (rps: number): number => {
      // The direct run with the nearest throughput at or below the system's: same load on the mock.
      const sorted = [...directRuns].sort((a, b) => a.result.rps - b.result.rps);
      const below = sorted.filter((entry) => entry.result.rps <= rps * 1.05);
      return (below.at(-1) ?? sorted[0]!).result.latencyMs.p99;
    };
    const step = async (
      system: SystemId,
      concurrency: number,
    ): Promise<{ pass: boolean; gained: boolean }> => {
      const measurement = await this.#measurer.closedLoop(
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
      const saturation = this.#results.saturationThroughput[system] ?? 0;
      const gained = measurement.result.rps > saturation * 1.02;
      if (measurement.result.rps > saturation)
        this.#results.saturationThroughput[system] = measurement.result.rps;
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
      return { pass, gained };
    };

    const measureDirect = async (concurrency: number): Promise<void> => {
      await this.#measurer.beforeCell(`search c=${concurrency}`);
      const direct = await this.#measurer.closedLoop(
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
    };

    for (const system of this.#systems) this.#results.maxThroughput[system] = null;
    for (const concurrency of searchLadder) {
      if (active.length === 0) break;
      await measureDirect(concurrency);
      const retired = new Set<SystemId>();
      for (const system of rotate(active, this.#cell++)) {
        const { pass, gained } = await step(system, concurrency);
        if (pass) {
          lastPass.set(system, concurrency);
          failAbove.delete(system);
          continue;
        }
        if (!failAbove.has(system)) failAbove.set(system, concurrency);
        if (!gained) retired.add(system);
      }
      active = active.filter((system) => !retired.has(system));
    }
    let above = searchLadder[0]!;
    for (
      let concurrency = Math.floor(above / 2);
      concurrency >= 1;
      concurrency = Math.floor(concurrency / 2)
    ) {
      const below = this.#systems.filter((system) => this.#results.maxThroughput[system] === null);
      if (below.length === 0) break;
      await measureDirect(concurrency);
      for (const system of rotate(below, this.#cell++))
        if ((await step(system, concurrency)).pass) {
          lastPass.set(system, concurrency);
          failAbove.set(system, above);
        }
      above = concurrency;
    }
    // One bisection step between the last pass and the failure above it: halfway on the ladder
    // (gaps of 16 connections and more), halfway below it too (a pass at 2 after a failure at 4
    // is tried at 3), none where no connection count lies between.
    for (const system of this.#systems) {
      const low = lastPass.get(system);
      const high = failAbove.get(system);
      if (low === undefined || high === undefined || high - low < Math.max(2, Math.min(16, low))) continue;
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
      await this.#measurer.beforeCell(`open loop ${rate} rps`);
      const targets = rotate<TargetId>(
        ['direct', ...runs.filter(([, r]) => r === rate).map(([system]) => system)],
        this.#cell++,
      );
      const measured = new Map<TargetId, Measurement>();
      for (const target of targets) {
        const measurement = await this.#measurer.openLoop(target, rate);
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

  /**
   * Added time to first token, streams of the stream mock, at each stream concurrency. The
   * clients' streams start spread over one stream's length, so a measured stream arrives among
   * streams in every phase, as independent callers' do: started together, the 64 clients sent
   * their next streams together every 1.3 s, and each cell measured how fast 64 requests
   * arriving at once were answered (direct to the mock too, whose p99 then moved between 24 and
   * 55 ms from one cell to the next and made the added p99 negative).
   *
   * At one connection the targets take turns within one run instead of one after the other
   * (`streamsInTurns`): a turn of about a fifth of a target's streams, after one uncounted
   * stream, then the next target's. Measured one after the other, the direct-to-mock baseline
   * of one two-minute window was subtracted from a system's of another, and the baseline's own
   * p99 moved by ±3 ms between runs: more than the target being judged.
   */
  async streams(): Promise<void> {
    const { durations, streamConcurrencies } = this.#options;
    const staggerMs = streamLengthMs(this.#options.stream);
    for (const [index, concurrency] of streamConcurrencies.entries()) {
      await this.#measurer.beforeCell(`streams c=${concurrency}`);
      const durationS = durations.stream[index] ?? durations.stream.at(-1)!;
      const targets = rotate<TargetId>(['direct', ...this.#streamingSystems], this.#cell++);
      const measured = new Map<TargetId, Measurement>();
      if (concurrency === 1) {
        const { ttftStreams } = this.#options;
        const streamsPerTarget = ttftStreams ?? (durationS * 1000) / staggerMs;
        const streamsPerTurn = Math.min(10, Math.max(1, Math.round(streamsPerTarget / 5)));
        const measurements = await this.#measurer.streamsInTurns(
          targets,
          durationS,
          durations.streamWarmup,
          streamsPerTurn,
          1,
          ttftStreams === undefined ? undefined : Math.ceil(ttftStreams / streamsPerTurn),
        );
        for (const measurement of measurements) measured.set(measurement.target, measurement);
      } else
        for (const target of targets)
          measured.set(
            target,
            await this.#measurer.streams(target, concurrency, durationS, durations.streamWarmup, staggerMs),
          );
      this.#results.streams.push(...measured.values());
      const direct = measured.get('direct')!.result.stream!.ttftMs;
      const line = [`direct TTFT p50 ${fixed(direct.p50)} p99 ${fixed(direct.p99)}`];
      for (const system of this.#streamingSystems) {
        const result = measured.get(system)!.result;
        const added = subtract(result.stream!.ttftMs, direct);
        line.push(`${system} +${fixed(added.p50)}/+${fixed(added.p99)} (n=${result.stream!.completed})`);
      }
      const turns = measured.get('direct')!.streamsPerTurn;
      this.#progress(
        `streams c=${concurrency}${turns === undefined ? '' : ` (turns of ${turns})`}: ${line.join(', ')} ms`,
      );
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
    for (const system of rotate(this.#streamingSystems, this.#cell++)) {
      await this.#measurer.beforeCell(`memory ${system}`);
      const service = this.#services.get(system)!;
      const reset = await service.resetPeak();
      const measurement = await this.#measurer.streams(
        system,
        concurrency,
        this.#options.durations.memory,
        0,
      );
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
