/**
 * The batch parameter of the usage INSERT: rows serialised one by one (as the collector does
 * when it accepts a record) and joined must be the very text of the whole batch serialised at
 * once, the form the statement has always been given.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Queryable } from '../storage/database.ts';
import { migrate } from '../storage/migrate.ts';
import { type DatabaseHarness, pgliteHarness, postgresHarness } from '../storage/test-databases.ts';
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

const tokenColumns = [
  'input_tokens',
  'output_tokens',
  'cached_input_tokens',
  'cache_write_tokens',
  'reasoning_tokens',
  'audio_input_tokens',
  'audio_output_tokens',
  'image_input_tokens',
  'tool_tokens',
  'embeddings_tokens',
  'billable_tokens',
] as const;

for (const harness of [pgliteHarness(), postgresHarness()] as DatabaseHarness[]) {
  describe(`usage rows on ${harness.name}`, () => {
    after(() => harness.cleanup());

    test('a zero or a null the row JSON leaves out reads back as 0 or NULL, the rest (and the instant) as written', async () => {
      const database = await harness.open();
      try {
        await migrate(database);
        const zero = sampleRecord({
          requestedAt: new Date('2026-03-10T23:59:59.999Z'),
          traceId: null,
          organizationId: null,
          apiKeyId: null,
          provider: null,
          model: null,
          requestedModel: null,
          responseModel: null,
          upstreamMs: null,
          gatewayOverheadMs: null,
          pluginOverheadMs: 0,
          tokens: {
            input: 0,
            output: 0,
            cachedInput: 0,
            cacheWrite: 0,
            reasoning: 0,
            audioInput: 0,
            audioOutput: 0,
            imageInput: 0,
            tool: null,
            embeddings: 0,
            billable: 0,
          },
          costNanos: 0n,
          providerRequestId: null,
          providerUsage: undefined,
        });
        const full = sampleRecord({
          requestedAt: new Date('2026-12-01T20:43:06.001Z'),
          traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
          teamId: 'team',
          userId: 'user',
          stream: true,
          streamOutcome: 'completed',
          errorCode: 'upstream_error',
          timeToFirstTokenMs: 3.25,
          pluginOverheadMs: 0.5,
          tokens: {
            input: 1,
            output: 2,
            cachedInput: 3,
            cacheWrite: 4,
            reasoning: 5,
            audioInput: 6,
            audioOutput: 7,
            imageInput: 8,
            tool: 9,
            embeddings: 10,
            billable: 11,
          },
          unitKind: 'images',
          unitQuantity: 2,
          costNanos: 2n ** 62n,
        });
        assert.ok(usageRowJson(zero).length < usageRowJson(full).length / 1.3, 'the zero row is shorter');
        assert.equal(await insertUsageRecords(database, [zero, full]), 2);
        const rows = await database.query<Record<string, unknown>>(
          `SELECT request_id, requested_at, trace_id, organization_id, team_id, user_id, api_key_id, provider, model,
                  requested_model, response_model, stream_outcome, error_code, upstream_ms,
                  gateway_overhead_ms, time_to_first_token_ms, plugin_overhead_ms, ${tokenColumns.join(', ')},
                  unit_kind, unit_quantity::text AS unit_quantity, cost_nanos::text AS cost_nanos,
                  provider_request_id, provider_usage
             FROM usage_records`,
        );
        const byRequest = new Map(rows.map((row) => [row['request_id'], row]));
        const readZero = byRequest.get(zero.requestId)!;
        // The row carries epoch milliseconds; the SELECT makes the same instant of them.
        assert.equal(new Date(readZero['requested_at'] as Date).toISOString(), '2026-03-10T23:59:59.999Z');
        for (const column of tokenColumns)
          assert.equal(
            Number(readZero[column] ?? Number.NaN),
            column === 'tool_tokens' ? Number.NaN : 0,
            column,
          );
        assert.equal(Number(readZero['plugin_overhead_ms']), 0);
        assert.equal(readZero['cost_nanos'], '0');
        for (const column of [
          'trace_id',
          'organization_id',
          'team_id',
          'user_id',
          'api_key_id',
          'provider',
          'model',
          'requested_model',
          'response_model',
          'stream_outcome',
          'error_code',
          'upstream_ms',
          'gateway_overhead_ms',
          'time_to_first_token_ms',
          'unit_kind',
          'unit_quantity',
          'provider_request_id',
          'provider_usage',
        ])
          assert.equal(readZero[column], null, column);

        const readFull = byRequest.get(full.requestId)!;
        assert.equal(new Date(readFull['requested_at'] as Date).toISOString(), '2026-12-01T20:43:06.001Z');
        assert.deepEqual(
          tokenColumns.map((column) => Number(readFull[column])),
          [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
        );
        assert.equal(Number(readFull['plugin_overhead_ms']), 0.5);
        assert.equal(readFull['cost_nanos'], (2n ** 62n).toString());
        assert.equal(readFull['team_id'], 'team');
        assert.equal(readFull['stream_outcome'], 'completed');
        assert.equal(Number(readFull['time_to_first_token_ms']), 3.25);
        assert.equal(readFull['unit_quantity'], '2');
        assert.deepEqual(readFull['provider_usage'], { prompt_tokens: 10, completion_tokens: 20 });
      } finally {
        await database.close();
      }
    });
  });
}
