/**
 * Authenticates the virtual API key of a request. Keys arrive as `Authorization: Bearer`
 * (OpenAI SDK), `x-api-key` (Anthropic SDK) or `x-goog-api-key` (Gemini clients); only their
 * SHA-256 is looked up, compared in constant time by the store, and cached in process so the
 * hot path does not touch the database. Unknown keys are cached negatively for a shorter time.
 *
 * The cache never serves an entry older than its TTL, counted from when its look-up started,
 * so a revocation takes effect within the TTL. Within that bound it keeps the database off the
 * request path:
 * - concurrent misses for one key share one look-up (a cold or expired key under load makes
 *   one query, not one per waiting request);
 * - a known key is looked up again in the background once three quarters of its TTL have
 *   passed, if a request used it since its last look-up: by the first request in that last
 *   quarter, or else by a timer that sweeps the cache every tenth of the TTL. So a key used at
 *   least once per TTL never expires on a request's path, whatever the interval between its
 *   requests (on a request alone, a key used every 2.5-3.75 s with the default 5 s would miss on
 *   every other request). The sweep also drops expired entries. A failed refresh leaves the
 *   entry to expire as usual; the next request then looks it up itself and reports the failure.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { hashApiKey } from '../config/load.ts';
import { GatewayError } from '../errors.ts';
import { spanAttributes, spanNames } from '../observability/catalog.ts';
import { type MetricsRecorder, noopMetrics } from '../observability/metrics.ts';
import { inSpan, recordsChildren, type Span, startChildSpan } from '../observability/spans.ts';
import type { GatewayStore, StoredApiKey } from '../storage/gateway-store.ts';
import type { Principal } from './request-context.ts';

const maximumCacheEntries = 10_000;
/** A known key is refreshed in the background once this share of its TTL has passed. */
const refreshAfterShare = 0.75;
/** The sweep that refreshes used keys no request came back for runs this often, in TTLs. */
const sweepShare = 0.1;

interface CacheEntry {
  readonly key: StoredApiKey | undefined;
  /** Built once per look-up: every request of the key shares it (it is read-only). */
  readonly principal: Principal | undefined;
  readonly expiresAt: number;
  /** When a hit starts a background refresh; Infinity for unknown keys (never refreshed). */
  readonly refreshAt: number;
  /** A request got the entry (from the cache or its look-up): the sweep refreshes it ahead. */
  used: boolean;
}

export interface AuthenticatorOptions {
  store: GatewayStore;
  cacheTtlMs: number;
  metrics?: MetricsRecorder;
  now?: () => number;
  /**
   * How often the sweep runs (`refreshDue`); a tenth of the TTL by default, 0 for none (the
   * tests call `refreshDue` themselves). The timer does not keep the process alive.
   */
  sweepIntervalMs?: number;
}

export class Authenticator {
  readonly #store: GatewayStore;
  readonly #cacheTtlMs: number;
  readonly #negativeTtlMs: number;
  readonly #now: () => number;
  readonly #metrics: MetricsRecorder;
  readonly #cache = new Map<string, CacheEntry>();
  /** Look-ups under way, by key hash: misses and refreshes of one key share one. */
  readonly #pending = new Map<string, Promise<CacheEntry>>();
  /** Bumped by `invalidate()`: a look-up started before it does not fill the cache. */
  #generation = 0;
  readonly #sweep: NodeJS.Timeout | undefined;

  constructor(options: AuthenticatorOptions) {
    this.#store = options.store;
    this.#cacheTtlMs = options.cacheTtlMs;
    this.#negativeTtlMs = Math.min(options.cacheTtlMs, 1_000);
    this.#now = options.now ?? Date.now;
    this.#metrics = options.metrics ?? noopMetrics;
    const sweepIntervalMs = options.sweepIntervalMs ?? options.cacheTtlMs * sweepShare;
    if (options.cacheTtlMs > 0 && sweepIntervalMs > 0) {
      this.#sweep = setInterval(() => this.refreshDue(), sweepIntervalMs);
      this.#sweep.unref();
    }
  }

