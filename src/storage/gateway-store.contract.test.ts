/**
 * One contract for the GatewayStore and the Database port, run against PGlite and a real
 * PostgreSQL: whatever passes here behaves the same on both adapters.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { hashApiKey, parseConfig } from '../config/load.ts';
import { DataDirectoryLockedError } from './data-directory-lock.ts';
import type { Database } from './database.ts';
import type { GatewayStore } from './gateway-store.ts';
import { acmeHash, fixture, globexSecret, retiredHash, snapshot } from './gateway-store-fixture.ts';
import { migrate, readMigrations } from './migrate.ts';
import { openDatabase } from './open-database.ts';
import { openPostgresDatabase } from './postgres-database.ts';
import { createSqlGatewayStore, GatewayStoreError } from './sql-gateway-store.ts';
import {
  type DatabaseHarness,
  pgliteHarness,
  postgresHarness,
  postgresTestUrl,
  randomSchemaName,
} from './test-databases.ts';

type StoreWork = (context: { database: Database; store: GatewayStore }) => Promise<void>;

/** Every migration version shipped, in order (a fresh database gets all of them). */
const shippedVersions = (await readMigrations()).map((migration) => migration.version);

function defineContract(harness: DatabaseHarness): void {
  /** A migrated store on an empty schema, closed after `work`. */
  const withStore = (work: StoreWork) => async () => {
    const database = await harness.open();
    const store = createSqlGatewayStore(database);
    try {
      await store.migrate();
      await work({ database, store });
    } finally {
      await store.close();
    }
  };

  describe(`GatewayStore contract on ${harness.name}`, () => {
    after(() => harness.cleanup());

    it('applies each migration once and records it', async () => {
      const database = await harness.open();
      try {
        assert.deepEqual(await migrate(database), shippedVersions);
        assert.equal(shippedVersions[0], '0001_gateway_core');
        assert.deepEqual(await migrate(database), []);
        const rows = await database.query<{ version: string; applied_at: Date }>(
          'SELECT * FROM schema_migrations',
        );
        assert.equal(rows.length, shippedVersions.length);
        assert.ok(rows[0]!.applied_at instanceof Date);
      } finally {
        await database.close();
      }
    });

    it(
      'returns int8 as bigint, timestamptz as Date and the other types identically',
      withStore(async ({ database }) => {
        const [row] = await database.query(
          `SELECT 9007199254740993::int8 AS big, '{1,2}'::int8[] AS bigs, 7::int4 AS small, 1.50::numeric AS exact,
             '2030-01-01T00:00:00.250Z'::timestamptz AS instant, '2030-01-01 00:00:00.250'::timestamp AS utc,
             '2030-01-02'::date AS day, '{"a":[1]}'::jsonb AS document, ARRAY['x','y'] AS texts, true AS flag,
             NULL::int8 AS missing`,
        );
        assert.deepEqual(row, {
          big: 9007199254740993n,
          bigs: [1n, 2n],
          small: 7,
          exact: '1.50',
          instant: new Date('2030-01-01T00:00:00.250Z'),
          utc: new Date('2030-01-01T00:00:00.250Z'),
          day: '2030-01-02',
          document: { a: [1] },
          texts: ['x', 'y'],
          flag: true,
          missing: null,
        });
        const [parameters] = await database.query('SELECT $1::int8 AS big, $2::timestamptz AS instant', [
          2n ** 62n,
          new Date('2031-05-06T07:08:09.010Z'),
        ]);
        assert.deepEqual(parameters, { big: 2n ** 62n, instant: new Date('2031-05-06T07:08:09.010Z') });
      }),
    );

    it(
      'commits a transaction that resolves and rolls back one that throws',
      withStore(async ({ database }) => {
        const committed = await database.transaction(async (tx) => {
          await tx.query(`INSERT INTO organizations (id) VALUES ('kept')`);
          return 'done';
        });
        assert.equal(committed, 'done');
        await assert.rejects(
          database.transaction(async (tx) => {
            await tx.query(`INSERT INTO organizations (id) VALUES ('dropped')`);
            throw new Error('abort on purpose');
          }),
          /abort on purpose/,
        );
        const rows = await database.query<{ id: string }>('SELECT id FROM organizations ORDER BY id');
        assert.deepEqual(
          rows.map((row) => row.id),
          ['kept'],
        );
      }),
    );

    it(
      'keeps statements outside a transaction out of it',
      withStore(async ({ database }) => {
        let markInserted!: () => void;
        const inserted = new Promise<void>((resolve) => {
          markInserted = resolve;
        });
        let release!: () => void;
        const gate = new Promise<void>((resolve) => {
          release = resolve;
        });
        const transaction = database.transaction(async (tx) => {
          await tx.query(`INSERT INTO organizations (id) VALUES ('inside')`);
          markInserted();
          await gate;
          throw new Error('roll back');
        });
        await inserted;
        // On PGlite's single connection these must wait for the transaction, not join it.
        const outside = (async () => {
          await database.query(`INSERT INTO organizations (id) VALUES ('outside')`);
          return database.query<{ id: string }>('SELECT id FROM organizations ORDER BY id');
        })();
        await new Promise((resolve) => setTimeout(resolve, 50));
        release();
        await assert.rejects(transaction, /roll back/);
        assert.deepEqual(
          (await outside).map((row) => row.id),
          ['outside'],
        );
        const rows = await database.query<{ id: string }>('SELECT id FROM organizations ORDER BY id');
        assert.deepEqual(
          rows.map((row) => row.id),
          ['outside'],
        );
      }),
    );

    it(
      'syncs the configuration idempotently',
      withStore(async ({ database, store }) => {
        const report = await store.syncConfig(fixture());
        assert.deepEqual(report, {
          organizations: 2,
          teams: 1,
          users: 1,
          providers: 2,
          models: 2,
          apiKeys: 3,
        });
        const first = await snapshot(database);
        await store.syncConfig(fixture());
        assert.deepEqual(await snapshot(database), first);

        const [model] = await database.query<{ pricing: unknown; timeout_ms: number }>(
          `SELECT pricing, timeout_ms FROM models WHERE name = 'gpt'`,
        );
        assert.deepEqual(model, { pricing: { input: '98765432123456789' }, timeout_ms: 5000 });
        const [provider] = await database.query(`SELECT * FROM providers WHERE name = 'openai'`);
        assert.equal(provider?.['base_url'], 'https://api.openai.com/v1');
        assert.deepEqual(provider?.['headers'], { 'x-team': 'platform' });
        const keys = await database.query<{ key_hash: string; key_lookup: string }>(
          'SELECT key_hash, key_lookup FROM api_keys',
        );
        for (const key of keys) assert.equal(key.key_lookup, key.key_hash.slice(0, 16));
      }),
    );

    it(
      'revokes a config key removed from the file instead of deleting it, and keeps it revoked',
      withStore(async ({ store }) => {
        await store.syncConfig(fixture());
        await store.syncConfig(fixture({ dropAcmeKey: true }));
        const removed = await store.findApiKeyByHash(acmeHash);
        assert.ok(removed?.revokedAt instanceof Date, 'the removed key is revoked');
        assert.deepEqual(removed.models, ['echo', 'gpt']);
        const revokedAt = removed.revokedAt;
        // Revocation is one-way: the key coming back does not un-revoke it.
        await store.syncConfig(fixture());
        assert.deepEqual((await store.findApiKeyByHash(acmeHash))?.revokedAt, revokedAt);
        assert.equal((await store.findApiKeyByHash(hashApiKey(globexSecret)))?.revokedAt, null);
      }),
    );

    it(
      'sets revoked_at once for a key marked revoked and skips keys without a hash',
      withStore(async ({ store }) => {
        const report = await store.syncConfig(fixture({ env: {} }));
        assert.equal(report.apiKeys, 2);
        assert.equal(await store.findApiKeyByHash(hashApiKey(globexSecret)), undefined);
        const retired = await store.findApiKeyByHash(retiredHash);
        assert.ok(retired?.revokedAt instanceof Date);
        await new Promise((resolve) => setTimeout(resolve, 20));
        await store.syncConfig(fixture());
        assert.deepEqual((await store.findApiKeyByHash(retiredHash))?.revokedAt, retired.revokedAt);
        // Synced once with its variable set, a key is left alone by a replica that lacks it.
        await store.syncConfig(fixture({ env: {} }));
        assert.equal((await store.findApiKeyByHash(hashApiKey(globexSecret)))?.revokedAt, null);
      }),
    );

    it(
      'finds a key by its hash only, with its grants, expiry and revocation',
      withStore(async ({ store }) => {
        await store.syncConfig(fixture());
        assert.deepEqual(await store.findApiKeyByHash(acmeHash), {
          id: 'acme-key',
          organizationId: 'acme',
          teamId: 'platform',
          userId: 'alice',
          keyHash: acmeHash,
          expiresAt: new Date('2030-01-01T00:00:00.250Z'),
          revokedAt: null,
          models: ['echo', 'gpt'],
          source: 'config',
        });
        assert.equal((await store.findApiKeyByHash(acmeHash.toUpperCase()))?.id, 'acme-key');
        assert.deepEqual((await store.findApiKeyByHash(hashApiKey(globexSecret)))?.models, ['*']);
        assert.equal(await store.findApiKeyByHash(hashApiKey('sk-unknown')), undefined);
        const samePrefix = acmeHash.slice(0, 16) + 'f'.repeat(48);
        assert.notEqual(samePrefix, acmeHash);
        assert.equal(await store.findApiKeyByHash(samePrefix), undefined);
        assert.equal(await store.findApiKeyByHash('sk-acme-secret'), undefined);
      }),
    );

    it(
      'creates, lists and revokes CLI keys, which config syncs leave alone',
      withStore(async ({ store }) => {
        await store.syncConfig(fixture());
        const keyHash = hashApiKey('sk-cli');
        const created = await store.createApiKey({
          id: 'cli-key',
          organizationId: 'globex',
          keyHash,
          expiresAt: new Date('2029-02-03T04:05:06.789Z'),
          models: ['gpt', '*', 'gpt'],
        });
        assert.deepEqual(created, {
          id: 'cli-key',
          organizationId: 'globex',
          teamId: null,
          userId: null,
          keyHash,
          expiresAt: new Date('2029-02-03T04:05:06.789Z'),
          revokedAt: null,
          models: ['*', 'gpt'],
          source: 'cli',
        });
        assert.deepEqual(
          (await store.listApiKeys('globex')).map((key) => key.id),
          ['cli-key', 'globex-key'],
        );
        assert.deepEqual(
          (await store.listApiKeys()).map((key) => key.id),
          ['acme-key', 'cli-key', 'globex-key', 'retired-key'],
        );
        await store.syncConfig(fixture());
        assert.deepEqual(await store.findApiKeyByHash(keyHash), created);

        const at = new Date('2026-01-02T03:04:05.678Z');
        assert.equal(await store.revokeApiKey('cli-key', at), true);
        assert.equal(await store.revokeApiKey('cli-key'), false, 'already revoked: no active key');
        assert.deepEqual((await store.findApiKeyByHash(keyHash))?.revokedAt, at);
        assert.equal(await store.revokeApiKey('no-such-key'), false);
      }),
    );

    it(
      'refuses duplicate keys, unknown references, bad hashes and config ids taken by CLI keys',
      withStore(async ({ store }) => {
        await store.syncConfig(fixture());
        const reason = (expected: string) => (error: unknown) =>
          error instanceof GatewayStoreError && error.reason === expected;
        const key = {
          id: 'cli-key',
          organizationId: 'acme',
          keyHash: hashApiKey('sk-cli'),
          models: ['echo'],
        };
        await store.createApiKey(key);
        await assert.rejects(store.createApiKey(key), reason('duplicate_api_key'));
        await assert.rejects(
          store.createApiKey({ ...key, id: 'other', keyHash: acmeHash }),
          reason('duplicate_api_key'),
        );
        await assert.rejects(
          store.createApiKey({ ...key, id: 'other', keyHash: hashApiKey('x'), organizationId: 'nope' }),
          reason('unknown_reference'),
        );
        await assert.rejects(
          store.createApiKey({ ...key, id: 'plain', keyHash: 'sk-plain' }),
          reason('invalid_key_hash'),
        );
        assert.deepEqual(
          (await store.listApiKeys('acme')).map((stored) => stored.id),
          ['acme-key', 'cli-key', 'retired-key'],
        );

        const clash = parseConfig(
          `organizations: [{ id: acme }]\napi_keys: [{ id: cli-key, organization: acme, secret_sha256: ${retiredHash}, models: ["*"] }]`,
          'test',
          {},
        );
        await assert.rejects(store.syncConfig(clash), reason('config_key_clashes_with_cli_key'));
      }),
    );

    it(
      'answers ping',
      withStore(async ({ store }) => {
        await store.ping();
      }),
    );
  });
}

