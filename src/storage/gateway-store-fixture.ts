/**
 * The configuration the GatewayStore contract syncs: every section, a revoked key, a key read
 * from an environment variable and a `*` grant, built through the real loader.
 */
import { hashApiKey, parseConfig, type RuntimeConfig } from '../config/load.ts';
import type { Database } from './database.ts';

export const acmeHash = hashApiKey('sk-acme-secret');
export const retiredHash = hashApiKey('sk-retired');
export const globexSecret = 'sk-globex';

/** A configuration exercising every synced section; `dropAcmeKey` removes one config key. */
export function fixture(options: { dropAcmeKey?: boolean; env?: NodeJS.ProcessEnv } = {}): RuntimeConfig {
  const acmeKey = `
  - id: acme-key
    organization: acme
    team: platform
    user: alice
    secret_sha256: ${acmeHash}
    expires_at: "2030-01-01T00:00:00.250Z"
    models: [echo, gpt, echo]`;
  const yaml = `
organizations:
  - { id: acme, name: Acme }
  - { id: globex }
teams:
  - { id: platform, organization: acme, name: Platform }
users:
  - { id: alice, organization: acme, team: platform, email: alice@example.com }
providers:
  - { name: mock, type: openai, base_url: builtin-mock }
  - name: openai
    type: openai
    base_url: https://api.openai.com/v1/
    api_key_env: OPENAI_API_KEY
    headers: { x-team: platform }
models:
  - { name: echo, provider: mock, upstream_model: mock-gpt, pricing: { input: 0.15, output: 0.6 } }
  - { name: gpt, provider: openai, upstream_model: gpt-4o-mini, timeout_ms: 5000, pricing: { input: "98765432.123456789" } }
api_keys:${options.dropAcmeKey ? '' : acmeKey}
  - { id: retired-key, organization: acme, secret_sha256: ${retiredHash}, revoked: true, models: [echo] }
  - { id: globex-key, organization: globex, secret_env: GLOBEX_SECRET, models: ["*"] }
`;
  return parseConfig(yaml, 'test', options.env ?? { GLOBEX_SECRET: globexSecret });
}

const tableOrder = {
  schema_migrations: 'version',
  organizations: 'id',
  teams: 'id',
  users: 'id',
  providers: 'name',
  models: 'name',
  api_keys: 'id',
  api_key_models: 'api_key_id, model_name',
} as const;

/** Every table's rows in a stable order, to compare whole database states. */
export async function snapshot(database: Database): Promise<Record<string, unknown[]>> {
  const tables: Record<string, unknown[]> = {};
  for (const [table, order] of Object.entries(tableOrder)) {
    tables[table] = await database.query(`SELECT * FROM ${table} ORDER BY ${order}`);
  }
  return tables;
}
