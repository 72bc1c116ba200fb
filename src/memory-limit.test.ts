import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  heapGrowingPercent,
  memoryLimitBytes,
  startMemoryLimit,
  startupHeapGrowingPercent,
} from './memory-limit.ts';

const mib = 1024 * 1024;

describe('the soft memory limit', () => {
  test('leaves the heap to V8 below 70 % of the limit, then bounds it harder up to 90 %', () => {
    const limit = 100 * mib;
    const at = (share: number, current = 0) => heapGrowingPercent(share * limit, limit, current);
    assert.equal(at(0.2), 0);
    assert.equal(at(0.69), 0);
    assert.equal(at(0.7), 100);
    assert.equal(at(0.75), 80);
    assert.equal(at(0.9), 10);
    assert.equal(at(3), 10);
    assert.equal(at(Number.NaN), 0, 'an unreadable resident set changes nothing');
  });

  test('a bound in force is kept down to 60 % of the limit', () => {
    const limit = 100 * mib;
    assert.equal(heapGrowingPercent(65 * mib, limit, 0), 0);
    assert.equal(heapGrowingPercent(65 * mib, limit, 40), 100);
    assert.equal(heapGrowingPercent(59 * mib, limit, 40), 0);
  });

  test('is the configured size, or 80 % of a limit the process runs under, or none', () => {
    const total = 24 * 1024 * mib;
    assert.equal(memoryLimitBytes(256, 512 * mib, total), 256 * mib, 'configured wins');
    assert.equal(memoryLimitBytes(0, 512 * mib, total), undefined, '0 turns it off');
    assert.equal(memoryLimitBytes(undefined, 500 * mib, total), 400 * mib, "a container's limit");
    assert.equal(memoryLimitBytes(undefined, 2 ** 64, total), undefined, 'no limit of its own');
    assert.equal(memoryLimitBytes(undefined, 0, total), undefined, 'unknown');
  });

  test('changes the flag only when the percent changes, and gives it back to V8 when stopped', async () => {
    const readings = [10, 75, 76, 85, 95, 95, 50].map((share) => share * mib);
    let index = 0;
    const applied: number[] = [];
    const changes: Array<[number, number]> = [];
    const limiter = startMemoryLimit({
      limitBytes: 100 * mib,
      intervalMs: 2,
      rss: () => readings[Math.min(index++, readings.length - 1)]!,
      apply: (percent) => applied.push(percent),
      unboundedPercent: 0,
      onChange: (percent, previous) => changes.push([percent, previous]),
    });
    while (index < readings.length + 2) await new Promise((resolve) => setTimeout(resolve, 2));
    assert.deepEqual(applied, [80, 70, 30, 10, 0]);
    assert.deepEqual(changes, [
      [80, 0],
      [70, 80],
      [30, 70],
      [10, 30],
      [0, 10],
    ]);
    assert.equal(limiter.percent, 0);

    index = 0;
    const again = startMemoryLimit({
      limitBytes: 100 * mib,
      intervalMs: 60_000,
      rss: () => 95 * mib,
      apply: (percent) => applied.push(percent),
      unboundedPercent: 0,
    });
    assert.equal(again.percent, 10, 'the first reading is taken at once');
    again.stop();
    assert.deepEqual(applied.slice(-2), [10, 0]);
  });

  test("puts back the percent the process was started with, not V8's own, when the bound lifts", async () => {
    const readings = [75, 50].map((share) => share * mib);
    let index = 0;
    const applied: number[] = [];
    const limiter = startMemoryLimit({
      limitBytes: 100 * mib,
      intervalMs: 2,
      unboundedPercent: 100,
      rss: () => readings[Math.min(index++, readings.length - 1)]!,
      apply: (percent) => applied.push(percent),
    });
    while (index < readings.length + 2) await new Promise((resolve) => setTimeout(resolve, 2));
    assert.deepEqual(applied, [80, 100], 'bounded at 75 %, then the startup value at 50 %');
    assert.equal(limiter.percent, 0, 'no bound of its own in force');
    const held = startMemoryLimit({
      limitBytes: 100 * mib,
      intervalMs: 60_000,
      unboundedPercent: 100,
      rss: () => 95 * mib,
      apply: (percent) => applied.push(percent),
    });
    held.stop();
    assert.deepEqual(applied.slice(-2), [10, 100]);
  });

  test('reads the startup percent from the process flags, the last one winning', () => {
    assert.equal(startupHeapGrowingPercent([]), 0);
    assert.equal(startupHeapGrowingPercent(['--max-semi-space-size=4', '--heap-growing-percent=100']), 100);
    assert.equal(startupHeapGrowingPercent(['--heap_growing_percent=50', '--heap-growing-percent=30']), 30);
    assert.equal(startupHeapGrowingPercent(['--heap-growing-percent']), 0, 'no value: not a setting');
  });

  test('bounds what V8 lets the old generation grow to, set while the process runs', async () => {
    // A process whose live set stays about 45 MB while it promotes garbage into the old
    // generation as fast as it can: V8's own factor lets the old space grow far past the live set.
    const child = (limitMb: number) => `
      import v8 from 'node:v8';
      import { startMemoryLimit } from ${JSON.stringify(new URL('./memory-limit.ts', import.meta.url).href)};
      const limiter = ${limitMb} > 0 ? startMemoryLimit({ limitBytes: ${limitMb} * 1024 * 1024, intervalMs: 20 }) : undefined;
      const ring = new Array(400_000);
      let peak = 0;
      const started = Date.now();
      for (let i = 0; Date.now() - started < 3_000; ) {
        for (let k = 0; k < 5_000; k++, i++) ring[i % ring.length] = { a: i, b: 'x' + i, c: [i, i + 1] };
        const old = v8.getHeapSpaceStatistics().find((space) => space.space_name === 'old_space').space_size;
        peak = Math.max(peak, old);
        if (i % 50_000 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      limiter?.stop();
      process.stdout.write(String(peak));`;
    const run = async (limitMb: number) => {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--max-semi-space-size=4', '--input-type=module', '--eval', child(limitMb)],
        { timeout: 30_000 },
      );
      return Number(stdout) / mib;
    };
    const unbounded = await run(0);
    const bounded = await run(128);
    assert.ok(
      bounded < unbounded * 0.7,
      `old space peak ${bounded.toFixed(0)} MiB with a 128 MiB limit, ${unbounded.toFixed(0)} MiB without`,
    );
  });
});
