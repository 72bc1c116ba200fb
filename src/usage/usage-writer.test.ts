/**
 * The batch parameter of the usage INSERT: rows serialised one by one (as the collector does
 * when it accepts a record) and joined must be the very text of the whole batch serialised at
 * once, the form the statement has always been given.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Queryable } from '../storage/database.ts';
import type { UsageRecord } from './usage-record.ts';
import { sampleRecord } from './usage-test-records.ts';
import { insertUsageRecords, insertUsageRows, usageRowJson } from './usage-writer.ts';

function capturingDatabase() {
  const calls: Array<{ sql: string; params: readonly unknown[] | undefined }> = [];
  const database: Queryable = {
    async query(sql, params) {
      calls.push({ sql, params });
      return [];
    },
  };
  return { database, calls };
}

const records: UsageRecord[] = [
  sampleRecord(),
  sampleRecord({
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    requestedModel: 'quote " backslash \\ newline \n tab \t nul-free \u0001 \u2028 émoji 🚀 lone \ud800',
    responseModel: null,
    providerRequestId: null,
    providerUsage: undefined,
    stream: true,
    streamOutcome: 'client_aborted',
    status: 499,
    outcome: 'client_aborted',
    errorCode: 'client_closed',
    latencyMs: 0.1 + 0.2,
    upstreamMs: null,
    gatewayOverheadMs: null,
    timeToFirstTokenMs: 1e-7,
    costNanos: 123_456_789_012_345_678_901n,
    attempts: [
      {
        provider: 'a',
        model: 'b',
        started_after_ms: 0,
        duration_ms: 3.5,
        status: null,
        outcome: 'timeout',
        error_code: 'upstream_timeout',
      },
    ],
    metadata: {
      plugins: [{ name: 'p', stage: 'request', decision: 'allow', duration_ms: 0.25 }],
      safety: [{ module: 's', stage: 'response', decision: 'redact', duration_ms: null }],
      rate_limits: [{ stage: 'key', module: 'redis', decision: 'allow' }],
    },
  }),
  sampleRecord({ providerUsage: { truncated: true, bytes: 9_000 }, latencyMs: -0 }),
];

describe('usage writer', () => {
  test('rows joined are the whole batch serialised at once, for both entry points', async () => {
    // The rows' own objects serialised as one array: the column mapping itself is checked
    // against the database by the usage-records tests.
    const wholeBatch = (batch: readonly UsageRecord[]) =>
      JSON.stringify(batch.map((record) => JSON.parse(usageRowJson(record))));
    const expected = wholeBatch(records);
    const byRecords = capturingDatabase();
    assert.equal(await insertUsageRecords(byRecords.database, records), 3);
    const byRows = capturingDatabase();
    assert.equal(await insertUsageRows(byRows.database, records.map(usageRowJson)), 3);
    for (const { calls } of [byRecords, byRows]) {
      assert.equal(calls.length, 1);
      assert.deepEqual(calls[0]!.params, [expected]);
      assert.match(calls[0]!.sql, /json_to_recordset\(\$1::json\)/);
    }
    assert.equal(byRecords.calls[0]!.sql, byRows.calls[0]!.sql);
    const one = capturingDatabase();
    await insertUsageRows(one.database, [usageRowJson(records[0]!)]);
    assert.deepEqual(one.calls[0]!.params, [wholeBatch([records[0]!])]);
  });

  test('an empty batch sends nothing', async () => {
    const { database, calls } = capturingDatabase();
    assert.equal(await insertUsageRows(database, []), 0);
    assert.equal(await insertUsageRecords(database, []), 0);
    assert.equal(calls.length, 0);
  });
});
