/**
 * The benchmark harness itself works: a smoke run (`npm run bench -- --smoke`: bare proxy and
 * odock-server, every scenario, about a second each) starts its processes, drives each load
 * generator (wrk closed loop, the open loop, the streaming client), counts odock-server's
 * instructions under callgrind, and writes a results table in markdown and JSON. It asserts on
 * the shape of the results, never on speed: a loaded machine makes every number worse and must
 * not fail this test.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseBenchOptions } from '../bench/options.ts';
import type { BenchResults } from '../bench/results.ts';
import { runBench } from '../bench/run.ts';

describe('benchmark harness (smoke run)', () => {
  let outDir: string | undefined;
  after(async () => {
    if (outDir !== undefined) await rm(outDir, { recursive: true, force: true });
  });

  // About a minute alone, half of it odock-server starting and warming up under callgrind: more
  // than the suite's two-minute allowance leaves when the other tests share the machine.
  it('measures the bare proxy and odock-server in every scenario and writes the table', {
    timeout: 300_000,
  }, async () => {
    outDir = await mkdtemp(join(tmpdir(), 'odock-bench-smoke-'));
    // Ports of their own, so a smoke run can overlap `npm run bench` or another test run.
    const portBase = 20_000 + 100 * Math.floor(Math.random() * 90);
    const options = parseBenchOptions(['--smoke', '--out', outDir, '--port-base', String(portBase)]);
    assert.notEqual(options, 'help');
    if (options === 'help') return;
    const progress: string[] = [];
    // The counted process's perf map (V8 writes /tmp/perf-PID.map) is read and removed.
    const perfMaps = async () => (await readdir('/tmp')).filter((name) => /^perf-\d+\.map$/.test(name));
    const mapsBefore = new Set(await perfMaps());
    const { jsonPath, markdownPath } = await runBench(options, (line) => progress.push(line));
    assert.deepEqual(
      (await perfMaps()).filter((name) => !mapsBefore.has(name)),
      [],
      'no perf map left in /tmp',
    );

    const results = JSON.parse(await readFile(jsonPath, 'utf8')) as BenchResults;
    assert.deepEqual(results.setup.systems, ['bare', 'odock']);
    const targets = (list: readonly { target: string }[]) => list.map((entry) => entry.target).sort();
    assert.deepEqual(targets(results.latency.filter((m) => m.round === undefined)), [
      'bare',
      'direct',
      'odock',
    ]);
    for (const measurement of [...results.latency, ...results.openLoop, ...results.streams]) {
      assert.ok(measurement.result.requests > 0, `${measurement.kind} ${measurement.target} sent requests`);
      // The kernel's handshake counters were read around it (machine-wide, so any count >= 0).
      assert.ok(Number.isInteger(measurement.listenOverflows) && measurement.listenOverflows! >= 0);
      assert.ok(Number.isInteger(measurement.synRetransmits) && measurement.synRetransmits! >= 0);
    }
    assert.ok(
      results.search.some((step) => step.target === 'odock'),
      'the throughput search ran odock',
    );
    assert.ok(
      results.openLoop.some((run) => run.target === 'odock' && run.rate === results.setup.targetRate),
      'the open loop ran odock at the target rate',
    );
    for (const run of results.streams)
      assert.ok((run.result.stream?.completed ?? 0) > 0, `${run.target} completed streams`);
    // At one connection the targets took turns in one run: whole rounds, so every target counted
    // the same number of streams (and no CPU per stream: a system mostly waited out the others).
    const inTurns = results.streams.filter((run) => run.concurrency === 1);
    assert.ok(inTurns.length >= 2 && inTurns.every((run) => (run.streamsPerTurn ?? 0) >= 1));
    assert.equal(new Set(inTurns.map((run) => run.result.stream!.completed)).size, 1);
    assert.ok(inTurns.every((run) => run.cpuMsPerRequest === undefined));
    assert.ok((results.memory.odock?.runPeakMiB ?? 0) > 0, 'the peak RSS of odock was read');
    assert.ok(results.versions.node.startsWith('v'));
    // The pause cost was timed on the systems' core before they started: back to back, then
    // after 20 ms of sleeping and of spinning.
    assert.deepEqual(
      results.pauseCost?.series.map((series) => [series.pauseMs, series.mode]),
      [
        [0, 'sleep'],
        [20, 'sleep'],
        [20, 'spin'],
      ],
    );
    assert.ok(results.pauseCost!.series.every((series) => series.p50Us > 0));
    assert.ok(Number.isFinite(results.pauseCost!.ratio) && results.pauseCost!.ratio > 0);

    const markdown = await readFile(markdownPath, 'utf8');
    assert.match(markdown, /\| +\| bare proxy \| odock-server \|/);
    assert.match(markdown, /added latency p50 \/ p99 \/ p99\.9, c=1, 0 ms mock/);
    assert.match(markdown, /### Targets of the issue/);
    assert.match(
      markdown,
      /Work after a pause \(bench\/pause-cost\.ts, on CPU 0\): the same JavaScript took [\d.]+ µs back to back/,
    );
    assert.match(markdown, /added time to first token p50 \/ p99 \/ p99\.9, c=1, targets taking turns/);
    assert.match(markdown, /The kernel counted [\d,]+ listen-queue overflows and [\d,]+ SYN retransmissions/);
    // The CPU cell ran again (one round in the smoke preset): CPU per request is a median of two.
    assert.ok(
      results.latency.some((m) => m.target === 'odock' && m.round === 1 && (m.cpuMsPerRequest ?? 0) > 0),
      'a CPU round measured odock',
    );
    assert.match(markdown, /CPU per request \(ms\), c=1, 0 ms mock: median of 2 interleaved runs/);
    assert.match(markdown, /\| 0 ms mock, c=1, CPU round 1 \| odock-server \|/);
    // The instructions scenario counted odock-server under callgrind (the only gateway variant
    // of the smoke preset), after the load had stopped it.
    const counted = results.instructions?.odock;
    assert.ok(counted !== undefined, 'odock was counted under callgrind');
    assert.equal(counted.requests, 10);
    assert.ok(
      counted.withoutCollector > 10_000 && counted.withoutCollector <= counted.perRequest,
      `instructions per request: ${counted.withoutCollector} of ${counted.perRequest}`,
    );
    assert.equal(results.instructions?.bare, undefined);
    assert.match(markdown, /\| instructions per request without the collector .*\| n\/a \| [\d,]+ \|/);
    assert.ok(
      progress.some((line) => /latency 0 ms mock, c=1: direct/.test(line)),
      'progress was printed',
    );
  });
});
