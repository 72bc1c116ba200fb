import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { GatewayServices } from './lifecycle.ts';
import { admit, settle } from './lifecycle.ts';
import { chatCompletionsContext } from './request-context-fixture.ts';
import { type BudgetReservation, type GatewayStages, passThroughStages } from './stages.ts';

/** The services `settle` reads (its stages and its logger), with the logger's errors kept. */
function servicesWith(stages: Partial<GatewayStages>) {
  const logged: Array<{ fields: Record<string, unknown>; message: string }> = [];
  const services = {
    stages: { ...passThroughStages(), ...stages },
    logger: {
      error: (fields: Record<string, unknown>, message: string) => logged.push({ fields, message }),
    },
  } as unknown as GatewayServices;
  return { services, logged };
}

function contextCosting(costNanos: bigint) {
  const context = chatCompletionsContext('req-1');
  context.outcome.costNanos = costNanos;
  return context;
}

/** A reservation that records what it was asked, answering with `answer` (a value or a promise). */
function reservation(answer: () => undefined | Promise<void>) {
  const calls: string[] = [];
  const reserved: BudgetReservation = {
    settle: (cost) => {
      calls.push(`settle ${cost}`);
      return answer();
    },
    release: () => {
      calls.push('release');
      return answer();
    },
  };
  return { reserved, calls };
}

/** A promise that settles on the next turn of the event loop, recording when it does. */
function later(order: string[], label: string, error?: Error): Promise<void> {
  return new Promise((resolve, reject) =>
    setImmediate(() => {
      order.push(label);
      if (error === undefined) resolve();
      else reject(error);
    }),
  );
}

describe('settling a call', () => {
  test('synchronous stages settle with the cost and leave nothing to wait for', () => {
    const afterProvider: string[] = [];
    const { services, logged } = servicesWith({
      plugins: { beforeProvider: () => {}, afterProvider: () => void afterProvider.push('after') },
    });
    const { reserved, calls } = reservation(() => undefined);
    assert.equal(settle(services, contextCosting(42n), reserved), undefined);
    assert.equal(settle(services, contextCosting(0n), reserved), undefined);
    assert.deepEqual(calls, ['settle 42', 'release']);
    assert.deepEqual(afterProvider, ['after', 'after']);
    assert.deepEqual(logged, []);
  });

  test('an asynchronous settlement is waited for before the post-call plugins run', async () => {
    const order: string[] = [];
    const { services } = servicesWith({
      plugins: {
        beforeProvider: () => {},
        afterProvider: () => {
          order.push('after');
        },
      },
    });
    const { reserved } = reservation(() => later(order, 'settled'));
    const pending = settle(services, contextCosting(7n), reserved);
    assert.ok(pending instanceof Promise);
    assert.deepEqual(order, []);
    await pending;
    assert.deepEqual(order, ['settled', 'after']);
  });

  test('a failure, thrown or rejected, is logged and never reaches the request', async () => {
    const thrown = servicesWith({
      plugins: {
        beforeProvider: () => {},
        afterProvider: () => {
          throw new Error('plugin broke');
        },
      },
    });
    assert.equal(
      settle(thrown.services, contextCosting(0n), reservation(() => undefined).reserved),
      undefined,
    );
    assert.deepEqual(
      thrown.logged.map((entry) => [entry.message, (entry.fields.err as Error).message]),
      [['budget settlement failed', 'plugin broke']],
    );

    const rejected = servicesWith({});
    const { reserved } = reservation(() => Promise.reject(new Error('budget store down')));
    await settle(rejected.services, contextCosting(5n), reserved);
    assert.deepEqual(
      rejected.logged.map((entry) => [
        entry.message,
        entry.fields.request_id,
        (entry.fields.err as Error).message,
      ]),
      [['budget settlement failed', 'req-1', 'budget store down']],
    );

    const late = servicesWith({
      plugins: { beforeProvider: () => {}, afterProvider: () => Promise.reject(new Error('late plugin')) },
    });
    await settle(late.services, contextCosting(0n), reservation(() => undefined).reserved);
    assert.deepEqual(
      late.logged.map((entry) => (entry.fields.err as Error).message),
      ['late plugin'],
    );
  });
});

