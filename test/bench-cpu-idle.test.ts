/**
 * The harness's hold on the idle CPUs (bench/cpu-idle.ts): a 0 µs PM QoS request written as
 * the kernel reads it, kept while the file is open, and a run that says what it measured on
 * when it cannot hold it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cpuIdleOption, holdCpuIdle } from '../bench/cpu-idle.ts';
import { parseBenchOptions } from '../bench/options.ts';

describe('the idle CPUs during a benchmark', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('writes a 0 µs request as one 32-bit integer and lets it go on release', async () => {
    const dir = await mkdtemp(join(os.tmpdir(), 'odock-cpu-idle-'));
    dirs.push(dir);
    // A plain file stands in for /dev/cpu_dma_latency: the bytes are what the kernel would read.
    const device = join(dir, 'cpu_dma_latency');
    const hold = holdCpuIdle('poll', device);
    assert.equal(hold.polling, true);
    assert.match(hold.description, /^polling: the harness held .*cpu_dma_latency at 0 µs/);
    assert.deepEqual([...(await readFile(device))], [0, 0, 0, 0]);
    hold.release();
    hold.release();
  });

  it('goes on with the idle states as they are, and says why, when the request cannot be held', () => {
    const missing = holdCpuIdle('poll', join(os.tmpdir(), 'odock-no-such-dir', 'cpu_dma_latency'));
    assert.equal(missing.polling, false);
    assert.match(
      missing.description,
      /^as the OS chose them \(cpuidle driver .+\): .* could not be held at 0 µs \(ENOENT\)$/,
    );
    missing.release();
    const asked = holdCpuIdle('os', '/nonexistent');
    assert.equal(asked.polling, false);
    assert.match(asked.description, /`--cpu-idle os`$/);
  });

  it('polls by default and refuses an unknown mode', () => {
    assert.equal(cpuIdleOption(undefined), 'poll');
    assert.equal(cpuIdleOption('os'), 'os');
    assert.throws(() => cpuIdleOption('deep'), /--cpu-idle: unknown "deep" \(one of poll, os\)/);
    const options = parseBenchOptions(['--cpu-idle', 'os']);
    assert.notEqual(options, 'help');
    if (options !== 'help') assert.equal(options.cpuIdle, 'os');
  });
});
