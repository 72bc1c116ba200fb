/**
 * Writes a batch of usage records in one multi-row INSERT. The batch travels as ONE json
 * parameter expanded by `json_to_recordset`, so a statement carries any number of rows
 * without approaching the protocol's 65,535-parameter limit, and the same SQL runs on PGlite
 * and PostgreSQL. `json` rather than `jsonb`: the document is read once, so building the
 * binary jsonb form of the whole batch first is wasted work. `ON CONFLICT DO NOTHING` on the (requested_at, id) key makes a retried
 * batch idempotent: a write that committed but whose answer was lost is not duplicated.
 * Each row's JSON is built once (`usageRowJson`); a batch is those strings joined.
 */
import type { Queryable } from '../storage/database.ts';
import type { UsageRecord } from './usage-record.ts';

/**
 * Column name → SQL type of its JSON row value, in insert order (the keys of each JSON row
 * object), and the SELECT's expression where the stored value is made from the row's. A zero of
 * the token, cost and plugin-overhead columns is left out of the row (most token classes are
 * unused by most calls), as is a null of any column: `json_to_recordset` reads a missing key as
 * NULL, and `COALESCE` puts the zero back. A row is then about a third shorter, to serialise here
 * and to parse in PostgreSQL.
 */
const columns = [
  ['id', 'uuid'],
  ['request_id', 'text'],
  ['trace_id', 'text'],
  // Epoch milliseconds in the row (Date#toISOString costs more than the rest of the row's
  // fields together); the SELECT makes the timestamp.
  ['requested_at', 'bigint', 'to_timestamp(requested_at / 1000.0)'],
  ['organization_id', 'text'],
  ['team_id', 'text'],
  ['user_id', 'text'],
  ['api_key_id', 'text'],
  ['provider', 'text'],
  ['model', 'text'],
  ['requested_model', 'text'],
  ['response_model', 'text'],
  ['endpoint', 'text'],
  ['route', 'text'],
  ['stream', 'boolean'],
  ['stream_outcome', 'text'],
  ['status', 'smallint'],
  ['outcome', 'text'],
  ['error_code', 'text'],
  ['latency_ms', 'double precision'],
  ['upstream_ms', 'double precision'],
  ['gateway_overhead_ms', 'double precision'],
  ['time_to_first_token_ms', 'double precision'],
  ['plugin_overhead_ms', 'double precision', 'COALESCE(plugin_overhead_ms, 0)'],
  ['input_tokens', 'integer', 'COALESCE(input_tokens, 0)'],
  ['output_tokens', 'integer', 'COALESCE(output_tokens, 0)'],
  ['cached_input_tokens', 'integer', 'COALESCE(cached_input_tokens, 0)'],
  ['cache_write_tokens', 'integer', 'COALESCE(cache_write_tokens, 0)'],
  ['reasoning_tokens', 'integer', 'COALESCE(reasoning_tokens, 0)'],
  ['audio_input_tokens', 'integer', 'COALESCE(audio_input_tokens, 0)'],
  ['audio_output_tokens', 'integer', 'COALESCE(audio_output_tokens, 0)'],
  ['image_input_tokens', 'integer', 'COALESCE(image_input_tokens, 0)'],
  ['tool_tokens', 'integer'],
  ['embeddings_tokens', 'integer', 'COALESCE(embeddings_tokens, 0)'],
  ['billable_tokens', 'integer', 'COALESCE(billable_tokens, 0)'],
  ['unit_kind', 'text'],
  ['unit_quantity', 'numeric'],
  ['cost_nanos', 'bigint', 'COALESCE(cost_nanos, 0)'],
  ['provider_request_id', 'text'],
  ['provider_usage', 'jsonb'],
  ['attempts', 'jsonb'],
  ['metadata', 'jsonb'],
] as const satisfies ReadonlyArray<Column>;

type Column = readonly [name: string, type: string, select?: string];
type ColumnName = (typeof columns)[number][0];

const names = columns.map(([name]) => name).join(', ');
const selected = columns.map((column: Column) => column[2] ?? column[0]).join(', ');
const insertSql = `INSERT INTO usage_records (${names})
  SELECT ${selected} FROM json_to_recordset($1::json) AS batch(${columns.map(([name, type]) => `${name} ${type}`).join(', ')})
  ON CONFLICT DO NOTHING`;

