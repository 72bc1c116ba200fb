/**
 * Authenticates the virtual API key of a request. Keys arrive as `Authorization: Bearer`
 * (OpenAI SDK), `x-api-key` (Anthropic SDK) or `x-goog-api-key` (Gemini clients); only their
 * SHA-256 is looked up, compared in constant time by the store, and cached in process so the
 * hot path does not touch the database. Unknown keys are cached negatively for a shorter time.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { hashApiKey } from '../config/load.ts';
import { GatewayError } from '../errors.ts';
import { spanAttributes, spanNames } from '../observability/catalog.ts';
import { type MetricsRecorder, noopMetrics } from '../observability/metrics.ts';
import { inSpan, type Span, startChildSpan } from '../observability/spans.ts';
import type { GatewayStore, StoredApiKey } from '../storage/gateway-store.ts';
import type { Principal } from './request-context.ts';

const maximumCacheEntries = 10_000;

interface CacheEntry {
  key: StoredApiKey | undefined;
  expiresAt: number;
}

export interface AuthenticatorOptions {
  store: GatewayStore;
  cacheTtlMs: number;
  metrics?: MetricsRecorder;
  now?: () => number;
}

export class Authenticator {
  readonly #store: GatewayStore;
  readonly #cacheTtlMs: number;
  readonly #negativeTtlMs: number;
  readonly #now: () => number;
  readonly #metrics: MetricsRecorder;
  readonly #cache = new Map<string, CacheEntry>();

  constructor(options: AuthenticatorOptions) {
    this.#store = options.store;
    this.#cacheTtlMs = options.cacheTtlMs;
    this.#negativeTtlMs = Math.min(options.cacheTtlMs, 1_000);
    this.#now = options.now ?? Date.now;
    this.#metrics = options.metrics ?? noopMetrics;
  }

  /** Resolves the caller; `parent` is the request's root span (the `gateway.auth` span opens under it). */
  authenticate(headers: IncomingHttpHeaders, parent?: Span): Promise<Principal> {
    return inSpan(parent, spanNames.auth, (span) => this.#authenticate(headers, span));
  }

  async #authenticate(headers: IncomingHttpHeaders, span: Span): Promise<Principal> {
    const secret = presentedSecret(headers);
    if (secret === undefined) throw new GatewayError('unauthorized', 'Missing API key.');
    const keyHash = hashApiKey(secret);
    const key = await this.#lookup(keyHash, span);
    if (key === undefined) throw new GatewayError('unauthorized', 'Invalid API key.');
    const now = this.#now();
    if (key.revokedAt !== null && key.revokedAt.getTime() <= now) throw new GatewayError('api_key_revoked');
    if (key.expiresAt !== null && key.expiresAt.getTime() <= now) throw new GatewayError('api_key_expired');
    return {
      apiKeyId: key.id,
      organizationId: key.organizationId,
      teamId: key.teamId,
      userId: key.userId,
      models: new Set(key.models),
    };
  }

  /** Drops cached look-ups (the cache invalidation endpoint of a later issue calls this). */
  invalidate(): void {
    this.#cache.clear();
  }

  async #lookup(keyHash: string, parent: Span): Promise<StoredApiKey | undefined> {
    const now = this.#now();
    const cached = this.#cache.get(keyHash);
    const hit = cached !== undefined && cached.expiresAt > now;
    this.#metrics.increment('cacheLookupsTotal', { cache: 'auth', cache_hit: hit ? 'true' : 'false' });
    startChildSpan(parent, spanNames.cacheLookup, () => ({
      [spanAttributes.module]: 'auth',
      [spanAttributes.cacheHit]: hit,
    })).end();
    if (hit) return cached.key;
    let key: StoredApiKey | undefined;
    try {
      key = await inSpan(
        parent,
        spanNames.storagePostgres,
        () => this.#store.findApiKeyByHash(keyHash),
        () => ({
          [spanAttributes.module]: 'auth',
        }),
      );
    } catch (error) {
      throw new GatewayError('auth_unavailable', undefined, { cause: error });
    }
    if (this.#cacheTtlMs > 0) {
      if (this.#cache.size >= maximumCacheEntries) this.#cache.delete(this.#cache.keys().next().value!);
      this.#cache.set(keyHash, {
        key,
        expiresAt: now + (key === undefined ? this.#negativeTtlMs : this.#cacheTtlMs),
      });
    }
    return key;
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