  /**
   * The sweep: starts a background refresh of every known key used since its look-up whose
   * entry is past its refresh time, and drops expired entries. Returns how many refreshes it
   * started.
   */
  refreshDue(): number {
    const now = this.#now();
    let started = 0;
    for (const [keyHash, entry] of this.#cache) {
      if (entry.expiresAt <= now) this.#cache.delete(keyHash);
      else if (entry.used && this.#refreshIfDue(keyHash, entry, now)) started += 1;
    }
    return started;
  }

  /** How many keys the cache holds, known and unknown, expired or not. */
  get cachedKeys(): number {
    return this.#cache.size;
  }

  /** Stops the sweep (the cache keeps answering until its entries expire). */
  close(): void {
    clearInterval(this.#sweep);
  }

  /**
   * Resolves the caller; `parent` is the request's root span (the `gateway.auth` span opens under
   * it). A key answered from the cache is answered synchronously, as are its refusals (thrown):
   * most requests then make no promise and wait for no microtask here. Only a recorded trace gets
   * the `gateway.auth` span, and with it the asynchronous path.
   */
  authenticate(headers: IncomingHttpHeaders, parent?: Span): Principal | Promise<Principal> {
    if (parent === undefined || recordsChildren(parent))
      return inSpan(parent, spanNames.auth, (span) => this.#authenticate(headers, span));
    return this.#authenticate(headers, parent);
  }

  #authenticate(headers: IncomingHttpHeaders, span: Span): Principal | Promise<Principal> {
    const secret = presentedSecret(headers);
    if (secret === undefined) throw new GatewayError('unauthorized', 'Missing API key.');
    const found = this.#lookup(hashApiKey(secret), span);
    return found instanceof Promise ? found.then((entry) => this.#admit(entry)) : this.#admit(found);
  }

  #admit(entry: CacheEntry): Principal {
    // Every request that gets an entry, from the cache or by waiting on its look-up, uses it.
    entry.used = true;
    const { key, principal } = entry;
    if (key === undefined || principal === undefined)
      throw new GatewayError('unauthorized', 'Invalid API key.');
    const now = this.#now();
    if (key.revokedAt !== null && key.revokedAt.getTime() <= now) throw new GatewayError('api_key_revoked');
    if (key.expiresAt !== null && key.expiresAt.getTime() <= now) throw new GatewayError('api_key_expired');
    return principal;
  }

  /** Drops cached look-ups (the cache invalidation endpoint of a later issue calls this). */
  invalidate(): void {
    this.#generation += 1;
    this.#cache.clear();
    this.#pending.clear();
  }

  #lookup(keyHash: string, parent: Span): CacheEntry | Promise<CacheEntry> {
    const now = this.#now();
    const cached = this.#cache.get(keyHash);
    const hit = cached !== undefined && cached.expiresAt > now;
    this.#metrics.increment('cacheLookupsTotal', { cache: 'auth', cache_hit: hit ? 'true' : 'false' });
    startChildSpan(parent, spanNames.cacheLookup, () => ({
      [spanAttributes.module]: 'auth',
      [spanAttributes.cacheHit]: hit,
    })).end();
    if (hit) {
      this.#refreshIfDue(keyHash, cached, now);
      return cached;
    }
    // With no cache every request reads the database itself, as the TTL of 0 promises.
    const pending = this.#cacheTtlMs > 0 ? this.#pending.get(keyHash) : undefined;
    if (pending !== undefined) return pending;
    return inSpan(parent, spanNames.storagePostgres, () => this.#load(keyHash, now), {
      [spanAttributes.module]: 'auth',
    });
  }

  /**
   * Starts a background refresh of a key past its refresh time with none under way; true when
   * it did. The entry answers meanwhile; a failure only means it expires as it would have.
   */
  #refreshIfDue(keyHash: string, entry: CacheEntry, now: number): boolean {
    if (now < entry.refreshAt || this.#pending.has(keyHash)) return false;
    this.#load(keyHash, now).catch(() => {});
    return true;
  }

  /** Reads the key from the store and caches it; `startedAt` is when the look-up began. */
  #load(keyHash: string, startedAt: number): Promise<CacheEntry> {
    const generation = this.#generation;
    const loading = this.#store.findApiKeyByHash(keyHash).then(
      (key) => {
        const entry = this.#entry(key, startedAt);
        if (this.#cacheTtlMs > 0 && generation === this.#generation) this.#remember(keyHash, entry);
        return entry;
      },
      (error: unknown) => {
        throw new GatewayError('auth_unavailable', undefined, { cause: error });
      },
    );
    if (this.#cacheTtlMs > 0) {
      this.#pending.set(keyHash, loading);
      const settled = () => {
        if (this.#pending.get(keyHash) === loading) this.#pending.delete(keyHash);
      };
      loading.then(settled, settled);
    }
    return loading;
  }

  #entry(key: StoredApiKey | undefined, startedAt: number): CacheEntry {
    if (key === undefined)
      return {
        key,
        principal: undefined,
        expiresAt: startedAt + this.#negativeTtlMs,
        refreshAt: Infinity,
        used: false,
      };
    return {
      key,
      principal: {
        apiKeyId: key.id,
        organizationId: key.organizationId,
        teamId: key.teamId,
        userId: key.userId,
        models: new Set(key.models),
      },
      expiresAt: startedAt + this.#cacheTtlMs,
      refreshAt: startedAt + this.#cacheTtlMs * refreshAfterShare,
      used: false,
    };
  }

  #remember(keyHash: string, entry: CacheEntry): void {
    // Map order is insertion order: re-inserting keeps a refreshed key away from eviction.
    this.#cache.delete(keyHash);
    if (this.#cache.size >= maximumCacheEntries) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(keyHash, entry);
  }
}

function presentedSecret(headers: IncomingHttpHeaders): string | undefined {
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    // RFC 6750 section 2.1: the scheme is case-insensitive.
    const match = /^bearer\s+(\S+)\s*$/i.exec(authorization);
    return match?.[1];
  }
  const apiKey = headers['x-api-key'] ?? headers['x-goog-api-key'];
  return typeof apiKey === 'string' && apiKey.length > 0 ? apiKey : undefined;
}

export function modelGranted(principal: Principal, modelName: string): boolean {
  return principal.models.has('*') || principal.models.has(modelName);
}
