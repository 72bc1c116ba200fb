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

/** Column name → SQL type, in insert order; the keys of each JSON row object. */
const columns = [
  ['id', 'uuid'],
  ['request_id', 'text'],
  ['trace_id', 'text'],
  ['requested_at', 'timestamptz'],
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
  ['plugin_overhead_ms', 'double precision'],
  ['input_tokens', 'integer'],
  ['output_tokens', 'integer'],
  ['cached_input_tokens', 'integer'],
  ['cache_write_tokens', 'integer'],
  ['reasoning_tokens', 'integer'],
  ['audio_input_tokens', 'integer'],
  ['audio_output_tokens', 'integer'],
  ['image_input_tokens', 'integer'],
  ['tool_tokens', 'integer'],
  ['embeddings_tokens', 'integer'],
  ['billable_tokens', 'integer'],
  ['unit_kind', 'text'],
  ['unit_quantity', 'numeric'],
  ['cost_nanos', 'bigint'],
  ['provider_request_id', 'text'],
  ['provider_usage', 'jsonb'],
  ['attempts', 'jsonb'],
  ['metadata', 'jsonb'],
] as const;

const names = columns.map(([name]) => name).join(', ');
const insertSql = `INSERT INTO usage_records (${names})
  SELECT ${names} FROM json_to_recordset($1::json) AS batch(${columns.map(([name, type]) => `${name} ${type}`).join(', ')})
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

/** One record as the JSON object `json_to_recordset` reads: its keys are the column names. */
export function usageRowJson(record: UsageRecord): string {
  return JSON.stringify(toRow(record));
}

function toRow(record: UsageRecord): Record<(typeof columns)[number][0], unknown> {
  const { tokens } = record;
  return {
    id: record.id,
    request_id: record.requestId,
    trace_id: record.traceId,
    requested_at: record.requestedAt.toISOString(),
    organization_id: record.organizationId,
    team_id: record.teamId,
    user_id: record.userId,
    api_key_id: record.apiKeyId,
    provider: record.provider,
    model: record.model,
    requested_model: record.requestedModel,
    response_model: record.responseModel,
    endpoint: record.endpoint,
    route: record.route,
    stream: record.stream,
    stream_outcome: record.streamOutcome,
    status: record.status,
    outcome: record.outcome,
    error_code: record.errorCode,
    latency_ms: record.latencyMs,
    upstream_ms: record.upstreamMs,
    gateway_overhead_ms: record.gatewayOverheadMs,
    time_to_first_token_ms: record.timeToFirstTokenMs,
    plugin_overhead_ms: record.pluginOverheadMs,
    input_tokens: tokens.input,
    output_tokens: tokens.output,
    cached_input_tokens: tokens.cachedInput,
    cache_write_tokens: tokens.cacheWrite,
    reasoning_tokens: tokens.reasoning,
    audio_input_tokens: tokens.audioInput,
    audio_output_tokens: tokens.audioOutput,
    image_input_tokens: tokens.imageInput,
    tool_tokens: tokens.tool,
    embeddings_tokens: tokens.embeddings,
    billable_tokens: tokens.billable,
    unit_kind: record.unitKind,
    unit_quantity: record.unitQuantity,
    // A JSON string: a JSON number would lose precision past 2^53 on the way in.
    cost_nanos: record.costNanos.toString(),
    provider_request_id: record.providerRequestId,
    provider_usage: record.providerUsage ?? null,
    attempts: record.attempts,
    metadata: record.metadata,
  };
}
