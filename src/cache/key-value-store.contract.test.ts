/**
 * One contract for the KeyValueStore, run against process memory and a real Redis: whatever
 * passes here behaves the same with and without REDIS_URL. Redis must be reachable (CI
 * provides it); an unreachable server fails the suite rather than skipping it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { KeyValueStore } from './key-value-store.ts';
import { createMemoryKeyValueStore } from './memory-key-value-store.ts';
import { openKeyValueStore } from './open-key-value-store.ts';
import { createRedisKeyValueStore } from './redis-key-value-store.ts';

const redisUrl = process.env['ODOCK_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

interface StoreHarness {
  readonly name: string;
  open(): KeyValueStore;
  cleanup(): Promise<void>;
}

function memoryHarness(): StoreHarness {
  return { name: 'memory', open: () => createMemoryKeyValueStore(), cleanup: async () => undefined };
}

/** Every store of a run shares one random prefix; `cleanup` deletes whatever is left under it. */
function redisHarness(): StoreHarness {
  const keyPrefix = `odock-test:${randomBytes(6).toString('hex')}:`;
  return {
    name: 'redis',
    open: () => openKeyValueStore({ redisUrl, keyPrefix }),
    async cleanup() {
      const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        const keys = await redis.keys(`${keyPrefix}*`);
        if (keys.length > 0) await redis.del(...keys);
      } finally {
        redis.disconnect();
      }
    },
  };
}

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

