/**
 * Picks the KeyValueStore from the environment: Redis when REDIS_URL is set (state shared by
 * every replica), otherwise process memory (correct for exactly one replica).
 */
import type { KeyValueStore } from './key-value-store.ts';
import { createMemoryKeyValueStore } from './memory-key-value-store.ts';
import { createRedisKeyValueStore } from './redis-key-value-store.ts';

export interface OpenKeyValueStoreOptions {
  /** REDIS_URL; empty or undefined selects the in-memory store. */
  redisUrl?: string;
  /** Redis only: prefix of every key and channel. Memory needs none, it is private to the process. */
  keyPrefix?: string;
}

export function openKeyValueStore(options: OpenKeyValueStoreOptions = {}): KeyValueStore {
  if (!options.redisUrl) return createMemoryKeyValueStore();
  return createRedisKeyValueStore({
    url: options.redisUrl,
    ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }),
  });
}
