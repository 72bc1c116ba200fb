/**
 * The GatewayStore over the Database port: one implementation, so PGlite and Postgres behave
 * identically and share one contract suite.
 */
import { timingSafeEqual } from 'node:crypto';
import type { RuntimeConfig } from '../config/load.ts';
import type { Database, Queryable } from './database.ts';
import type { GatewayStore, NewApiKey, StoredApiKey, SyncReport } from './gateway-store.ts';
import { migrate } from './migrate.ts';

export const gatewayStoreErrorReasons = {
  invalidKeyHash: 'invalid_key_hash',
  duplicateApiKey: 'duplicate_api_key',
  unknownReference: 'unknown_reference',
  configKeyClashesWithCliKey: 'config_key_clashes_with_cli_key',
} as const;

export type GatewayStoreErrorReason =
  (typeof gatewayStoreErrorReasons)[keyof typeof gatewayStoreErrorReasons];

/** A write the store refuses; `message` is meant for an operator (CLI output, start-up log). */
export class GatewayStoreError extends Error {
  readonly reason: GatewayStoreErrorReason;
  constructor(reason: GatewayStoreErrorReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GatewayStoreError';
    this.reason = reason;
  }
}

interface ApiKeyRow {
  id: string;
  organization_id: string;
  team_id: string | null;
  user_id: string | null;
  key_hash: string;
  expires_at: Date | null;
  revoked_at: Date | null;
  source: 'config' | 'cli';
  models: string[];
}

const selectApiKeys = `
  SELECT k.id, k.organization_id, k.team_id, k.user_id, k.key_hash, k.expires_at, k.revoked_at, k.source,
    ARRAY(SELECT g.model_name FROM api_key_models g WHERE g.api_key_id = k.id ORDER BY g.model_name) AS models
  FROM api_keys k`;

const keyHashPattern = /^[0-9a-f]{64}$/;
/** Length of the indexed hash prefix (`api_keys.key_lookup`, 64 bits). */
const keyLookupLength = 16;

export function createSqlGatewayStore(database: Database): GatewayStore {
  return {
    migrate: () => migrate(database),
    syncConfig: (config) => database.transaction((transaction) => syncConfig(transaction, config)),

    async findApiKeyByHash(keyHash) {
      const normalized = keyHash.toLowerCase();
      if (!keyHashPattern.test(normalized)) return undefined;
      const rows = await database.query<ApiKeyRow>(`${selectApiKeys} WHERE k.key_lookup = $1`, [
        normalized.slice(0, keyLookupLength),
      ]);
      const presented = Buffer.from(normalized, 'hex');
      let match: ApiKeyRow | undefined;
      // Every candidate is compared (no early exit) and in constant time, so timing tells an
      // attacker nothing beyond "the 64-bit prefix exists", which they cannot target anyway.
      for (const row of rows) {
        if (timingSafeEqual(Buffer.from(row.key_hash, 'hex'), presented)) match = row;
      }
      return match === undefined ? undefined : toStoredApiKey(match);
    },

    async createApiKey(key) {
      assertKeyHash(key.keyHash);
      try {
        return await database.transaction(async (transaction) => {
          await transaction.query(
            `INSERT INTO api_keys (id, organization_id, team_id, user_id, key_hash, source, expires_at)
             VALUES ($1, $2, $3, $4, $5, 'cli', $6)`,
            [
              key.id,
              key.organizationId,
              key.teamId ?? null,
              key.userId ?? null,
              key.keyHash,
              key.expiresAt ?? null,
            ],
          );
          await replaceGrants(transaction, key.id, key.models);
          const [row] = await transaction.query<ApiKeyRow>(`${selectApiKeys} WHERE k.id = $1`, [key.id]);
          return toStoredApiKey(row!);
        });
      } catch (error) {
        throw describeWriteError(error, key);
      }
    },

    async revokeApiKey(id, at = new Date()) {
      // Only an active key is updated: revoking again keeps the first time (the audit trail
      // keeps when the key actually stopped working) and resolves false, "no active key".
      const rows = await database.query(
        'UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING id',
        [id, at],
      );
      return rows.length > 0;
    },

    async listApiKeys(organizationId) {
      const rows =
        organizationId === undefined
          ? await database.query<ApiKeyRow>(`${selectApiKeys} ORDER BY k.id`)
          : await database.query<ApiKeyRow>(`${selectApiKeys} WHERE k.organization_id = $1 ORDER BY k.id`, [
              organizationId,
            ]);
      return rows.map(toStoredApiKey);
    },

    ping: () => database.ping(),
    close: () => database.close(),
  };
}

