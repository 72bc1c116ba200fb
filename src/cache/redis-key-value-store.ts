/**
 * The multi-replica KeyValueStore over Redis (ioredis). Counters, cache entries and messages
 * are shared by every replica, so limits and invalidations hold for the whole deployment.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { KeyValueStore } from './key-value-store.ts';

export interface RedisKeyValueStoreOptions {
  /** REDIS_URL, e.g. `redis://127.0.0.1:6379/0`. */
  url: string;
  /** Prepended to every key and channel, so deployments (or test runs) can share one Redis. */
  keyPrefix?: string;
  /** Time allowed to open a TCP connection; defaults to 1 s. */
  connectTimeoutMs?: number;
  /** Time allowed for a reply once connected; defaults to 2 s. */
  commandTimeoutMs?: number;
  /**
   * Connection-level errors (refused, reset) and subscription handler failures. Defaults to
   * ignoring connection errors, because every call that needed the connection rejects with the
   * cause anyway and readiness (`ping`) reports it; handler failures become process warnings.
   */
  onError?: (error: unknown) => void;
}

interface Subscription {
  readonly handler: (message: string) => void;
  active: boolean;
}

/**
 * INCRBY and the window's TTL in one atomic step: the TTL is set only when the key has none
 * (it was just created), the `PEXPIRE ... NX` semantic, which a plain INCRBY + PEXPIRE pair
 * cannot give without a race between replicas. Lua instead of `NX` keeps Redis < 7 working.
 */
const incrementScript = `
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value`;

type IncrementCommand = { odockIncrement(key: string, by: number, ttlMs: number): Promise<number> };

export function createRedisKeyValueStore(options: RedisKeyValueStoreOptions): KeyValueStore {
  return new RedisKeyValueStore(options);
}

class RedisKeyValueStore implements KeyValueStore {
  readonly kind = 'redis' as const;
  readonly #options: RedisOptions;
  readonly #url: string;
  readonly #prefix: string;
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #commands: Redis;
  /** Created on the first `subscribe`: a subscribed connection can run no other command. */
  #subscriber: Redis | undefined;
  readonly #channels = new Map<string, Set<Subscription>>();
  /** Serialises SUBSCRIBE/UNSUBSCRIBE so a channel is never dropped while being re-added. */
  #subscriptionChanges: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: RedisKeyValueStoreOptions) {
    this.#url = options.url;
    this.#prefix = options.keyPrefix ?? '';
    this.#onError = options.onError;
    this.#options = {
      // Connect on first use, so opening the store never throws and a Redis that starts after
      // the gateway is picked up.
      lazyConnect: true,
      connectTimeout: options.connectTimeoutMs ?? 1_000,
      commandTimeout: options.commandTimeoutMs ?? 2_000,
      // A call waits for at most two connection attempts, retried quickly, then rejects: with
      // Redis down, a request fails (or fails open) in about a second instead of queueing
      // behind an ever longer backoff.
      maxRetriesPerRequest: 1,
      retryStrategy: (attempt) => Math.min(attempt * 50, 500),
      connectionName: 'odock-server',
    };
    this.#commands = this.#connect();
    this.#commands.defineCommand('odockIncrement', { numberOfKeys: 1, lua: incrementScript });
  }

  async get(key: string): Promise<string | undefined> {
    this.#assertOpen();
    return (await this.#commands.get(this.#prefix + key)) ?? undefined;
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    this.#assertOpen();
    if (ttlMs === undefined) await this.#commands.set(this.#prefix + key, value);
    else await this.#commands.set(this.#prefix + key, value, 'PX', wholeTtl(ttlMs));
  }

  async delete(...keys: string[]): Promise<number> {
    this.#assertOpen();
    if (keys.length === 0) return 0;
    return this.#commands.del(...keys.map((key) => this.#prefix + key));
  }

  async increment(key: string, by: number, ttlMs: number): Promise<number> {
    this.#assertOpen();
    if (!Number.isSafeInteger(by)) throw new RangeError('increment: `by` must be a safe integer');
    const commands = this.#commands as unknown as IncrementCommand;
    return Number(await commands.odockIncrement(this.#prefix + key, by, wholeTtl(ttlMs)));
  }

  async ttl(key: string): Promise<number | undefined> {
    this.#assertOpen();
    const remaining = await this.#commands.pttl(this.#prefix + key);
    // -2: no such key, -1: no expiry.
    return remaining < 0 ? undefined : remaining;
  }

  async publish(channel: string, message: string): Promise<void> {
    this.#assertOpen();
    await this.#commands.publish(this.#prefix + channel, message);
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<() => Promise<void>> {
    this.#assertOpen();
    const fullChannel = this.#prefix + channel;
    const subscription: Subscription = { handler, active: true };
    await this.#changeSubscriptions(async (subscriber) => {
      const existing = this.#channels.get(fullChannel);
      if (existing !== undefined) {
        existing.add(subscription);
        return;
      }
      // Registered only once Redis confirmed, so a failed SUBSCRIBE leaves nothing behind.
      await subscriber.subscribe(fullChannel);
      this.#channels.set(fullChannel, new Set([subscription]));
    });
    return async () => {
      if (!subscription.active) return;
      subscription.active = false;
      await this.#changeSubscriptions(async (subscriber) => {
        const subscriptions = this.#channels.get(fullChannel);
        subscriptions?.delete(subscription);
        if (subscriptions?.size !== 0 || this.#closed) return;
        this.#channels.delete(fullChannel);
        await subscriber.unsubscribe(fullChannel);
      });
    };
  }

  async ping(): Promise<void> {
    this.#assertOpen();
    await this.#commands.ping();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const subscriptions of this.#channels.values()) {
      for (const subscription of subscriptions) subscription.active = false;
    }
    this.#channels.clear();
    await Promise.all([disconnect(this.#commands), this.#subscriber && disconnect(this.#subscriber)]);
  }

  #connect(): Redis {
    const connection = new Redis(this.#url, this.#options);
    // Without a listener ioredis logs every failed reconnect attempt to stderr.
    connection.on('error', (error: Error) => this.#onError?.(error));
    return connection;
  }

  #changeSubscriptions(change: (subscriber: Redis) => Promise<void>): Promise<void> {
    const run = this.#subscriptionChanges.then(() => {
      if (this.#subscriber === undefined) {
        this.#subscriber = this.#connect();
        this.#subscriber.on('message', (channel: string, message: string) => this.#deliver(channel, message));
      }
      return change(this.#subscriber);
    });
    this.#subscriptionChanges = run.catch(() => undefined);
    return run;
  }

  #deliver(channel: string, message: string): void {
    const subscriptions = this.#channels.get(channel);
    if (subscriptions === undefined) return;
    for (const subscription of [...subscriptions]) {
      if (!subscription.active) continue;
      try {
        subscription.handler(message);
      } catch (error) {
        if (this.#onError === undefined) {
          process.emitWarning(`subscription handler failed: ${String(error)}`, 'KeyValueStoreWarning');
        } else this.#onError(error);
      }
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('the key-value store is closed');
  }
}

async function disconnect(connection: Redis): Promise<void> {
  // QUIT lets replies in flight arrive; a connection that is not up has nothing to wait for.
  if (connection.status === 'ready') {
    await connection.quit().catch(() => connection.disconnect());
  } else connection.disconnect();
}

function wholeTtl(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0)
    throw new RangeError('ttlMs must be a positive number of milliseconds');
  // PX and PEXPIRE take whole milliseconds; rounding up never expires an entry early.
  return Math.ceil(ttlMs);
}