async function eventually(condition: () => boolean, what: string, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function defineContract(harness: StoreHarness): void {
  const withStore = (work: (store: KeyValueStore) => Promise<void>) => async () => {
    const store = harness.open();
    try {
      await work(store);
    } finally {
      await store.close();
    }
  };

  describe(`KeyValueStore contract on ${harness.name}`, () => {
    after(() => harness.cleanup());

    it(
      'answers ping',
      withStore(async (store) => {
        assert.equal(store.kind, harness.name);
        await store.ping();
      }),
    );

    it(
      'stores values, with and without a time to live',
      withStore(async (store) => {
        assert.equal(await store.get('missing'), undefined);
        assert.equal(await store.ttl('missing'), undefined);
        await store.set('plain', 'one');
        assert.equal(await store.get('plain'), 'one');
        assert.equal(await store.ttl('plain'), undefined);
        await store.set('plain', 'two');
        assert.equal(await store.get('plain'), 'two');

        await store.set('brief', 'soon gone', 150);
        assert.equal(await store.get('brief'), 'soon gone');
        const remaining = await store.ttl('brief');
        assert.ok(remaining !== undefined && remaining > 0 && remaining <= 150, `ttl ${remaining}`);
        await sleep(250);
        assert.equal(await store.get('brief'), undefined);
        assert.equal(await store.ttl('brief'), undefined);
        await assert.rejects(store.set('bad', 'x', 0), RangeError);
      }),
    );

    it(
      'deletes keys and counts the ones that existed',
      withStore(async (store) => {
        await store.set('a', '1');
        await store.set('b', '2');
        assert.equal(await store.delete('a', 'b', 'c'), 2);
        assert.equal(await store.get('a'), undefined);
        assert.equal(await store.delete('a'), 0);
        assert.equal(await store.delete(), 0);
      }),
    );

    it(
      'increments atomically under 200 concurrent calls',
      withStore(async (store) => {
        const results = await Promise.all(
          Array.from({ length: 200 }, () => store.increment('counter', 1, 60_000)),
        );
        assert.deepEqual(
          [...results].sort((left, right) => left - right),
          Array.from({ length: 200 }, (_, index) => index + 1),
        );
        assert.equal(await store.get('counter'), '200');
        assert.equal(await store.increment('counter', -50, 60_000), 150);
      }),
    );

    it(
      'sets a counter TTL only when the counter is created',
      withStore(async (store) => {
        assert.equal(await store.increment('window', 5, 300), 5);
        const createdBy = Date.now();
        await sleep(100);
        assert.equal(await store.increment('window', 1, 60_000), 6);
        const askedAt = Date.now();
        const remaining = await store.ttl('window');
        // The first increment's deadline, measured against the clock rather than the timer (a
        // 100 ms timer may fire a millisecond early), plus a millisecond of rounding; a reset
        // deadline would be a minute.
        const deadline = 300 - (askedAt - createdBy) + 1;
        assert.ok(
          remaining !== undefined && remaining <= deadline,
          `the window kept its deadline (ttl ${remaining}, at most ${deadline})`,
        );
        await sleep(300);
        assert.equal(await store.get('window'), undefined);
        assert.equal(await store.increment('window', 1, 60_000), 1, 'a new window starts from zero');
        // A key without expiry gets one, as with PEXPIRE NX.
        await store.set('untimed', '10');
        assert.equal(await store.increment('untimed', 1, 5_000), 11);
        assert.ok(((await store.ttl('untimed')) ?? 0) > 4_000);
        await store.set('text', 'not a number');
        await assert.rejects(store.increment('text', 1, 1_000));
      }),
    );

    it(
      'delivers published messages asynchronously until unsubscribed',
      withStore(async (store) => {
        const first: string[] = [];
        const second: string[] = [];
        const unsubscribeFirst = await store.subscribe('events', (message) => first.push(message));
        const unsubscribeSecond = await store.subscribe('events', (message) => second.push(message));
        await store.subscribe('elsewhere', () => assert.fail('message crossed channels'));

        const published = store.publish('events', 'hello');
        assert.deepEqual(first, [], 'never delivered inside publish');
        await published;
        await eventually(() => first.length === 1 && second.length === 1, 'both subscribers');
        assert.deepEqual([first, second], [['hello'], ['hello']]);

        await unsubscribeFirst();
        await unsubscribeFirst();
        await store.publish('events', 'second');
        await eventually(() => second.length === 2, 'the remaining subscriber');
        await sleep(50);
        assert.deepEqual([first, second], [['hello'], ['hello', 'second']]);

        await unsubscribeSecond();
        await store.publish('events', 'third');
        await sleep(100);
        assert.deepEqual(second, ['hello', 'second']);
        // The channel can be subscribed again after its last subscriber left.
        const again: string[] = [];
        await store.subscribe('events', (message) => again.push(message));
        await store.publish('events', 'fourth');
        await eventually(() => again.length === 1, 'the new subscriber');
      }),
    );

    it('rejects calls once closed', async () => {
      const store = harness.open();
      await store.close();
      await store.close();
      await assert.rejects(store.get('key'));
    });
  });
}

defineContract(memoryHarness());
defineContract(redisHarness());

describe('Redis isolation and failure', () => {
  it('keeps stores with different key prefixes apart', async () => {
    const prefix = `odock-test:${randomBytes(6).toString('hex')}`;
    const left = createRedisKeyValueStore({ url: redisUrl, keyPrefix: `${prefix}:left:` });
    const right = createRedisKeyValueStore({ url: redisUrl, keyPrefix: `${prefix}:right:` });
    try {
      await left.set('shared-name', 'left');
      assert.equal(await right.get('shared-name'), undefined);
      assert.equal(await left.delete('shared-name'), 1);
    } finally {
      await Promise.all([left.close(), right.close()]);
    }
  });

  it('fails fast instead of hanging when Redis is down', async () => {
    const port = await closedPort();
    const store = createRedisKeyValueStore({ url: `redis://127.0.0.1:${port}` });
    try {
      for (const call of [
        () => store.get('key'),
        () => store.increment('key', 1, 1_000),
        () => store.ping(),
      ]) {
        const started = Date.now();
        await assert.rejects(call());
        const elapsed = Date.now() - started;
        assert.ok(elapsed < 2_000, `rejected after ${elapsed} ms`);
      }
      await assert.rejects(store.subscribe('channel', () => undefined));
    } finally {
      await store.close();
    }
  });
});

/** A local port nothing listens on: bound by the kernel, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}