/** Stages that record when each runs and answer as `answers` says (a value, or a deferred promise). */
function admissionStages(
  order: string[],
  answers: {
    rateLimit?: () => undefined | Promise<void>;
    safety?: () => undefined | Promise<void>;
    budget?: () => 'sync' | 'async';
    plugins?: () => undefined | Promise<void>;
  },
) {
  const { reserved, calls } = reservation(() => {
    order.push('release');
    return undefined;
  });
  const stages: Partial<GatewayStages> = {
    rateLimit: {
      evaluate: () => {
        order.push('rate limit');
        return answers.rateLimit?.();
      },
    },
    safety: {
      inspectRequest: () => {
        order.push('safety');
        return answers.safety?.();
      },
      inspectResponse: () => {},
    },
    budget: {
      reserve: () => {
        order.push('reserve');
        return answers.budget?.() === 'async' ? Promise.resolve(reserved) : reserved;
      },
    },
    plugins: {
      beforeProvider: () => {
        order.push('plugins');
        return answers.plugins?.();
      },
      afterProvider: () => {},
    },
  };
  return { ...servicesWith(stages), order, reserved, calls };
}

describe('admitting a call', () => {
  test('stages that all answer at once admit synchronously, in order, with no promise', () => {
    const { services, order, reserved } = admissionStages([], {});
    const admitted = admit(services, chatCompletionsContext('req-1'), {});
    assert.equal(admitted, reserved);
    assert.deepEqual(order, ['rate limit', 'safety', 'reserve', 'plugins']);
  });

  test('each stage that answers later is waited for before the next one runs', async () => {
    const order: string[] = [];
    const state = admissionStages(order, {
      rateLimit: () => later(order, 'rate limit done'),
      safety: () => later(order, 'safety done'),
      budget: () => 'async',
      plugins: () => later(order, 'plugins done'),
    });
    const admitted = admit(state.services, chatCompletionsContext('req-1'), {});
    assert.ok(admitted instanceof Promise);
    assert.deepEqual(state.order, ['rate limit']);
    assert.equal(await admitted, state.reserved);
    assert.deepEqual(state.order, [
      'rate limit',
      'rate limit done',
      'safety',
      'safety done',
      'reserve',
      'plugins',
      'plugins done',
    ]);
  });

  test('a denial stops the admission before the budget is reserved', async () => {
    const thrown = admissionStages([], {
      rateLimit: () => {
        throw new Error('rate limited');
      },
    });
    assert.throws(() => admit(thrown.services, chatCompletionsContext('req-1'), {}), /rate limited/);
    assert.deepEqual(thrown.order, ['rate limit']);

    const denials: string[] = [];
    const rejected = admissionStages(denials, {
      safety: () => later(denials, 'safety denied', new Error('unsafe')),
    });
    await assert.rejects(async () => admit(rejected.services, chatCompletionsContext('req-1'), {}), /unsafe/);
    assert.deepEqual(rejected.order, ['rate limit', 'safety', 'safety denied']);
  });

  test('a failure of the pre-call plugins, thrown or rejected, releases the reservation first', async () => {
    const thrown = admissionStages([], {
      plugins: () => {
        throw new Error('plugin threw');
      },
    });
    await assert.rejects(
      async () => admit(thrown.services, chatCompletionsContext('req-1'), {}),
      /plugin threw/,
    );
    assert.deepEqual(thrown.order, ['rate limit', 'safety', 'reserve', 'plugins', 'release']);
    assert.deepEqual(thrown.calls, ['release']);

    const failures: string[] = [];
    const rejected = admissionStages(failures, {
      plugins: () => later(failures, 'plugins failed', new Error('plugin rejected')),
    });
    await assert.rejects(
      async () => admit(rejected.services, chatCompletionsContext('req-1'), {}),
      /plugin rejected/,
    );
    assert.deepEqual(rejected.order, [
      'rate limit',
      'safety',
      'reserve',
      'plugins',
      'plugins failed',
      'release',
    ]);
    assert.deepEqual(rejected.calls, ['release']);
  });
});
