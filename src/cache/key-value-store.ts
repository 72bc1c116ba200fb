/**
 * The hot-path state port: counters, short-lived cache entries and cross-replica messages.
 * In process memory when REDIS_URL is unset (one replica), Redis (ioredis) when it is set, so
 * limits and invalidations hold for the whole deployment. One contract suite runs against both.
 */

export interface KeyValueStore {
  readonly kind: 'memory' | 'redis';
  get(key: string): Promise<string | undefined>;
  /** Stores `value`; with `ttlMs` the entry disappears after that many milliseconds. */
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  /** Deletes keys; resolves to how many existed. */
  delete(...keys: string[]): Promise<number>;
  /**
   * Atomically adds `by` to the integer at `key` (missing = 0) and returns the new value.
   * The TTL is set when the counter is created and left alone afterwards (fixed windows).
   */
  increment(key: string, by: number, ttlMs: number): Promise<number>;
  /** Remaining time to live in milliseconds; undefined when the key is missing or has none. */
  ttl(key: string): Promise<number | undefined>;
  publish(channel: string, message: string): Promise<void>;
  /** Calls `handler` for every message on `channel` until the returned function is called. */
  subscribe(channel: string, handler: (message: string) => void): Promise<() => Promise<void>>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
