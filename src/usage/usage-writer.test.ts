/**
 * The usage batch in its two forms: COPY text (PostgreSQL), one line per record, escaped so any
 * text survives, written straight into usage_records on a first attempt and through the staging
 * table on a retry; and the JSON rows of one INSERT (PGlite), the very text of the whole batch
 * serialised at once. The round trip of every column, in both forms, on PGlite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Database, Queryable } from '../storage/database.ts';
import { migrate } from '../storage/migrate.ts';
import {
  copyInputText,
  type DatabaseHarness,
  pgliteHarness,
  postgresHarness,
} from '../storage/test-databases.ts';
import type { UsageRecord } from './usage-record.ts';
import { sampleRecord } from './usage-test-records.ts';
import {
  adjacentJoined,
  copyRows,
  insertRows,
  insertUsageRecords,
  usageRowColumns,
  usageRowFormat,
  usageRowJson,
  usageRowText,
} from './usage-writer.ts';

function capturingDatabase(kind: Database['kind'] = 'postgres') {
  const calls: Array<{
    via: 'database' | 'transaction';
    kind: 'query' | 'copy';
    sql: string;
    params?: readonly unknown[] | undefined;
    text?: string;
  }> = [];
  const queryable = (via: 'database' | 'transaction'): Queryable => ({
    async query(sql, params) {
      calls.push({ via, kind: 'query', sql, params });
      return [];
    },
    async copyFrom(target, input) {
      calls.push({ via, kind: 'copy', sql: target, text: copyInputText(input) });
    },
  });
  const database: Database = {
    kind,
    ...queryable('database'),
    transaction: (work) => work(queryable('transaction')),
    async ping() {},
    async close() {},
  };
  return { database, calls };
}

/** COPY's text format read back: the inverse of the escaping, as PostgreSQL applies it. */
function readLine(line: string): Array<string | null> {
  return line
    .split('\t')
    .map((field) =>
      field === '\\N'
        ? null
        : field.replace(/\\(.)/g, (_, character: string) =>
            character === 't' ? '\t' : character === 'n' ? '\n' : character === 'r' ? '\r' : character,
          ),
    );
}

// Well-formed: the record builder turns a lone surrogate into U+FFFD (usage-record.ts).
const awkwardText =
  'quote " backslash \\ \\N newline \n return \r tab \t \u0001 \u2028 émoji 🚀 replacement \ufffd';