/** Inserts the records; resolves to the number of rows the statement was given. */
export async function insertUsageRecords(
  database: Queryable,
  records: readonly UsageRecord[],
): Promise<number> {
  return insertUsageRows(database, records.map(usageRowJson));
}

/**
 * Inserts records already serialised by `usageRowJson` (the collector serialises each record
 * once, when it is accepted, so a flush only joins strings): the parameter is the same JSON
 * array text `JSON.stringify(records.map(toRow))` would give.
 */
export async function insertUsageRows(database: Queryable, rows: readonly string[]): Promise<number> {
  if (rows.length === 0) return 0;
  await database.query(insertSql, [jsonArray(rows)]);
  return rows.length;
}

/**
 * `[row,row,...]` made by ONE join, so the parameter is a flat string. `'[' + rows.join(',') + ']'`
 * would be a rope that the driver flattens again when it encodes the parameter: a second copy
 * of the whole batch (a large-object allocation, and the costliest part of a flush).
 */
function jsonArray(rows: readonly string[]): string {
  const parts = rows.slice();
  const last = parts.length - 1;
  parts[0] = `[${parts[0]}`;
  parts[last] = `${parts[last]}]`;
  return parts.join(',');
}

/**
 * One record as the JSON object `json_to_recordset` reads: its keys are the column names. An
 * `undefined` value is a key JSON.stringify leaves out (read back as NULL, or as 0 through the
 * SELECT's COALESCE for the columns that name one in `columns`).
 */
export function usageRowJson(record: UsageRecord): string {
  return JSON.stringify(toRow(record));
}

const absent = <T>(value: T | null): T | undefined => (value === null ? undefined : value);
const absentIfZero = (value: number): number | undefined => (value === 0 ? undefined : value);

function toRow(record: UsageRecord): Record<ColumnName, unknown> {
  const { tokens } = record;
  return {
    id: record.id,
    request_id: record.requestId,
    trace_id: absent(record.traceId),
    requested_at: record.requestedAt.getTime(),
    organization_id: absent(record.organizationId),
    team_id: absent(record.teamId),
    user_id: absent(record.userId),
    api_key_id: absent(record.apiKeyId),
    provider: absent(record.provider),
    model: absent(record.model),
    requested_model: absent(record.requestedModel),
    response_model: absent(record.responseModel),
    endpoint: record.endpoint,
    route: record.route,
    stream: record.stream,
    stream_outcome: absent(record.streamOutcome),
    status: record.status,
    outcome: record.outcome,
    error_code: absent(record.errorCode),
    latency_ms: record.latencyMs,
    upstream_ms: absent(record.upstreamMs),
    gateway_overhead_ms: absent(record.gatewayOverheadMs),
    time_to_first_token_ms: absent(record.timeToFirstTokenMs),
    plugin_overhead_ms: absentIfZero(record.pluginOverheadMs),
    input_tokens: absentIfZero(tokens.input),
    output_tokens: absentIfZero(tokens.output),
    cached_input_tokens: absentIfZero(tokens.cachedInput),
    cache_write_tokens: absentIfZero(tokens.cacheWrite),
    reasoning_tokens: absentIfZero(tokens.reasoning),
    audio_input_tokens: absentIfZero(tokens.audioInput),
    audio_output_tokens: absentIfZero(tokens.audioOutput),
    image_input_tokens: absentIfZero(tokens.imageInput),
    tool_tokens: absent(tokens.tool),
    embeddings_tokens: absentIfZero(tokens.embeddings),
    billable_tokens: absentIfZero(tokens.billable),
    unit_kind: absent(record.unitKind),
    unit_quantity: absent(record.unitQuantity),
    // A JSON string: a JSON number would lose precision past 2^53 on the way in.
    cost_nanos: record.costNanos === 0n ? undefined : record.costNanos.toString(),
    provider_request_id: absent(record.providerRequestId),
    provider_usage: record.providerUsage ?? undefined,
    attempts: record.attempts,
    metadata: record.metadata,
  };
}
