/**
 * The gateway's own state in the database: the configuration synced from YAML and the
 * virtual API keys. Implemented once over the `Database` port (`sql-gateway-store.ts`), so
 * PGlite and Postgres run the same code and the same contract tests.
 */
import type { RuntimeConfig } from '../config/load.ts';

export interface StoredApiKey {
  readonly id: string;
  readonly organizationId: string;
  readonly teamId: string | null;
  readonly userId: string | null;
  readonly keyHash: string;
  readonly expiresAt: Date | null;
  readonly revokedAt: Date | null;
  /** Granted gateway model names; `['*']` grants every configured model. */
  readonly models: readonly string[];
  /** `config` for keys declared in the YAML file, `cli` for keys minted by `keys create`. */
  readonly source: 'config' | 'cli';
}

export interface NewApiKey {
  id: string;
  organizationId: string;
  teamId?: string | null;
  userId?: string | null;
  keyHash: string;
  expiresAt?: Date | null;
  models: readonly string[];
}

export interface SyncReport {
  organizations: number;
  teams: number;
  users: number;
  providers: number;
  models: number;
  apiKeys: number;
}

export interface GatewayStore {
  /** Applies pending migrations; safe to run concurrently from several replicas. */
  migrate(): Promise<string[]>;
  /**
   * Upserts the configuration (organisations, teams, users, providers, models, config keys and
   * grants). Idempotent: a second run with the same config changes nothing. Config keys that
   * disappeared from the file are revoked, never deleted (usage records keep pointing at them).
   */
  syncConfig(config: RuntimeConfig): Promise<SyncReport>;
  /**
   * Finds a key by the SHA-256 of the presented secret. The row is located by an indexed
   * prefix of the hash and confirmed with a constant-time comparison of the full hash.
   */
  findApiKeyByHash(keyHash: string): Promise<StoredApiKey | undefined>;
  createApiKey(key: NewApiKey): Promise<StoredApiKey>;
  revokeApiKey(id: string, at?: Date): Promise<boolean>;
  listApiKeys(organizationId?: string): Promise<StoredApiKey[]>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
