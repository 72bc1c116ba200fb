/**
 * The usage pipeline while PostgreSQL is unreachable. The gateway reaches PostgreSQL through a
 * TCP proxy the test stops and restarts, so its pooled connections die and new ones are
 * refused, as when the database goes away. Traffic continues throughout:
 *   - no client request fails because of the outage;
 *   - after recovery every record is present (zero lost while the queue had room);
 *   - an outage long enough to fill the queue loses exactly the records past its bound, and
 *     the loss is counted on /metrics (`gateway_usage_enqueue_errors_total`) and logged.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { postgresTestUrl, randomSchemaName } from '../src/storage/test-databases.ts';
import { keys, postJson, startTestGateway, type TestGateway } from './helpers/gateway-harness.ts';
import { usageConfigYaml, usageEnv } from './usage-helpers.ts';

/** A TCP proxy to PostgreSQL that can be taken down (listener closed, every connection cut) and back up. */
class DatabaseProxy {
  readonly #target: { host: string; port: number };
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  port = 0;

  constructor(target: { host: string; port: number }) {
    this.#target = target;
  }

  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.#target.port, this.#target.host);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  async down(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.destroy();
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text
    .split('\n')
    .find((entry) => entry.startsWith(`${name} `) || entry.startsWith(`${name}{}`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

describe('usage records across a PostgreSQL outage', () => {
  let harness: TestGateway;
  let proxy: DatabaseProxy;
  let admin: pg.Client;
  const schema = randomSchemaName();
  const queueCapacity = 30;

  before(async () => {
    const base = new URL(await postgresTestUrl());
    proxy = new DatabaseProxy({ host: base.hostname, port: Number(base.port || 5432) });
    await proxy.up();
    const viaProxy = new URL(base);
    viaProxy.port = String(proxy.port);
    admin = new pg.Client({ connectionString: base.toString() });
    await admin.connect();
    harness = await startTestGateway({
      configYaml: usageConfigYaml,
      env: {
        ...usageEnv,
        DATABASE_URL: viaProxy.toString(),
        // Keys stay cached through the outage: this test is about usage records, not key look-ups.
        ODOCK_AUTH_CACHE_TTL_MS: '3600000',
        ODOCK_USAGE_QUEUE_CAPACITY: String(queueCapacity),
        ODOCK_USAGE_FLUSH_INTERVAL_MS: '50',
      },
      databaseSchema: schema,
    });
  });
  after(async () => {
    await harness?.close();
    await proxy?.down();
    await admin?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin?.end();
  });

  async function storedRequestIds(): Promise<Set<string>> {
    const result = await admin.query(`SELECT request_id FROM ${schema}.usage_records`);
    return new Set(result.rows.map((row: { request_id: string }) => row.request_id));
  }

  async function waitUntilStored(requestIds: string[], timeoutMs = 20_000): Promise<Set<string>> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const stored = await storedRequestIds();
      if (requestIds.every((id) => stored.has(id)) || performance.now() > deadline) return stored;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Unary and streaming calls alternately; every one must succeed. Returns their request ids. */
  async function traffic(count: number, label: string): Promise<string[]> {
    const ids: string[] = [];
    for (let index = 0; index < count; index += 1) {
      const response = await postJson(
        `${harness.url}/v1/chat/completions`,
        {
          model: 'chat',
          stream: index % 2 === 1,
          messages: [{ role: 'user', content: `${label} ${index}` }],
        },
        { authorization: `Bearer ${keys.demo}` },
      );
      assert.equal(response.status, 200, `${label} #${index}: ${response.text}`);
      ids.push(response.headers.get('x-request-id')!);
    }
    return ids;
  }

  test('warm-up: records are written through the proxy', async () => {
    const ids = await traffic(3, 'warm-up');
    const stored = await waitUntilStored(ids);
    assert.ok(ids.every((id) => stored.has(id)));
  });

  test('an outage while traffic continues: no request fails, and after recovery every record is there', async () => {
    const flushErrorsBefore = await metric(harness.url, 'gateway_usage_flush_errors_total');
    await proxy.down();
    const ids = await traffic(queueCapacity - 5, 'outage');
    // Let the collector try, and fail, a few times.
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(harness.gateway.usage.collector.depth, queueCapacity - 5, 'the records wait in the queue');
    assert.ok((await metric(harness.url, 'gateway_usage_flush_errors_total')) > flushErrorsBefore);
    assert.equal(await metric(harness.url, 'gateway_usage_queue_depth'), queueCapacity - 5);
    const storedDuring = await storedRequestIds();
    assert.ok(!ids.some((id) => storedDuring.has(id)), 'nothing could be written during the outage');

    await proxy.up();
    const stored = await waitUntilStored(ids);
    assert.deepEqual(
      ids.filter((id) => !stored.has(id)),
      [],
      'every record of the outage is present',
    );
    assert.equal(await metric(harness.url, 'gateway_usage_enqueue_errors_total'), 0, 'zero lost');
    const [row] = (
      await admin.query(`SELECT count(*)::int AS n FROM ${schema}.usage_records WHERE request_id = ANY($1)`, [
        ids,
      ])
    ).rows;
    assert.equal(row.n, ids.length, 'each exactly once');
  });

  test('an outage longer than the queue: the records past its bound are lost, counted and logged', async () => {
    await proxy.down();
    const ids = await traffic(queueCapacity + 10, 'overflow');
    assert.equal(await metric(harness.url, 'gateway_usage_enqueue_errors_total'), 10);
    assert.equal(await metric(harness.url, 'gateway_usage_publish_total{outcome="dropped"}'), 10);
    await harness.gateway.telemetry.flush();
    assert.ok(
      harness.logs.some((line) => line.includes('usage records lost: the usage queue is full')),
      'the loss is logged',
    );
    await proxy.up();
    const kept = ids.slice(0, queueCapacity);
    const stored = await waitUntilStored(kept);
    assert.deepEqual(
      kept.filter((id) => !stored.has(id)),
      [],
      'the queued records are all written',
    );
    assert.deepEqual(
      ids.slice(queueCapacity).filter((id) => stored.has(id)),
      [],
      'the records past the bound are the lost ones',
    );
  });
});
