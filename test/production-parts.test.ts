/**
 * The production parts end to end: the gateway on a real PostgreSQL (through `pg`) and a real
 * Redis, and the `keys` CLI minting, listing and revoking a key the running gateway then honours.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { hashApiKey } from '../src/config/load.ts';
import { postgresTestUrl, randomSchemaName } from '../src/storage/test-databases.ts';
import { postJson, startTestGateway, type TestGateway } from './helpers/gateway-harness.ts';

const run = promisify(execFile);
const cli = new URL('../src/cli.ts', import.meta.url).pathname;

describe('gateway on PostgreSQL and Redis, with the keys CLI', () => {
  let harness: TestGateway;
  let admin: pg.Client;
  let schema: string;
  let databaseUrl: string;
  const keyPrefix = `odock-test-${randomSchemaName()}:`;

  before(async () => {
    const baseUrl = await postgresTestUrl();
    schema = randomSchemaName();
    admin = new pg.Client({ connectionString: baseUrl });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    // The CLI is a separate process: it reaches the same schema through the connection string.
    databaseUrl = `${baseUrl}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    harness = await startTestGateway({
      env: { DATABASE_URL: baseUrl, REDIS_URL: 'redis://127.0.0.1:6379', ODOCK_AUTH_CACHE_TTL_MS: '0' },
      databaseSchema: schema,
      keyPrefix,
    });
  });
  after(async () => {
    await harness?.close();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  });

  const cliEnv = () => ({ ...process.env, DATABASE_URL: databaseUrl, ODOCK_CONFIG: configPathOf(harness) });

  test('the gateway reports PostgreSQL and Redis ready and serves', async () => {
    const ready = await fetch(`${harness.url}/readyz`);
    assert.equal(ready.status, 200);
    const response = await postJson(`${harness.url}/v1/chat/completions`, {
      model: 'chat',
      messages: [{ role: 'user', content: 'on postgres' }],
    });
    assert.equal(response.status, 200, response.text);
    const tables = await admin.query(
      'SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1',
      [schema],
    );
    assert.ok(tables.rows[0].n > 0, 'migrations ran in the isolated schema');
  });

  test('keys create prints the key once, stores only its hash, and the gateway accepts it', async () => {
    const created = await run(
      process.execPath,
      [cli, 'keys', 'create', '--org', 'demo', '--id', 'cli-key', '--models', 'chat'],
      {
        env: cliEnv(),
      },
    );
    const secret = created.stdout.trim();
    assert.match(secret, /^sk-odock-[A-Za-z0-9_-]{32}$/);
    assert.doesNotMatch(created.stderr, new RegExp(secret), 'the key is printed once, on stdout only');
    const rows = await admin.query(`SELECT * FROM ${schema}.api_keys WHERE id = 'cli-key'`);
    assert.equal(rows.rows[0].key_hash, hashApiKey(secret));
    assert.doesNotMatch(JSON.stringify(rows.rows), new RegExp(secret), 'no plaintext key in the store');

    const allowed = await postJson(
      `${harness.url}/v1/chat/completions`,
      { model: 'chat', messages: [{ role: 'user', content: 'cli key' }] },
      { authorization: `Bearer ${secret}` },
    );
    assert.equal(allowed.status, 200, allowed.text);
    const notGranted = await postJson(
      `${harness.url}/v1/chat/completions`,
      { model: 'claude', messages: [{ role: 'user', content: 'x' }] },
      { authorization: `Bearer ${secret}` },
    );
    assert.equal(notGranted.json.error.code, 'model_not_allowed');

    const listed = await run(process.execPath, [cli, 'keys', 'list', '--org', 'demo'], { env: cliEnv() });
    assert.match(listed.stdout, /^cli-key\tdemo\tcli\tactive\tchat$/m);

    await run(process.execPath, [cli, 'keys', 'revoke', '--id', 'cli-key'], { env: cliEnv() });
    const revoked = await postJson(
      `${harness.url}/v1/chat/completions`,
      { model: 'chat', messages: [{ role: 'user', content: 'x' }] },
      { authorization: `Bearer ${secret}` },
    );
    assert.equal(revoked.status, 401);
    assert.equal(revoked.json.error.code, 'api_key_revoked');
  });

  test('keys create refuses an unknown organisation and model, naming each problem', async () => {
    await assert.rejects(
      run(process.execPath, [cli, 'keys', 'create', '--org', 'nope', '--models', 'chat,ghost'], {
        env: cliEnv(),
      }),
      (error: { code: number; stderr: string }) => {
        assert.equal(error.code, 1);
        assert.match(error.stderr, /--org: unknown organization "nope"/);
        assert.match(error.stderr, /--models: unknown model "ghost"/);
        return true;
      },
    );
  });
});

function configPathOf(harness: TestGateway): string {
  return harness.gateway.services.settings.configPath;
}
