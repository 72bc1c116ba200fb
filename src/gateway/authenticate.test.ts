import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Span, TraceFlags, trace } from '@opentelemetry/api';
import { hashApiKey } from '../config/load.ts';
import { GatewayError } from '../errors.ts';
import type { GatewayStore, StoredApiKey } from '../storage/gateway-store.ts';
import { Authenticator } from './authenticate.ts';

const secret = 'sk-odock-test-secret';
const headers = { authorization: `Bearer ${secret}` };
const ttlMs = 1_000;

function storedKey(fields: Partial<StoredApiKey> = {}): StoredApiKey {
  return {
    id: 'key-1',
    organizationId: 'org-1',
    teamId: null,
    userId: null,
    keyHash: hashApiKey(secret),
    expiresAt: null,
    revokedAt: null,
    models: ['gpt-test'],
    source: 'config',
    ...fields,
  };
}

/**
 * A store whose look-ups stay open until the test settles them, and a clock the test moves:
 * the cache's behaviour is read from how many look-ups it starts and what each request gets.
 */
function fixture(cacheTtlMs = ttlMs, sweepIntervalMs = 0) {
  const lookups: Array<{
    keyHash: string;
    resolve: (key: StoredApiKey | undefined) => void;
    reject: (error: Error) => void;
  }> = [];
  const store = {
    findApiKeyByHash(keyHash: string) {
      const { promise, resolve, reject } = Promise.withResolvers<StoredApiKey | undefined>();
      lookups.push({ keyHash, resolve, reject });
      return promise;
    },
  } as unknown as GatewayStore;
  const clock = { now: 1_000_000 };
  // No sweep timer unless asked: the tests run the sweep themselves (`refreshDue`) on their clock.
  const authenticator = new Authenticator({ store, cacheTtlMs, now: () => clock.now, sweepIntervalMs });
  return { authenticator, lookups, clock };
}

/** The first request of the key: its look-up answers with the key, which is then cached. */
async function cacheTheKey(
  authenticator: Authenticator,
  lookups: ReturnType<typeof fixture>['lookups'],
): Promise<void> {
  const first = authenticated(authenticator);
  await settle();
  lookups.at(-1)!.resolve(storedKey());
  await first;
}

/**
 * A request's authentication as these tests make it: with no parent span, which always opens the
 * `gateway.auth` span and so always answers with a promise (`Promise.resolve` returns that same
 * promise; it only gives it its type). The synchronous answers are tested apart below.
 */
const authenticated = (authenticator: Authenticator) => Promise.resolve(authenticator.authenticate(headers));

