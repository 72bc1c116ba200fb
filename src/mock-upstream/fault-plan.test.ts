import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSeededRandom, defaultSlowLatencyMs, FaultPlanner, faultKinds } from './fault-plan.ts';
import { type MockUpstreamOptions, resolveMockUpstreamOptions } from './options.ts';

function planner(options: MockUpstreamOptions): FaultPlanner {
  return new FaultPlanner(resolveMockUpstreamOptions({ seed: 3, ...options }));
}

describe('FaultPlanner', () => {
  it('maps every x-mock-scenario value to its fault', () => {
    const plans = planner({});
    const expected = {
      'error-500': faultKinds.serverError,
      'error-429': faultKinds.rateLimited,
      'error-400': faultKinds.badRequest,
      timeout: faultKinds.timeout,
      reset: faultKinds.reset,
      'mid-stream-error': faultKinds.midStreamError,
      'mid-stream-reset': faultKinds.midStreamReset,
      slow: faultKinds.none,
    };
    for (const [scenario, fault] of Object.entries(expected)) {
      assert.equal(plans.plan({ 'x-mock-scenario': scenario }, true).plan?.fault, fault, scenario);
    }
    assert.match(
      String(plans.plan({ 'x-mock-scenario': 'nope' }, true).problem),
      /unknown x-mock-scenario "nope"/,
    );
  });

  it('takes latency from options, overrides it per request, and adds to it for slow', () => {
    const plans = planner({ latencyMs: 30, chunkIntervalMs: 5 });
    assert.deepEqual(plans.plan({}, true).plan, {
      fault: faultKinds.none,
      latencyMs: 30,
      timeToFirstTokenMs: 30,
      chunkIntervalMs: 5,
    });
    assert.deepEqual(
      plans.plan(
        { 'x-mock-latency-ms': '200', 'x-mock-chunk-interval-ms': '7', 'x-mock-ttft-ms': '250' },
        true,
      ).plan,
      { fault: faultKinds.none, latencyMs: 200, timeToFirstTokenMs: 250, chunkIntervalMs: 7 },
    );
    // Time to first token follows an overridden latency unless it was configured itself.
    assert.equal(plans.plan({ 'x-mock-latency-ms': '90' }, true).plan?.timeToFirstTokenMs, 90);
    assert.equal(
      planner({ timeToFirstTokenMs: 60 }).plan({ 'x-mock-latency-ms': '90' }, true).plan?.timeToFirstTokenMs,
      60,
    );
    assert.equal(
      plans.plan({ 'x-mock-scenario': 'slow', 'x-mock-latency-ms': '100' }, true).plan?.latencyMs,
      130,
    );
    assert.equal(plans.plan({ 'x-mock-scenario': 'slow' }, true).plan?.latencyMs, 30 + defaultSlowLatencyMs);
    for (const bad of ['-1', 'abc', '']) {
      assert.match(
        String(plans.plan({ 'x-mock-latency-ms': bad }, true).problem),
        /x-mock-latency-ms must be/,
      );
    }
  });

  it('draws faults with the configured probabilities, reproducibly for a seed', () => {
    const options = {
      errorRate: 0.1,
      rateLimitRate: 0.2,
      timeoutRate: 0.05,
      resetRate: 0.05,
      midStreamErrorRate: 0.2,
    };
    const draw = (seed: number) => {
      const plans = planner({ ...options, seed });
      return Array.from({ length: 20_000 }, () => plans.plan({}, true).plan?.fault);
    };
    const faults = draw(11);
    assert.deepEqual(draw(11), faults);
    const share = (fault: string) => faults.filter((value) => value === fault).length / faults.length;
    const near = (actual: number, expected: number) =>
      assert.ok(Math.abs(actual - expected) < 0.015, `${actual} is not near ${expected}`);
    near(share(faultKinds.serverError), 0.1);
    near(share(faultKinds.rateLimited), 0.2);
    near(share(faultKinds.timeout), 0.05);
    near(share(faultKinds.reset), 0.05);
    near(share(faultKinds.midStreamError), 0.1);
    near(share(faultKinds.midStreamReset), 0.1);
    near(share(faultKinds.none), 0.4);
  });

  it('leaves unary requests alone in the mid-stream band', () => {
    const plans = planner({ midStreamErrorRate: 1 });
    for (let index = 0; index < 50; index++) assert.equal(plans.plan({}, false).plan?.fault, faultKinds.none);
    assert.notEqual(plans.plan({}, true).plan?.fault, faultKinds.none);
  });
});

describe('createSeededRandom', () => {
  it('is deterministic per seed and stays in [0, 1)', () => {
    const first = createSeededRandom(99);
    const second = createSeededRandom(99);
    const other = createSeededRandom(100);
    const values = Array.from({ length: 1000 }, () => first());
    assert.deepEqual(
      Array.from({ length: 1000 }, () => second()),
      values,
    );
    assert.notDeepEqual(
      Array.from({ length: 1000 }, () => other()),
      values,
    );
    assert.ok(values.every((value) => value >= 0 && value < 1));
  });
});