const records: UsageRecord[] = [
  sampleRecord(),
  sampleRecord({
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    requestedAt: new Date('2026-12-01T20:43:06.007Z'),
    requestedModel: awkwardText,
    // One special character alone in a value, each.
    userId: 'tab\tonly',
    teamId: 'return\ronly',
    apiKeyId: 'newline\nonly',
    provider: 'backslash\\only',
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
    costNanos: 9_223_372_036_854_775_807n,
    attempts: [
      {
        provider: 'a\\b\tc',
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
  sampleRecord({ providerUsage: { truncated: true, bytes: 9_000 }, latencyMs: Number.NaN }),
];

describe('usage rows as COPY text', () => {
  test('a line holds every column in order, escaped so each value reads back as written', () => {
    const [plain, awkward, notFinite] = records.map(usageRowText) as [string, string, string];
    for (const line of [plain, awkward, notFinite]) {
      assert.ok(line.endsWith('\n'));
      assert.equal(line.slice(0, -1).split('\t').length, usageRowColumns.length, 'one field per column');
      assert.ok(!line.slice(0, -1).includes('\n'), 'a newline inside a value never ends the line');
    }
    const fields = new Map<string, string | null>(
      readLine(awkward.slice(0, -1)).map((value, index) => [usageRowColumns[index]!, value]),
    );
    const record = records[1]!;
    assert.equal(fields.get('requested_model'), awkwardText);
    assert.deepEqual(
      ['user_id', 'team_id', 'api_key_id', 'provider'].map((column) => fields.get(column)),
      ['tab\tonly', 'return\ronly', 'newline\nonly', 'backslash\\only'],
    );
    assert.equal(fields.get('requested_at'), '2026-12-01T20:43:06.007Z');
    assert.equal(fields.get('response_model'), null);
    assert.equal(fields.get('stream'), 't');
    assert.equal(fields.get('latency_ms'), String(0.1 + 0.2));
    assert.equal(fields.get('time_to_first_token_ms'), '1e-7');
    assert.equal(fields.get('cost_nanos'), '9223372036854775807');
    assert.equal(fields.get('provider_usage'), null);
    assert.deepEqual(JSON.parse(fields.get('attempts')!), record.attempts);
    assert.deepEqual(JSON.parse(fields.get('metadata')!), record.metadata);
    // NaN has no JSON and no place in a NOT NULL column: NULL, which the table refuses.
    assert.equal(readLine(notFinite.slice(0, -1))[usageRowColumns.indexOf('latency_ms')], null);
  });

  test('the instant is exact across seconds, for any number of milliseconds', () => {
    const column = usageRowColumns.indexOf('requested_at');
    for (const iso of [
      '2026-12-01T23:59:59.999Z',
      '2026-12-02T00:00:00.000Z',
      '2026-12-02T00:00:00.005Z',
      '2026-12-02T00:00:00.050Z',
      '2026-12-02T00:00:01.500Z',
      '1969-12-31T23:59:59.001Z',
      '2026-12-02T00:00:00.005Z',
    ]) {
      const line = usageRowText(sampleRecord({ requestedAt: new Date(iso) }));
      assert.equal(line.split('\t')[column], iso);
    }
  });

  test('a first attempt is one COPY into usage_records; a retry goes through the staging table', async () => {
    const first = capturingDatabase();
    assert.equal(await insertUsageRecords(first.database, records), 3);
    assert.deepEqual(
      first.calls.map(({ via, kind }) => `${via} ${kind}`),
      ['database copy'],
    );
    assert.equal(first.calls[0]!.sql, `usage_records (${usageRowColumns.join(', ')})`);
    assert.equal(first.calls[0]!.text, records.map(usageRowText).join(''));

    const retry = capturingDatabase();
    assert.equal(await insertUsageRecords(retry.database, records, { retry: true }), 3);
    assert.deepEqual(
      retry.calls.map(({ via, kind }) => `${via} ${kind}`),
      ['transaction query', 'transaction copy', 'transaction query'],
    );
    assert.match(retry.calls[0]!.sql, /^CREATE TEMP TABLE IF NOT EXISTS usage_records_staging /);
    assert.match(retry.calls[1]!.sql, /^usage_records_staging \(id, /);
    assert.equal(retry.calls[1]!.text, first.calls[0]!.text);
    assert.match(
      retry.calls[2]!.sql,
      /^INSERT INTO usage_records .* FROM usage_records_staging ON CONFLICT DO NOTHING$/,
    );
  });

  test('rows side by side in one buffer go as one piece, and nothing is copied', () => {
    const slab = Buffer.from('a\nbb\nccc\n');
    const other = Buffer.from('dd\n');
    const [a, b, c] = [slab.subarray(0, 2), slab.subarray(2, 5), slab.subarray(5, 9)];
    const join = (pieces: Uint8Array[]) => pieces.map((piece) => Buffer.from(piece).toString());
    assert.deepEqual(join(adjacentJoined([a, b, c])), ['a\nbb\nccc\n']);
    assert.deepEqual(join(adjacentJoined([a, c])), ['a\n', 'ccc\n'], 'a gap splits');
    assert.deepEqual(join(adjacentJoined([b, a])), ['bb\n', 'a\n'], 'out of order splits');
    assert.deepEqual(join(adjacentJoined([a, b, other, c])), ['a\nbb\n', 'dd\n', 'ccc\n']);
    assert.deepEqual(adjacentJoined([]), []);
    const [whole] = adjacentJoined([a, b, c]);
    assert.equal(whole!.buffer, slab.buffer, 'a view of the same memory');
    slab[0] = 'z'.charCodeAt(0);
    assert.equal(Buffer.from(whole!).toString()[0], 'z');
  });

  test('an empty batch sends nothing', async () => {
    const { database, calls } = capturingDatabase();
    for (const format of [copyRows, insertRows])
      for (const retry of [false, true]) await format.write(database, [], retry);
    assert.equal(await insertUsageRecords(database, []), 0);
    assert.equal(calls.length, 0);
  });
});

describe('usage rows as JSON for PGlite', () => {
  test('PostgreSQL gets COPY, PGlite the INSERT', () => {
    assert.equal(usageRowFormat({ kind: 'postgres' }), copyRows);
    assert.equal(usageRowFormat({ kind: 'pglite' }), insertRows);
  });

  test('rows joined are the whole batch serialised at once; a retry is the same statement', async () => {
    // The rows' own objects serialised as one array: the column mapping itself is checked
    // against the database below.
    const wholeBatch = (batch: readonly UsageRecord[]) =>
      JSON.stringify(batch.map((record) => JSON.parse(usageRowJson(record))));
    for (const retry of [false, true]) {
      const { database, calls } = capturingDatabase('pglite');
      assert.equal(await insertUsageRecords(database, records, { retry }), 3);
      assert.deepEqual(
        calls.map(({ via, kind }) => `${via} ${kind}`),
        ['database query'],
      );
      assert.match(calls[0]!.sql, /json_to_recordset\(\$1::json\)[\s\S]*ON CONFLICT DO NOTHING$/);
      assert.deepEqual(calls[0]!.params, [wholeBatch(records)]);
    }
    const one = capturingDatabase('pglite');
    await insertRows.write(one.database, [Buffer.from(usageRowJson(records[0]!))], false);
    assert.deepEqual(one.calls[0]!.params, [wholeBatch([records[0]!])]);
  });
});

const tokenColumns = usageRowColumns.filter((column) => column.endsWith('_tokens'));

// A harness per database and form: each closes its databases after its own tests.
for (const [harness, format] of [copyRows, insertRows].flatMap((format) =>
  [pgliteHarness(), postgresHarness()].map((harness: DatabaseHarness) => [harness, format] as const),
)) {
  describe(`usage rows on ${harness.name} by ${format.name}`, () => {
    after(() => harness.cleanup());

    test('zeros and nulls read back as 0 and NULL, the rest (and the instant) as written', async () => {
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
        assert.equal(await insertUsageRecords(database, [zero, full], { format }), 2);
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

    if (format === copyRows)
      test('COPY input in pieces: a character cut between two of them arrives whole', async () => {
        const database = await harness.open();
        try {
          await migrate(database);
          const awkward = records[1]!;
          const bytes = Buffer.from(usageRowText(records[0]!) + usageRowText(awkward));
          // The first byte of a character of several bytes: the cut falls inside it.
          const lead = bytes.findIndex((byte) => byte >= 0xc0);
          assert.ok(lead > 0, 'the awkward row holds characters of several bytes');
          await database.copyFrom(`usage_records (${usageRowColumns.join(', ')})`, [
            bytes.subarray(0, lead + 1),
            bytes.subarray(lead + 1),
          ]);
          const stored = await database.query<{ request_id: string; requested_model: string }>(
            'SELECT request_id, requested_model FROM usage_records',
          );
          const models = new Map(stored.map((row) => [row.request_id, row.requested_model]));
          assert.equal(models.size, 2);
          assert.equal(models.get(records[0]!.requestId), records[0]!.requestedModel);
          assert.equal(models.get(awkward.requestId), awkwardText);
        } finally {
          await database.close();
        }
      });

    test('any text reads back as written, and a retried batch is stored once', async () => {
      const database = await harness.open();
      try {
        await migrate(database);
        const [plain, awkward] = records as [UsageRecord, UsageRecord];
        await insertUsageRecords(database, [plain, awkward], { format });
        const read = async () =>
          database.query<{
            request_id: string;
            requested_model: string;
            singles: string[];
            attempts: unknown;
            cost: string;
          }>(
            `SELECT request_id, requested_model, ARRAY[user_id, team_id, api_key_id, provider] AS singles,
                    attempts, cost_nanos::text AS cost
               FROM usage_records ORDER BY requested_at, request_id`,
          );
        const stored = await read();
        const awkwardRow = stored.find((row) => row.request_id === awkward.requestId)!;
        assert.equal(awkwardRow.requested_model, awkwardText);
        assert.deepEqual(awkwardRow.singles, [
          awkward.userId,
          awkward.teamId,
          awkward.apiKeyId,
          awkward.provider,
        ]);
        assert.deepEqual(awkwardRow.attempts, awkward.attempts);
        assert.equal(awkwardRow.cost, '9223372036854775807');

        if (format === copyRows) {
          // The same rows again as a first COPY collide on the key: why a retry never is one.
          await assert.rejects(insertUsageRecords(database, [plain], { format }), { code: '23505' });
        } else {
          assert.equal(await insertUsageRecords(database, [plain], { format }), 1, 'skipped, not refused');
        }
        const fresh = sampleRecord();
        assert.equal(await insertUsageRecords(database, [plain, awkward, fresh], { retry: true, format }), 3);
        assert.equal(await insertUsageRecords(database, [plain, awkward, fresh], { retry: true, format }), 3);
        const after = await read();
        assert.equal(after.length, 3, 'the stored rows are not stored twice; the new one is stored');
        assert.ok(after.some((row) => row.request_id === fresh.requestId));
        // The staging table is the session's and empty after each commit.
        const staged = await database.transaction(async (tx) => {
          await tx.query(
            'CREATE TEMP TABLE IF NOT EXISTS usage_records_staging (LIKE usage_records INCLUDING DEFAULTS) ON COMMIT DELETE ROWS',
          );
          return tx.query<{ n: number }>('SELECT count(*)::int AS n FROM usage_records_staging');
        });
        assert.equal(staged[0]!.n, 0);
      } finally {
        await database.close();
      }
    });
  });
}
