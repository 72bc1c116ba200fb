/**
 * bench/floor-proxy.ts: the floor the benchmark measures odock-server against does the work
 * its levels name (a table of CPU per request is only worth what the proxy behind it does).
 * Level 7 writes to the local PostgreSQL (`floor_usage_records`, in a schema of its own in the
 * test database).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { startFloorProxy } from '../bench/floor-proxy.ts';
import { type MockUpstream, startMockUpstream } from '../src/mock-upstream/server.ts';
import { postgresTestUrl, randomSchemaName } from '../src/storage/test-databases.ts';

describe('the floor proxy at level 6', () => {
  let mock: MockUpstream;
  let proxy: Awaited<ReturnType<typeof startFloorProxy>>;
  const call = (headers: Record<string, string>, body: object) =>
    fetch(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-upstream': mock.url, ...headers },
      body: JSON.stringify(body),
    });
  const chat = { model: 'mock-gpt', messages: [{ role: 'user', content: 'Hello, floor.' }], max_tokens: 16 };

  before(async () => {
    mock = await startMockUpstream({ latencyMs: 0 });
    proxy = await startFloorProxy({ host: '127.0.0.1', port: 0, level: 6 });
  });
  after(async () => {
    await proxy.close();
    await mock.close();
  });

  test('forwards with the provider key, relays the answer and counts its tokens', async () => {
    const response = await call({ authorization: 'Bearer sk-mock-upstream' }, chat);
    assert.equal(response.status, 200);
    const requestId = response.headers.get('x-request-id');
    assert.match(requestId ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const answer = (await response.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
    const sent = mock.lastRequest()!;
    assert.equal(sent.headers.authorization, 'Bearer sk-mock-upstream');
    assert.equal(sent.headers['x-request-id'], requestId);
    assert.deepEqual(JSON.parse(sent.bodyText), chat);
    const exposition = await proxy.registry.metrics();
    const counted = (tokenClass: string) =>
      Number(
        new RegExp(`^tokens_total\\{[^}]*token_class="${tokenClass}"\\} (\\d+)$`, 'm').exec(exposition)?.[1],
      );
    assert.equal(counted('input'), answer.usage.prompt_tokens);
    assert.equal(counted('output'), answer.usage.completion_tokens);
  });

  test('refuses an unknown key, an unknown model and a stream before any upstream call', async () => {
    const before = mock.stats().requests;
    assert.equal((await call({ authorization: 'Bearer sk-wrong' }, chat)).status, 401);
    assert.equal(
      (await call({ authorization: 'Bearer sk-mock-upstream' }, { ...chat, model: 'other' })).status,
      404,
    );
    assert.equal(
      (await call({ authorization: 'Bearer sk-mock-upstream' }, { ...chat, stream: true })).status,
      400,
    );
    assert.equal(mock.stats().requests, before);
  });
});

describe('the floor proxy at level 7', () => {
  let mock: MockUpstream;
  let proxy: Awaited<ReturnType<typeof startFloorProxy>>;
  let database: pg.Client;
  const schema = randomSchemaName();
  const call = (body: object) =>
    fetch(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-upstream': mock.url,
        authorization: 'Bearer sk-mock-upstream',
      },
      body: JSON.stringify(body),
    });
  const chat = { model: 'mock-gpt', messages: [{ role: 'user', content: 'Hello, floor.' }], max_tokens: 16 };

  before(async () => {
    const databaseUrl = await postgresTestUrl();
    mock = await startMockUpstream({ latencyMs: 0 });
    proxy = await startFloorProxy({ host: '127.0.0.1', port: 0, level: 7, databaseUrl, schema });
    database = new pg.Client({ connectionString: databaseUrl });
    await database.connect();
  });
  after(async () => {
    await proxy.close();
    await mock.close();
    await database.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await database.end();
  });

  test("sends each call's usage row to PostgreSQL, into a table with the usage records' columns and indexes", async () => {
    const ids: string[] = [];
    for (let index = 0; index < 3; index += 1) {
      const response = await call(chat);
      assert.equal(response.status, 200);
      await response.arrayBuffer();
      ids.push(response.headers.get('x-request-id')!);
    }
    const deadline = Date.now() + 5_000;
    while (proxy.copiedRows() < 3 && Date.now() < deadline) await delay(50);
    assert.equal(proxy.copiedRows(), 3);
    const { rows } = await database.query<{
      request_id: string;
      status: number;
      input_tokens: number;
      billable_tokens: number;
      cost_nanos: string;
      attempts: Array<{ status: number }>;
    }>(
      `SELECT request_id, status, input_tokens, billable_tokens, cost_nanos, attempts
         FROM "${schema}".floor_usage_records WHERE request_id = ANY($1)`,
      [ids],
    );
    assert.deepEqual(rows.map((row) => row.request_id).sort(), [...ids].sort());
    for (const row of rows) {
      assert.equal(row.status, 200);
      assert.ok(row.input_tokens > 0, 'the input tokens the answer reported');
      assert.ok(row.billable_tokens > row.input_tokens, 'input and output tokens');
      assert.ok(BigInt(row.cost_nanos) > 0n);
      assert.equal(row.attempts[0]?.status, 200);
    }
    const indexes = await database.query<{ count: string }>(
      `SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND tablename = 'floor_usage_records'`,
      [schema],
    );
    const usageIndexes = await database.query<{ count: string }>(
      `SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND tablename = 'usage_records'`,
      [schema],
    );
    assert.equal(indexes.rows[0]!.count, usageIndexes.rows[0]!.count, "every index of the usage records'");
  });

  test('refuses a body the schema rejects before any upstream call', async () => {
    const before = mock.stats().requests;
    const response = await call({ model: 'mock-gpt', messages: [] });
    assert.equal(response.status, 400);
    assert.match(((await response.json()) as { error: { message: string } }).error.message, /messages/);
    assert.equal(mock.stats().requests, before);
  });
});