async function syncConfig(transaction: Queryable, config: RuntimeConfig): Promise<SyncReport> {
  // Replicas starting together would otherwise interleave the delete-then-insert of grants
  // and fail on each other's rows; the lock makes concurrent syncs run one after another.
  await transaction.query(
    `SELECT pg_advisory_xact_lock(hashtext('odock-server.sync-config:' || coalesce(current_schema(), '')))`,
  );
  const { document } = config;
  // Every upsert skips rows that already hold the values (IS DISTINCT FROM), so a second sync
  // leaves updated_at and the rows themselves untouched.
  for (const organization of document.organizations) {
    await transaction.query(
      `INSERT INTO organizations (id, name, source) VALUES ($1, $2, 'config')
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, source = excluded.source, updated_at = now()
       WHERE (organizations.name, organizations.source) IS DISTINCT FROM (excluded.name, excluded.source)`,
      [organization.id, organization.name ?? null],
    );
  }
  for (const team of document.teams) {
    await transaction.query(
      `INSERT INTO teams (id, organization_id, name) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET organization_id = excluded.organization_id, name = excluded.name, updated_at = now()
       WHERE (teams.organization_id, teams.name) IS DISTINCT FROM (excluded.organization_id, excluded.name)`,
      [team.id, team.organization, team.name ?? null],
    );
  }
  for (const user of document.users) {
    await transaction.query(
      `INSERT INTO users (id, organization_id, team_id, email) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET organization_id = excluded.organization_id, team_id = excluded.team_id,
         email = excluded.email, updated_at = now()
       WHERE (users.organization_id, users.team_id, users.email)
         IS DISTINCT FROM (excluded.organization_id, excluded.team_id, excluded.email)`,
      [user.id, user.organization, user.team ?? null, user.email ?? null],
    );
  }
  for (const provider of config.providers.values()) {
    await transaction.query(
      `INSERT INTO providers (name, type, base_url, api_key_env, enabled, headers) VALUES ($1, $2, $3, $4, $5, $6::jsonb)
       ON CONFLICT (name) DO UPDATE SET type = excluded.type, base_url = excluded.base_url,
         api_key_env = excluded.api_key_env, enabled = excluded.enabled, headers = excluded.headers, updated_at = now()
       WHERE (providers.type, providers.base_url, providers.api_key_env, providers.enabled, providers.headers)
         IS DISTINCT FROM (excluded.type, excluded.base_url, excluded.api_key_env, excluded.enabled, excluded.headers)`,
      [
        provider.name,
        provider.type,
        provider.baseUrl,
        provider.apiKeyEnv ?? null,
        provider.enabled,
        JSON.stringify(provider.headers),
      ],
    );
  }
  for (const model of config.models.values()) {
    const pricing = Object.fromEntries(
      Object.entries(model.pricing).map(([tokenClass, nanos]) => [tokenClass, String(nanos)]),
    );
    await transaction.query(
      `INSERT INTO models (name, provider_name, upstream_model, type, timeout_ms, pricing) VALUES ($1, $2, $3, $4, $5, $6::jsonb)
       ON CONFLICT (name) DO UPDATE SET provider_name = excluded.provider_name, upstream_model = excluded.upstream_model,
         type = excluded.type, timeout_ms = excluded.timeout_ms, pricing = excluded.pricing, updated_at = now()
       WHERE (models.provider_name, models.upstream_model, models.type, models.timeout_ms, models.pricing)
         IS DISTINCT FROM (excluded.provider_name, excluded.upstream_model, excluded.type, excluded.timeout_ms, excluded.pricing)`,
      [
        model.name,
        model.provider.name,
        model.upstreamModel,
        model.type,
        model.timeoutMs,
        JSON.stringify(pricing),
      ],
    );
  }
  // Providers and models are a pure mirror of the file (no key or grant references them by
  // foreign key), so the ones the file dropped go. Organisations, teams and users stay: keys,
  // revoked ones included, keep referring to them.
  await transaction.query('DELETE FROM models WHERE NOT (name = ANY($1::text[]))', [
    [...config.models.keys()],
  ]);
  await transaction.query('DELETE FROM providers WHERE NOT (name = ANY($1::text[]))', [
    [...config.providers.keys()],
  ]);

  const apiKeyIds = config.apiKeys.map((key) => key.id);
  const clashes = await transaction.query<{ id: string }>(
    `SELECT id FROM api_keys WHERE source = 'cli' AND id = ANY($1::text[]) ORDER BY id`,
    [apiKeyIds],
  );
  if (clashes.length > 0) {
    const ids = clashes.map((row) => `"${row.id}"`).join(', ');
    throw new GatewayStoreError(
      gatewayStoreErrorReasons.configKeyClashesWithCliKey,
      `configuration api_keys ${ids} use the id of a key created with the CLI; rename them in the file`,
    );
  }
  let apiKeys = 0;
  for (const key of config.apiKeys) {
    // No hash means `secret_env` names an unset variable on this replica: leave the row as it
    // is rather than guess (it may be set on the replica that synced it).
    if (key.keyHash === undefined) continue;
    await transaction.query(
      `INSERT INTO api_keys (id, organization_id, team_id, user_id, key_hash, source, expires_at, revoked_at)
       VALUES ($1, $2, $3, $4, $5, 'config', $6, CASE WHEN $7::boolean THEN now() END)
       ON CONFLICT (id) DO UPDATE SET organization_id = excluded.organization_id, team_id = excluded.team_id,
         user_id = excluded.user_id, key_hash = excluded.key_hash, expires_at = excluded.expires_at,
         revoked_at = COALESCE(api_keys.revoked_at, excluded.revoked_at)`,
      [key.id, key.organizationId, key.teamId, key.userId, key.keyHash, key.expiresAt, key.revoked],
    );
    await replaceGrants(transaction, key.id, key.models);
    apiKeys += 1;
  }
  // Revocation is one-way: a key that left the file (or was revoked) stays revoked even if it
  // comes back with `revoked: false`, because a secret once withdrawn is treated as burned.
  // Rows are never deleted, so usage records keep a key to point at.
  await transaction.query(
    `UPDATE api_keys SET revoked_at = now()
     WHERE source = 'config' AND revoked_at IS NULL AND NOT (id = ANY($1::text[]))`,
    [apiKeyIds],
  );
  return {
    organizations: document.organizations.length,
    teams: document.teams.length,
    users: document.users.length,
    providers: config.providers.size,
    models: config.models.size,
    apiKeys,
  };
}