/** Lets the authenticator's promise callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

async function rejection(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => assert.fail('expected a rejection'),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof GatewayError, `a GatewayError, got ${String(error)}`);
  return error.code;
}

describe('the API key cache', { timeout: 5_000 }, () => {
  test('concurrent requests for a key not yet cached share one look-up', async () => {
    const { authenticator, lookups } = fixture();
    const requests = Array.from({ length: 50 }, () => authenticated(authenticator));
    await settle();
    assert.equal(lookups.length, 1);
    lookups[0]!.resolve(storedKey());
    const principals = await Promise.all(requests);
    assert.ok(principals.every((principal) => principal.apiKeyId === 'key-1'));
    // Later requests are answered from the cache.
    await authenticated(authenticator);
    assert.equal(lookups.length, 1);
  });

  test('a failed look-up fails every request waiting on it, and is not cached', async () => {
    const { authenticator, lookups } = fixture();
    const requests = Array.from({ length: 3 }, () => authenticated(authenticator));
    await settle();
    lookups[0]!.reject(new Error('connection refused'));
    for (const request of requests) assert.equal(await rejection(request), 'auth_unavailable');
    const retry = authenticated(authenticator);
    await settle();
    assert.equal(lookups.length, 2, 'the next request looks the key up again');
    lookups[1]!.resolve(storedKey());
    assert.equal((await retry).apiKeyId, 'key-1');
  });

  test('a key used late in its TTL is refreshed in the background while the cache answers', async () => {
    const { authenticator, lookups, clock } = fixture();
    await cacheTheKey(authenticator, lookups);

    clock.now += ttlMs * 0.5;
    await authenticated(authenticator);
    assert.equal(lookups.length, 1, 'no refresh in the first three quarters of the TTL');

    clock.now += ttlMs * 0.3;
    // Served from the cache at once, although the refresh it starts has not answered.
    const served = await Promise.all([authenticated(authenticator), authenticated(authenticator)]);
    assert.ok(served.every((principal) => principal.apiKeyId === 'key-1'));
    assert.equal(lookups.length, 2, 'one background refresh for both requests');

    // The refresh learns of a revocation: the key is refused from then on.
    lookups[1]!.resolve(storedKey({ revokedAt: new Date(0) }));
    await settle();
    assert.equal(await rejection(authenticated(authenticator)), 'api_key_revoked');
    assert.equal(lookups.length, 2);
  });

  test('a key used early in its TTL is refreshed by the sweep before it expires', async () => {
    const { authenticator, lookups, clock } = fixture();
    await cacheTheKey(authenticator, lookups);

    // Used once, early; no request comes back in the last quarter of its TTL.
    clock.now += ttlMs * 0.4;
    await authenticated(authenticator);
    clock.now += ttlMs * 0.3;
    assert.equal(authenticator.refreshDue(), 0, 'not yet at three quarters of the TTL');
    clock.now += ttlMs * 0.1;
    assert.equal(authenticator.refreshDue(), 1, 'past three quarters: the used key is refreshed');
    assert.equal(authenticator.refreshDue(), 0, 'one refresh at a time');
    assert.equal(lookups.length, 2);
    lookups[1]!.resolve(storedKey());
    await settle();

    // At 1.4 TTLs, past the first look-up's TTL, the refreshed entry answers from the cache.
    clock.now += ttlMs * 0.6;
    let answered = false;
    const next = authenticated(authenticator).then((principal) => {
      answered = true;
      return principal;
    });
    await settle();
    assert.equal(answered, true, 'a cache hit: no look-up on the request path');
    assert.equal((await next).apiKeyId, 'key-1');
    assert.equal(lookups.length, 2);
  });

  test('the sweep leaves unused keys to expire and drops expired entries', async () => {
    const { authenticator, lookups, clock } = fixture();
    await cacheTheKey(authenticator, lookups);
    clock.now += ttlMs * 0.8;
    assert.equal(authenticator.refreshDue(), 1, 'the request that looked it up used it');
    lookups[1]!.resolve(storedKey());
    await settle();

    // Nobody used the refreshed entry: it is not refreshed again, and the sweep drops it once expired.
    clock.now += ttlMs * 0.8;
    assert.equal(authenticator.refreshDue(), 0);
    assert.equal(authenticator.cachedKeys, 1);
    clock.now += ttlMs * 0.3;
    assert.equal(authenticator.refreshDue(), 0);
    assert.equal(authenticator.cachedKeys, 0, 'the expired entry is gone');
    const expired = authenticated(authenticator);
    await settle();
    assert.equal(lookups.length, 3, 'the next request looks the key up itself');
    lookups[2]!.resolve(storedKey());
    assert.equal((await expired).apiKeyId, 'key-1');
  });

  test('the sweep runs on its own timer until the authenticator is closed', async () => {
    const { authenticator, lookups, clock } = fixture(ttlMs, 5);
    try {
      await cacheTheKey(authenticator, lookups);
      clock.now += ttlMs * 0.8;
      // No request: only the timer can start this look-up.
      const deadline = Date.now() + 2_000;
      while (lookups.length < 2 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal(lookups.length, 2, 'the timer refreshed the used key');
    } finally {
      authenticator.close();
    }
    lookups[1]!.resolve(storedKey());
    await settle();
    await authenticated(authenticator);
    clock.now += ttlMs * 0.8;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(lookups.length, 2, 'no sweep after close');
  });

  test('an entry is never served past its TTL, even while its refresh hangs', async () => {
    const { authenticator, lookups, clock } = fixture();
    await cacheTheKey(authenticator, lookups);

    clock.now += ttlMs * 0.8;
    await authenticated(authenticator);
    assert.equal(lookups.length, 2, 'refresh started');

    clock.now += ttlMs * 0.25;
    let answered = false;
    const late = authenticated(authenticator).finally(() => {
      answered = true;
    });
    await settle();
    assert.equal(answered, false, 'an expired entry does not answer');
    assert.equal(lookups.length, 2, 'the request waits on the refresh under way');
    lookups[1]!.resolve(storedKey({ revokedAt: new Date(0) }));
    assert.equal(await rejection(late), 'api_key_revoked');
  });

  test('a failed refresh leaves the entry to its TTL; then the request reports the failure', async () => {
    const { authenticator, lookups, clock } = fixture();
    await cacheTheKey(authenticator, lookups);

    clock.now += ttlMs * 0.9;
    await authenticated(authenticator);
    lookups[1]!.reject(new Error('connection refused'));
    await settle();
    assert.equal((await authenticated(authenticator)).apiKeyId, 'key-1', 'still within its TTL');
    assert.equal(lookups.length, 3, 'the next use late in the TTL tries the refresh again');
    lookups[2]!.reject(new Error('connection refused'));
    await settle();

    clock.now += ttlMs * 0.2;
    const expired = authenticated(authenticator);
    await settle();
    lookups[3]!.reject(new Error('connection refused'));
    assert.equal(await rejection(expired), 'auth_unavailable');
  });

  test('unknown keys are cached for at most a second and never refreshed ahead', async () => {
    const { authenticator, lookups, clock } = fixture(60_000);
    const first = authenticated(authenticator);
    await settle();
    lookups[0]!.resolve(undefined);
    assert.equal(await rejection(first), 'unauthorized');

    clock.now += 900;
    assert.equal(await rejection(authenticated(authenticator)), 'unauthorized');
    assert.equal(lookups.length, 1, 'a cached miss, and no refresh');

    clock.now += 200;
    const again = authenticated(authenticator);
    await settle();
    assert.equal(lookups.length, 2, 'looked up again after a second');
    lookups[1]!.resolve(storedKey());
    assert.equal((await again).apiKeyId, 'key-1');
  });

  test('a look-up under way when the cache is invalidated does not fill it', async () => {
    const { authenticator, lookups } = fixture();
    const before = authenticated(authenticator);
    await settle();
    authenticator.invalidate();
    lookups[0]!.resolve(storedKey());
    assert.equal((await before).apiKeyId, 'key-1');

    const after = authenticated(authenticator);
    await settle();
    assert.equal(lookups.length, 2, 'the answer from before the invalidation was not cached');
    lookups[1]!.resolve(storedKey({ revokedAt: new Date(0) }));
    assert.equal(await rejection(after), 'api_key_revoked');
  });

  test('with a TTL of 0 every request reads the store itself', async () => {
    const { authenticator, lookups } = fixture(0);
    const requests = Array.from({ length: 3 }, () => authenticated(authenticator));
    await settle();
    assert.equal(lookups.length, 3);
    for (const lookup of lookups) lookup.resolve(storedKey());
    await Promise.all(requests);
    const next = authenticated(authenticator);
    await settle();
    assert.equal(lookups.length, 4);
    lookups[3]!.resolve(storedKey());
    await next;
  });
});

describe('authentication under a trace that is not recorded', { timeout: 5_000 }, () => {
  const span = (traceFlags: TraceFlags): Span =>
    trace.wrapSpanContext({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags });
  const unsampled = span(TraceFlags.NONE);

  test('a cached key is answered synchronously, a look-up with a promise', async () => {
    const { authenticator, lookups } = fixture();
    const first = authenticator.authenticate(headers, unsampled);
    assert.ok(first instanceof Promise, 'a look-up is waited for');
    await settle();
    lookups[0]!.resolve(storedKey());
    assert.equal((await first).apiKeyId, 'key-1');

    const cached = authenticator.authenticate(headers, unsampled);
    assert.ok(!(cached instanceof Promise), 'a cached key makes no promise');
    assert.equal(cached.apiKeyId, 'key-1');
    assert.equal(lookups.length, 1);
  });

  test('refusals of a cached or absent key are thrown synchronously', async () => {
    const { authenticator, lookups, clock } = fixture();
    const first = authenticator.authenticate(headers, unsampled);
    await settle();
    lookups[0]!.resolve(storedKey({ revokedAt: new Date(clock.now + 10) }));
    await first;
    clock.now += 10;
    assert.throws(
      () => authenticator.authenticate(headers, unsampled),
      (error: unknown) => error instanceof GatewayError && error.code === 'api_key_revoked',
    );
    assert.throws(
      () => authenticator.authenticate({}, unsampled),
      (error: unknown) => error instanceof GatewayError && error.code === 'unauthorized',
    );
  });

  test('a recorded trace keeps the asynchronous path and its auth span', async () => {
    const { authenticator, lookups } = fixture();
    await cacheTheKey(authenticator, lookups);
    const sampled = authenticator.authenticate(headers, span(TraceFlags.SAMPLED));
    assert.ok(sampled instanceof Promise);
    assert.equal((await sampled).apiKeyId, 'key-1');
  });
});
