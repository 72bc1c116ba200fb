/**
 * bench/scenarios.ts, the throughput search, against a scripted measurer: what each system's
 * added p99 is at each connection count is given, and the test checks which steps the search
 * measures and what it reports as each system's most requests/s at added p99 ≤ 5 ms.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LatencySummary } from '../bench/load-result.ts';
import { type BenchOptions, parseBenchOptions } from '../bench/options.ts';
import type { Service } from '../bench/processes.ts';
import type { BenchResults, Measurement } from '../bench/results.ts';
import { type ScenarioMeasurer, Scenarios } from '../bench/scenarios.ts';
import type { BenchEnvironment, SystemId, TargetId } from '../bench/systems.ts';

const directP99Ms = 20;
/** Added p99 (ms) of each system at each connection count; a count not listed adds 20 ms. */
const addedP99: Record<SystemId, Record<number, number>> = {
  bare: { 16: 2, 32: 3 },
  floor: {},
  // Fails the ladder's first step on its tail, passes 8, fails the bisection step at 12.
  odock: { 16: 6, 32: 20, 8: 3, 12: 8 },
  'odock-notel': {},
  // Fails everything but one connection, as Portkey does on these VMs.
  portkey: { 1: 4 },
};
const requestsPerConnection: Record<TargetId, number> = {
  direct: 48,
  bare: 46,
  floor: 46,
  odock: 45,
  'odock-notel': 45,
  portkey: 40,
};

const latency = (p99: number): LatencySummary => ({
  p50: p99 / 2,
  p90: p99,
  p99,
  p999: p99,
  max: p99,
  mean: p99 / 2,
});

function scriptedMeasurer(steps: Array<[TargetId, number]>): ScenarioMeasurer {
  const measurement = (target: TargetId, connections: number, p99: number): Measurement => {
    // Portkey is saturated from 16 connections on: no more throughput above it.
    const rps =
      requestsPerConnection[target] * (target === 'portkey' ? Math.min(connections, 16) : connections);
    return {
      target,
      mock: 'twenty',
      kind: 'closed',
      concurrency: connections,
      result: { requests: rps * 4, errors: 0, durationS: 4, rps, latencyMs: latency(p99) },
    };
  };
  return {
    settle: async () => {},
    beforeCell: async () => {},
    closedLoop: async (target, _mock, connections) => {
      steps.push([target, connections]);
      const added = target === 'direct' ? 0 : (addedP99[target as SystemId][connections] ?? 20);
      return measurement(target, connections, directP99Ms + added);
    },
    openLoop: async (target, rate) => ({ ...measurement(target, 1, directP99Ms), kind: 'open', rate }),
    streams: async () => {
      throw new Error('not part of this test');
    },
    streamsInTurns: async () => {
      throw new Error('not part of this test');
    },
  };
}

test('the search goes below its ladder for a system that passed no step of it, then bisects', async () => {
  const parsed = parseBenchOptions(['--systems', 'bare,odock,portkey', '--scenarios', 'throughput']);
  assert.notEqual(parsed, 'help');
  const options: BenchOptions = { ...(parsed as BenchOptions), searchLadder: [16, 32] };
  const results = {
    search: [],
    maxThroughput: {},
    saturationThroughput: {},
    openLoop: [],
  } as unknown as BenchResults;
  const services = new Map(options.systems.map((system) => [system, {} as Service]));
  const steps: Array<[TargetId, number]> = [];
  const scenarios = new Scenarios(
    options,
    {} as BenchEnvironment,
    services,
    results,
    () => {},
    [],
    scriptedMeasurer(steps),
  );
  await scenarios.throughput();

  const of = (target: TargetId) => steps.filter(([measured]) => measured === target).map(([, c]) => c);
  assert.deepEqual(of('direct'), [16, 32, 8, 4, 2, 1]);
  assert.deepEqual(of('bare'), [16, 32]);
  assert.deepEqual(of('odock'), [16, 32, 8, 12]);
  assert.deepEqual(of('portkey'), [16, 32, 8, 4, 2, 1]);
  assert.deepEqual(results.maxThroughput.bare, { rps: 46 * 32, concurrency: 32, addedP99Ms: 3 });
  assert.deepEqual(results.maxThroughput.odock, { rps: 45 * 8, concurrency: 8, addedP99Ms: 3 });
  assert.deepEqual(results.maxThroughput.portkey, { rps: 40, concurrency: 1, addedP99Ms: 4 });
  assert.equal(results.saturationThroughput.portkey, 40 * 16);
});

test('the floor of the features takes part in the unary cells and in no stream', async () => {
  const parsed = parseBenchOptions([
    '--quick',
    '--systems',
    'bare,floor,odock',
    '--scenarios',
    'latency,stream,memory',
  ]);
  assert.notEqual(parsed, 'help');
  const options = parsed as BenchOptions;
  const results = { latency: [], streams: [], memory: {} } as unknown as BenchResults;
  const peak = { memory: async () => ({ peakMiB: 100 }), resetPeak: async () => true };
  const services = new Map(options.systems.map((system) => [system, peak as unknown as Service]));
  const closed: TargetId[] = [];
  const streamed: TargetId[] = [];
  const stream = (target: TargetId, concurrency: number): Measurement => ({
    target,
    mock: 'stream',
    kind: 'stream',
    concurrency,
    result: {
      requests: 10,
      errors: 0,
      durationS: 1,
      rps: 10,
      latencyMs: latency(30),
      stream: { ttftMs: latency(22), totalMs: latency(1300), completed: 10 },
    },
  });
  const measurer: ScenarioMeasurer = {
    ...scriptedMeasurer([]),
    closedLoop: async (target, mock, connections) => {
      closed.push(target);
      return {
        target,
        mock,
        kind: 'closed',
        concurrency: connections,
        result: { requests: 100, errors: 0, durationS: 1, rps: 100, latencyMs: latency(21) },
      };
    },
    streams: async (target, concurrency) => {
      streamed.push(target);
      return stream(target, concurrency);
    },
    streamsInTurns: async (targets) => {
      streamed.push(...targets);
      return targets.map((target) => stream(target, 1));
    },
  };
  const scenarios = new Scenarios(options, {} as BenchEnvironment, services, results, () => {}, [], measurer);
  await scenarios.latency();
  await scenarios.streams();
  await scenarios.memory();

  assert.ok(closed.includes('floor'), 'the floor is measured in the latency cells and CPU rounds');
  assert.ok(streamed.includes('odock') && streamed.includes('bare'));
  assert.ok(!streamed.includes('floor'), 'no stream goes to the floor proxy, which answers unary calls only');
  assert.deepEqual(Object.keys(results.memory).sort(), ['bare', 'floor', 'odock']);
  assert.equal(results.memory.floor?.streams, undefined);
  assert.equal(results.memory.odock?.concurrentStreams, options.memoryStreams);
});
