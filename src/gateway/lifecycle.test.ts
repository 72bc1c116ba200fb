import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { GatewayServices } from './lifecycle.ts';
import { settle } from './lifecycle.ts';
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
    const { reserved } = reservation(
      () =>
        new Promise<void>((resolve) =>
          setImmediate(() => {
            order.push('settled');
            resolve();
          }),
        ),
    );
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
