/**
 * The per-thread CPU account `bench/profile.ts` prints: read from /proc for this process, and
 * the difference of two readings per request, summed by thread name.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ThreadCpu, threadCpuPerRequest, threadCpuSeconds } from '../bench/machine.ts';

describe('threadCpuSeconds', () => {
  it('reads every thread of a live process, the main one under the process id', async () => {
    const threads = await threadCpuSeconds(process.pid);
    const main = threads.get(String(process.pid));
    assert.ok(main !== undefined, 'the main thread is there');
    assert.ok(threads.size > 1, `Node runs helper threads beside the main one (${threads.size})`);
    // Burn 60 ms of CPU on the main thread (by its own account, whatever else shares the
    // machine): its time in /proc moves by several 10 ms clock ticks.
    const burnt = process.cpuUsage();
    while (process.cpuUsage(burnt).user < 60_000);
    const after = (await threadCpuSeconds(process.pid)).get(String(process.pid))!;
    assert.ok(after.userSeconds + after.systemSeconds > main.userSeconds + main.systemSeconds);
  });

  it('answers an empty map for a process that is gone', async () => {
    assert.equal((await threadCpuSeconds(2 ** 30)).size, 0);
  });
});

describe('threadCpuPerRequest', () => {
  const thread = (name: string, userSeconds: number, systemSeconds: number): ThreadCpu => ({
    name,
    userSeconds,
    systemSeconds,
  });

  it('sums threads of one name, calls the process id main, and sorts by total', () => {
    const before = new Map([
      ['100', thread('node', 1, 0.5)],
      ['101', thread('V8Worker', 0.1, 0)],
      ['102', thread('libuv-worker', 0, 0)],
      ['103', thread('libuv-worker', 0, 0)],
    ]);
    const after = new Map([
      ['100', thread('node', 2, 0.7)],
      ['101', thread('V8Worker', 0.3, 0.01)],
      ['102', thread('libuv-worker', 0.02, 0)],
      ['103', thread('libuv-worker', 0.03, 0)],
      // Started between the readings: all of its time counts.
      ['104', thread('V8Worker', 0.05, 0)],
      // Idle the whole time: left out.
      ['105', thread('signal', 0, 0)],
    ]);
    const perRequest = threadCpuPerRequest(100, before, after, 10_000);
    assert.deepEqual(
      perRequest.map(({ name, userUs, systemUs }) => [name, Math.round(userUs), Math.round(systemUs)]),
      [
        ['main', 100, 20],
        ['V8Worker', 25, 1],
        ['libuv-worker', 5, 0],
      ],
    );
  });
});