async function replaceGrants(
  transaction: Queryable,
  apiKeyId: string,
  models: readonly string[],
): Promise<void> {
  await transaction.query('DELETE FROM api_key_models WHERE api_key_id = $1', [apiKeyId]);
  const unique = [...new Set(models)];
  if (unique.length === 0) return;
  await transaction.query(
    'INSERT INTO api_key_models (api_key_id, model_name) SELECT $1::text, unnest($2::text[])',
    [apiKeyId, unique],
  );
}

function assertKeyHash(keyHash: string): void {
  if (!keyHashPattern.test(keyHash)) {
    // Refusing early also keeps a plaintext key passed by mistake out of the database log.
    throw new GatewayStoreError(
      gatewayStoreErrorReasons.invalidKeyHash,
      'keyHash must be a lowercase hex SHA-256',
    );
  }
}

function describeWriteError(error: unknown, key: NewApiKey): unknown {
  const code = (error as { code?: unknown }).code;
  if (code === '23505') {
    return new GatewayStoreError(
      gatewayStoreErrorReasons.duplicateApiKey,
      `an API key with id "${key.id}" or the same secret already exists`,
      { cause: error },
    );
  }
  if (code === '23503') {
    return new GatewayStoreError(
      gatewayStoreErrorReasons.unknownReference,
      `API key "${key.id}" refers to an unknown organization, team or user`,
      { cause: error },
    );
  }
  return error;
}

function toStoredApiKey(row: ApiKeyRow): StoredApiKey {
  return {
    id: row.id,
    organizationId: row.organization_id,
    teamId: row.team_id,
    userId: row.user_id,
    keyHash: row.key_hash,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    models: row.models,
    source: row.source,
  };
}
