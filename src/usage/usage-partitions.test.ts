/**
 * Partition maintenance on PGlite and PostgreSQL: partitions ahead of time, rows routed to their
 * day, stray rows of the default partition moved into a new partition, retention dropping whole
 * partitions (the rows of a dropped day are gone, the others stay).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { migrate } from '../storage/migrate.ts';
import { type DatabaseHarness, pgliteHarness, postgresHarness } from '../storage/test-databases.ts';
import { maintainUsagePartitions, partitionDay, partitionName } from './usage-partitions.ts';
import { sampleRecord } from './usage-test-records.ts';
import { insertUsageRecords } from './usage-writer.ts';

for (const harness of [pgliteHarness(), postgresHarness()] as DatabaseHarness[]) {
  describe(`usage partitions on ${harness.name}`, () => {
    after(() => harness.cleanup());

    async function partitionsOf(database: Awaited<ReturnType<DatabaseHarness['open']>>) {
      const rows = await database.query<{ name: string; bound: string }>(
        `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'usage_records'::regclass ORDER BY c.relname`,
      );
      return rows;
    }

    test('creates yesterday to today + ahead, idempotently, and routes rows to their day', async () => {
      const database = await harness.open();
      try {
        await migrate(database);
        const now = new Date('2026-03-10T15:00:00Z');
        const first = await maintainUsagePartitions(database, { retentionDays: 0, aheadDays: 2, now });
        assert.deepEqual(first.created, [
          'usage_records_p20260309',
          'usage_records_p20260310',
          'usage_records_p20260311',
          'usage_records_p20260312',
        ]);
        const again = await maintainUsagePartitions(database, { retentionDays: 0, aheadDays: 2, now });
        assert.deepEqual(again.created, []);
        const partitions = await partitionsOf(database);
        const bound = partitions.find((row) => row.name === 'usage_records_p20260310')?.bound ?? '';
        assert.match(bound, /FROM \('2026-03-10 00:00:00\+00'\) TO \('2026-03-11 00:00:00\+00'\)/);

        await insertUsageRecords(database, [
          sampleRecord({ requestedAt: new Date('2026-03-10T23:59:59.999Z') }),
          sampleRecord({ requestedAt: new Date('2026-03-11T00:00:00.000Z') }),
        ]);
        const placed = await database.query<{ partition: string; n: bigint }>(
          `SELECT tableoid::regclass::text AS partition, count(*) AS n FROM usage_records GROUP BY 1 ORDER BY 1`,
        );
        assert.deepEqual(
          placed.map((row) => [row.partition.replace(/^.*\./, ''), Number(row.n)]),
          [
            ['usage_records_p20260310', 1],
            ['usage_records_p20260311', 1],
          ],
        );
      } finally {
        await database.close();
      }
    });

    test('moves stray rows of the default partition into the partition of their day', async () => {
      const database = await harness.open();
      try {
        await migrate(database);
        // No partitions yet: both rows land in the default partition.
        await insertUsageRecords(database, [
          sampleRecord({ requestedAt: new Date('2026-01-05T10:00:00Z') }),
          sampleRecord({ requestedAt: new Date('2026-01-05T11:00:00Z') }),
        ]);
        const report = await maintainUsagePartitions(database, {
          retentionDays: 0,
          aheadDays: 0,
          now: new Date('2026-03-10T12:00:00Z'),
        });
        assert.ok(report.created.includes('usage_records_p20260105'), JSON.stringify(report));
        assert.equal(report.moved, 2);
        const [inDefault] = await database.query<{ n: bigint }>(
          'SELECT count(*) AS n FROM usage_records_default',
        );
        assert.equal(inDefault!.n, 0n);
        const [total] = await database.query<{ n: bigint }>('SELECT count(*) AS n FROM usage_records');
        assert.equal(total!.n, 2n);
      } finally {
        await database.close();
      }
    });

    test('retention drops whole partitions past the period and keeps the rest', async () => {
      const database = await harness.open();
      try {
        await migrate(database);
        const days = ['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-09', '2026-03-10'];
        // Partitions for every day from 03-01 on, as a gateway running since then would have.
        for (const day of days)
          await maintainUsagePartitions(database, {
            retentionDays: 0,
            aheadDays: 0,
            now: new Date(`${day}T12:00:00Z`),
          });
        await insertUsageRecords(
          database,
          days.map((day) => sampleRecord({ requestedAt: new Date(`${day}T12:00:00Z`) })),
        );
        // Keep 7 days on 03-10: cutoff 03-03 00:00, so 02-28 (made as "yesterday" on 03-01), 03-01
        // and 03-02 go; 03-03 onwards stay.
        const report = await maintainUsagePartitions(database, {
          retentionDays: 7,
          aheadDays: 0,
          now: new Date('2026-03-10T12:00:00Z'),
        });
        assert.deepEqual(report.dropped.sort(), [
          'usage_records_p20260228',
          'usage_records_p20260301',
          'usage_records_p20260302',
        ]);
        const remaining = await database.query<{ day: string }>(
          `SELECT to_char(requested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day FROM usage_records ORDER BY 1`,
        );
        assert.deepEqual(
          remaining.map((row) => row.day),
          ['2026-03-03', '2026-03-09', '2026-03-10'],
        );
        const names = (await partitionsOf(database)).map((row) => row.name);
        assert.ok(!names.includes('usage_records_p20260301'));
        assert.ok(names.includes('usage_records_p20260303'));
      } finally {
        await database.close();
      }
    });
  });
}

test('partition names and days round-trip', () => {
  const day = new Date('2026-12-31T00:00:00Z');
  assert.equal(partitionName(day), 'usage_records_p20261231');
  assert.deepEqual(partitionDay('usage_records_p20261231'), day);
  assert.equal(partitionDay('usage_records_default'), undefined);
});
