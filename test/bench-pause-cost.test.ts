/**
 * The machine's cost of a pause (bench/pause-cost.ts): the quantiles of a series, the ratio the
 * results carry, the sentence the report writes, and a real (tiny) probe in a child process.
 * Nothing here asserts on speed: a loaded machine changes every time.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { measurePauseCost, type PauseSeries, pauseRatio, summariseSeries } from '../bench/pause-cost.ts';
import { pauseCostSentence } from '../bench/report.ts';
import type { BenchResults } from '../bench/results.ts';

const series = (pauseMs: number, mode: 'sleep' | 'spin', p50Us: number): PauseSeries => ({
  pauseMs,
  mode,
  runs: 10,
  p10Us: p50Us / 2,
  p50Us,
  p90Us: p50Us * 2,
});

describe('benchmark pause cost', () => {
  it('summarises a series by nearest rank, whatever order the times came in', () => {
    const times = Array.from({ length: 100 }, (_, index) => 100 - index); // 100 down to 1
    assert.deepEqual(summariseSeries(20, 'spin', times), {
      pauseMs: 20,
      mode: 'spin',
      runs: 100,
      p10Us: 10,
      p50Us: 50,
      p90Us: 90,
    });
    // One time is every quantile; fractions are kept to a tenth of a microsecond.
    assert.equal(summariseSeries(0, 'sleep', [12.345]).p90Us, 12.3);
    assert.throws(() => summariseSeries(0, 'sleep', []), /at least one/);
  });

  it('takes the ratio at a 20 ms sleep against back to back, and says when it cannot', () => {
    const complete = [series(0, 'sleep', 40), series(20, 'spin', 100), series(20, 'sleep', 180)];
    assert.equal(pauseRatio(complete), 4.5);
    assert.ok(Number.isNaN(pauseRatio([series(0, 'sleep', 40), series(20, 'spin', 100)])));
    assert.ok(Number.isNaN(pauseRatio([series(5, 'sleep', 100)])));
  });

  it('writes one sentence for the report, and none for results from before it existed', () => {
    const results = {
      pauseCost: {
        cpu: '0',
        series: [series(0, 'sleep', 40), series(20, 'sleep', 180), series(20, 'spin', 120)],
        ratio: 4.5,
      },
    } as unknown as BenchResults;
    assert.equal(
      pauseCostSentence(results),
      ' Work after a pause (bench/pause-cost.ts, on CPU 0): the same JavaScript took 40 µs back to back ' +
        'and 180 µs after sleeping 20 ms (4.5×), 120 µs after spinning as long (p50s).',
    );
    assert.equal(pauseCostSentence({} as BenchResults), '');
  });

  it('times the work back to back and after each pause in a child process', { timeout: 60_000 }, async () => {
    const cost = await measurePauseCost({ pausesMs: [2, 20], runs: 3, warmup: 5 });
    assert.equal(cost.cpu, null);
    assert.deepEqual(
      cost.series.map((entry) => [entry.pauseMs, entry.mode, entry.runs]),
      [
        [0, 'sleep', 15],
        [2, 'sleep', 3],
        [2, 'spin', 3],
        [20, 'sleep', 3],
        [20, 'spin', 3],
      ],
    );
    for (const entry of cost.series) {
      assert.ok(
        entry.p10Us > 0 && entry.p10Us <= entry.p50Us && entry.p50Us <= entry.p90Us,
        JSON.stringify(entry),
      );
    }
    assert.equal(cost.ratio, cost.series[3]!.p50Us / cost.series[0]!.p50Us);
  });

  it('refuses a pause that is not a positive number of milliseconds, with its usage', () => {
    const tool = fileURLToPath(new URL('../bench/pause-cost.ts', import.meta.url));
    const answer = spawnSync(process.execPath, [tool, '--pauses', '5,zero'], { encoding: 'utf8' });
    assert.equal(answer.status, 2);
    assert.match(answer.stderr, /--pauses: positive numbers of milliseconds, got "5,zero"/);
    assert.match(answer.stderr, /node bench\/pause-cost\.ts/);
  });
});
