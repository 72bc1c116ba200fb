/**
 * The single-replica KeyValueStore: a Map in process memory. It mirrors Redis semantics where
 * callers could notice the difference (TTL only at counter creation, asynchronous pub/sub
 * delivery, integer errors), so code tested against it behaves the same on Redis.
 */
import type { KeyValueStore } from './key-value-store.ts';

export interface MemoryKeyValueStoreOptions {
  /** How often expired entries are swept (reads also drop them lazily); defaults to 30 s. */
  sweepIntervalMs?: number;
  /** Errors thrown by subscription handlers; defaults to a process warning. */
  onError?: (error: unknown) => void;
  /** Clock, for tests. */
  now?: () => number;
}

interface Entry {
  value: string;
  /** Epoch milliseconds; undefined = no expiry. */
  expiresAt: number | undefined;
}

interface Subscription {
  readonly handler: (message: string) => void;
  active: boolean;
}

export function createMemoryKeyValueStore(options: MemoryKeyValueStoreOptions = {}): KeyValueStore {
  return new MemoryKeyValueStore(options);
}

class MemoryKeyValueStore implements KeyValueStore {
  readonly kind = 'memory' as const;
  readonly #entries = new Map<string, Entry>();
  readonly #channels = new Map<string, Set<Subscription>>();
  readonly #now: () => number;
  readonly #onError: (error: unknown) => void;
  readonly #sweeper: NodeJS.Timeout;
  #closed = false;

  constructor(options: MemoryKeyValueStoreOptions) {
    this.#now = options.now ?? Date.now;
    this.#onError =
      options.onError ??
      ((error) =>
        process.emitWarning(`subscription handler failed: ${String(error)}`, 'KeyValueStoreWarning'));
    // Lazy expiry alone would keep entries that are written once and never read again (fixed
    // window counters of idle keys) forever; unref'd so it never holds the process open.
    this.#sweeper = setInterval(() => this.#sweep(), options.sweepIntervalMs ?? 30_000);
    this.#sweeper.unref();
  }

  async get(key: string): Promise<string | undefined> {
    this.#assertOpen();
    return this.#live(key)?.value;
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    this.#assertOpen();
    if (ttlMs !== undefined) assertPositiveTtl(ttlMs);
    this.#entries.set(key, { value, expiresAt: ttlMs === undefined ? undefined : this.#now() + ttlMs });
  }

  async delete(...keys: string[]): Promise<number> {
    this.#assertOpen();
    let deleted = 0;
    // A key repeated in the arguments counts once, as with Redis DEL.
    for (const key of new Set(keys)) {
      if (this.#live(key) !== undefined) {
        this.#entries.delete(key);
        deleted += 1;
      }
    }
    return deleted;
  }

  async increment(key: string, by: number, ttlMs: number): Promise<number> {
    this.#assertOpen();
    if (!Number.isSafeInteger(by)) throw new RangeError('increment: `by` must be a safe integer');
    assertPositiveTtl(ttlMs);
    const entry = this.#live(key);
    const current = entry === undefined ? 0 : Number(entry.value);
    if (entry !== undefined && !/^-?\d+$/.test(entry.value)) {
      throw new Error('ERR value is not an integer or out of range');
    }
    const next = current + by;
    // Like PEXPIRE NX: a TTL is only given to a key that has none, so a fixed window keeps the
    // deadline it got when its counter was created.
    const expiresAt = entry?.expiresAt ?? this.#now() + ttlMs;
    this.#entries.set(key, { value: String(next), expiresAt });
    return next;
  }

  async ttl(key: string): Promise<number | undefined> {
    this.#assertOpen();
    const entry = this.#live(key);
    if (entry?.expiresAt === undefined) return undefined;
    return Math.max(0, entry.expiresAt - this.#now());
  }

  async publish(channel: string, message: string): Promise<void> {
    this.#assertOpen();
    const subscriptions = this.#channels.get(channel);
    if (subscriptions === undefined) return;
    // Receivers are fixed at publish time and called later, never inside `publish`, as with
    // Redis: a handler that publishes cannot recurse, and callers cannot rely on ordering.
    for (const subscription of [...subscriptions]) {
      setImmediate(() => {
        if (!subscription.active) return;
        try {
          subscription.handler(message);
        } catch (error) {
          this.#onError(error);
        }
      });
    }
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<() => Promise<void>> {
    this.#assertOpen();
    const subscription: Subscription = { handler, active: true };
    let subscriptions = this.#channels.get(channel);
    if (subscriptions === undefined) {
      subscriptions = new Set();
      this.#channels.set(channel, subscriptions);
    }
    subscriptions.add(subscription);
    return async () => {
      subscription.active = false;
      const current = this.#channels.get(channel);
      current?.delete(subscription);
      if (current?.size === 0) this.#channels.delete(channel);
    };
  }

  async ping(): Promise<void> {
    this.#assertOpen();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweeper);
    for (const subscriptions of this.#channels.values()) {
      for (const subscription of subscriptions) subscription.active = false;
    }
    this.#channels.clear();
    this.#entries.clear();
  }

  #live(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #sweep(): void {
    const now = this.#now();
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) this.#entries.delete(key);
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('the key-value store is closed');
  }
}

function assertPositiveTtl(ttlMs: number): void {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0)
    throw new RangeError('ttlMs must be a positive number of milliseconds');
}