defineContract(pgliteHarness());
defineContract(postgresHarness());

describe('PGlite persistence', () => {
  it('keeps migrations and keys across close and reopen under the data directory', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'odock-pglite-'));
    try {
      const first = createSqlGatewayStore(await openDatabase({ dataDir }));
      assert.deepEqual(await first.migrate(), shippedVersions);
      await first.syncConfig(fixture());
      await assert.rejects(openDatabase({ dataDir }), DataDirectoryLockedError);
      await first.close();
      assert.ok((await stat(join(dataDir, 'pglite'))).isDirectory());

      const database = await openDatabase({ dataDir });
      assert.equal(database.kind, 'pglite');
      const second = createSqlGatewayStore(database);
      try {
        assert.deepEqual(await second.migrate(), []);
        assert.equal((await second.findApiKeyByHash(acmeHash))?.id, 'acme-key');
      } finally {
        await second.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('PostgreSQL with several replicas', () => {
  it('opens PostgreSQL when a database URL is given', async () => {
    const schema = randomSchemaName();
    const database = await openDatabase({
      databaseUrl: await postgresTestUrl(),
      dataDir: '/nonexistent',
      schema,
    });
    try {
      assert.equal(database.kind, 'postgres');
      await database.ping();
    } finally {
      await database.query(`DROP SCHEMA ${schema} CASCADE`);
      await database.close();
    }
  });

  it('migrates and syncs once when two replicas start together', async () => {
    const schema = randomSchemaName();
    const url = await postgresTestUrl();
    const replicas = await Promise.all(
      [1, 2].map(() => openPostgresDatabase({ connectionString: url, schema })),
    );
    try {
      const applied = await Promise.all(replicas.map((replica) => migrate(replica)));
      assert.deepEqual(applied.flat(), shippedVersions);
      const stores = replicas.map((replica) => createSqlGatewayStore(replica));
      await Promise.all(stores.map((store) => store.syncConfig(fixture())));
      assert.equal((await stores[0]!.listApiKeys()).length, 3);
    } finally {
      await replicas[0]!.query(`DROP SCHEMA ${schema} CASCADE`);
      await Promise.all(replicas.map((replica) => replica.close()));
    }
  });
});
