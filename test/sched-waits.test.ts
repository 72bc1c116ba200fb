/**
 * bench/sched-waits.ts on lines of a real `perf sched timehist` (the gateway at one connection
 * on CPU 0, PostgreSQL writing usage rows): the main thread's scheduling delays are charged to
 * the task that held its core.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseTimehist, renderWaits, summariseWaits } from '../bench/sched-waits.ts';

const timehist = `Samples of sched_switch event do not have callchains.
           time    cpu  task name                       wait time  sch delay   run time
                        [tid/pid]                          (msec)     (msec)     (msec)
--------------- ------  ------------------------------  ---------  ---------  ---------
     462.460981 [0000]  postgres[7646]                      0.000      0.000      1.114 
     462.460982 [0001]  MainThread[7613]                    1.166      0.991      0.137 
     462.461096 [0001]  wrk[7651/7650]                      1.184      0.000      0.113 
     462.461219 [0000]  MainThread[7637]                    1.114      0.035      0.238 
     462.463180 [0000]  postgres[7646]                      0.134      0.000      1.533 
     462.463379 [0000]  MainThread[7637]                    1.533      1.514      0.199 
     462.464571 [0000]  V8Worker[7639/7637]                 0.165      0.000      0.624 
     462.464730 [0000]  MainThread[7637]                    0.719      0.704      0.063 
     462.467175 [0000]  postgres[7646]                      0.487      0.000      2.116 
     462.467495 [0000]  MainThread[7637]                    2.116      2.102      0.320 
     462.469000 [0000]  <idle>                              0.320      0.000      1.200 
     462.469100 [0000]  MainThread[7637]                    1.300      0.010      0.100 
`;

describe('scheduling delays from perf sched timehist', () => {
  test('switch-out lines are read, header lines are not', () => {
    const switches = parseTimehist(timehist);
    assert.equal(switches.length, 12);
    assert.deepEqual(switches[2], {
      time: 462.461096,
      cpu: 1,
      task: 'wrk[7651/7650]',
      tid: 7651,
      waitMs: 1.184,
      schedDelayMs: 0,
      runMs: 0.113,
    });
    assert.equal(switches.find((change) => change.task === '<idle>')!.tid, undefined);
  });

  test('each delay over the threshold is charged to what ran on that core before', () => {
    const waits = summariseWaits(parseTimehist(timehist), 7637, 0.5);
    assert.equal(waits.runs, 5);
    assert.equal(waits.delayed, 3);
    assert.ok(Math.abs(waits.delayedMs - (1.514 + 0.704 + 2.102)) < 1e-9);
    assert.deepEqual(
      waits.blockers.map(({ task, count }) => [task, count]),
      [
        ['postgres[7646]', 2],
        ['V8Worker[7639/7637]', 1],
      ],
    );
    assert.equal(waits.blockers[0]!.maxMs, 2.102);
    // The mock's main thread on the other core is another thread: its delay is not counted.
    assert.equal(summariseWaits(parseTimehist(timehist), 7613, 0.5).delayed, 1);
    assert.deepEqual(waits.busiest[0], { name: 'postgres', runMs: 1.114 + 1.533 + 2.116 });
    const text = renderWaits(waits, 1_000);
    assert.match(text, /3 times it was ready but waited more than 0\.5 ms/);
    assert.match(text, /0\.30 % of the 1000 requests/);
    assert.match(text, /\| postgres\[7646\] \| 2 \| 3\.6 \| 2\.1 \|/);
  });
});
