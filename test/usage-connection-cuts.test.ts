/**
 * The usage collector against a real PostgreSQL whose connections are cut while it writes
 * (`pg_terminate_backend`, as a failover or a restart would; 9 to 15 cuts a run here): the
 * writes fail, the pool replaces its dead connections, and every record is stored exactly once,
 * none lost and none twice. That a retry of a batch the server had already committed stores
 * nothing twice is held deterministically by the writer's and the collector's own tests; here a
 * cut lands in that window only now and then.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { migrate } from '../src/storage/migrate.ts';
import { openPostgresDatabase } from '../src/storage/postgres-database.ts';
import { postgresTestUrl, randomSchemaName } from '../src/storage/test-databases.ts';
import { UsageCollector } from '../src/usage/usage-collector.ts';
import { maintainUsagePartitions } from '../src/usage/usage-partitions.ts';
import { sampleRecord } from '../src/usage/usage-test-records.ts';

describe('usage records while PostgreSQL connections are cut', () => {
  const schema = randomSchemaName();
  // Its own application name, so the cuts reach this test's connections and no other test's.
  const applicationName = `odock_cuts_${schema}`;
  let admin: pg.Client | undefined;
  after(async () => {
    await admin?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await admin?.end().catch(() => {});
  });

  test('every record is stored exactly once', async () => {
    const url = new URL(await postgresTestUrl());
    url.searchParams.set('application_name', applicationName);
    const cutterClient = new pg.Client({ connectionString: await postgresTestUrl() });
    admin = cutterClient;
    await cutterClient.connect();
    const warnings: string[] = [];
    const database = await openPostgresDatabase({
      connectionString: url.toString(),
      schema,
      max: 3,
      onError: (error) => warnings.push(error.message),
    });
    const lines: Array<Record<string, unknown>> = [];
    const collector = new UsageCollector({
      database,
      logger: pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line)) }),
      batchSize: 100,
      flushIntervalMs: 5,
      retryInitialDelayMs: 5,
      retryMaximumDelayMs: 50,
      writeTimeoutMs: 5_000,
    });
    try {
      await migrate(database);
      await maintainUsagePartitions(database, { retentionDays: 0 });
      const total = 4_000;
      let cuts = 0;
      let cutting = true;
      const cutter = (async () => {
        while (cutting) {
          const killed = await cutterClient.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE application_name = $1 AND pid <> pg_backend_pid()`,
            [applicationName],
          );
          cuts += killed.rowCount ?? 0;
          await new Promise((resolve) => setTimeout(resolve, 3 + Math.random() * 12));
        }
      })();
      // Awaited below; until then a failure of the cutter must not be an unhandled rejection.
      cutter.catch(() => {});
      for (let offered = 0; offered < total; offered += 50) {
        for (let index = 0; index < 50; index += 1) assert.ok(collector.enqueue(sampleRecord()));
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      // Let the cuts go on until part of the backlog has gone through them, then stop cutting.
      await new Promise((resolve) => setTimeout(resolve, 200));
      cutting = false;
      await cutter;
      const drained = await collector.drain(30_000);
      assert.deepEqual(drained.lost, 0);
      // Read on the cutter's own connection: a pooled one may have been cut just after its last
      // use, and would fail this query (the collector retries such a failure; a check does not).
      const {
        rows: [stored],
      } = await cutterClient.query<{ rows: number; ids: number }>(
        `SELECT count(*)::int AS rows, count(DISTINCT id)::int AS ids FROM "${schema}".usage_records`,
      );
      assert.ok(cuts > 0, 'connections were cut while the collector wrote');
      assert.ok(collector.stats().flushErrors > 0, 'writes failed and were retried');
      assert.deepEqual(
        stored,
        { rows: total, ids: total },
        `every record once (${cuts} cuts, ${JSON.stringify(collector.stats())})`,
      );
      assert.equal(collector.stats().flushed, total);
      assert.equal(collector.stats().ingestErrors, 0, 'a cut is an outage, never a refused record');
      assert.ok(lines.some((line) => line.msg === 'usage records write failed; retrying'));
      assert.ok(warnings.length > 0, 'the pool reported the connections it lost');
    } finally {
      await database.close();
    }
  });
});
