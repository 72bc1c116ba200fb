/**
 * Writes batches of usage records, in the form each database takes best (`usageRowFormat`):
 *
 * - PostgreSQL: one `COPY usage_records (...) FROM STDIN` in the text format. The collector turns
 *   each record into a line of tab-separated values when it accepts it (`usageRowText`) and
 *   keeps the line's UTF-8 bytes; a batch is those bytes sent as they lie. The server parses no
 *   SQL and no JSON per row: about 21 µs of its CPU per row with the table's seven indexes,
 *   against 35-39 µs for the INSERT below (docs/performance-history.md). COPY has no ON CONFLICT, so a
 *   batch attempted before (the write failed or timed out, and may have committed all the same)
 *   is copied into a temporary staging table and moved with `INSERT ... ON CONFLICT DO NOTHING`
 *   on the (requested_at, id) key in one transaction: a retried batch is never stored twice.
 * - PGlite: one multi-row INSERT whose rows travel as ONE json parameter expanded by
 *   `json_to_recordset` (`usageRowJson`), with `ON CONFLICT DO NOTHING`, so every attempt is
 *   idempotent. PGlite runs inside the gateway's process, and its COPY from `/dev/blob` wrote
 *   about half the rows per second of this INSERT (13,300 against 23,800 in
 *   `bench/usage-throughput.ts`). `json` rather than `jsonb`: the document is read once, so
 *   building the binary jsonb form of the whole batch first is wasted work.
 */
import type { Database } from '../storage/database.ts';
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

/** The columns of a row, in its order: the keys of a JSON row, the fields of a COPY line. */
export const usageRowColumns: readonly ColumnName[] = columns.map(([name]) => name);

const names = usageRowColumns.join(', ');

/** How a batch of usage records reaches one kind of database. */
export interface UsageRowFormat {
  readonly name: 'copy' | 'insert';
  /** One record as its row of a batch: made once, when the collector accepts the record. */
  row(record: UsageRecord): string;
  /**
   * Writes rows made by `row`, each as its UTF-8 bytes (the collector keeps them outside V8's
   * heap, see usage-collector.ts). `retry`: they may be stored already (an earlier attempt failed
   * or timed out after it reached the server) and must not be stored twice.
   */
  write(database: Database, rows: readonly Uint8Array[], retry: boolean): Promise<void>;
}

/** COPY for PostgreSQL; the JSON INSERT for PGlite (see the top of this file). */
export function usageRowFormat(database: Pick<Database, 'kind'>): UsageRowFormat {
  return database.kind === 'postgres' ? copyRows : insertRows;
}

export interface WriteOptions {
  /** The rows may already be stored: write them idempotently. */
  readonly retry?: boolean;
  /** Default: the database's own (`usageRowFormat`). */
  readonly format?: UsageRowFormat;
}

/** Writes the records in one batch; resolves to the number of rows the write was given. */
export async function insertUsageRecords(
  database: Database,
  records: readonly UsageRecord[],
  options: WriteOptions = {},
): Promise<number> {
  if (records.length === 0) return 0;
  const format = options.format ?? usageRowFormat(database);
  const rows = records.map((record) => Buffer.from(format.row(record), 'utf8'));
  await format.write(database, rows, options.retry ?? false);
  return records.length;
}

const copyTarget = `usage_records (${names})`;
const staging = 'usage_records_staging';
// LIKE copies the columns and their NOT NULL; INCLUDING DEFAULTS fills recorded_at, which no
// line carries (the move's INSERT takes usage_records' own default again).
const createStaging = `CREATE TEMP TABLE IF NOT EXISTS ${staging} (LIKE usage_records INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`;
const moveStaged = `INSERT INTO usage_records (${names}) SELECT ${names} FROM ${staging} ON CONFLICT DO NOTHING`;

export const copyRows: UsageRowFormat = {
  name: 'copy',
  row: usageRowText,
  async write(database, rows, retry) {
    if (rows.length === 0) return;
    const pieces = adjacentJoined(rows);
    if (!retry) {
      await database.copyFrom(copyTarget, pieces);
      return;
    }
    await database.transaction(async (tx) => {
      await tx.query(createStaging);
      await tx.copyFrom(`${staging} (${names})`, pieces);
      await tx.query(moveStaged);
    });
  },
};

/**
 * The rows as few pieces as they lie in memory: rows that follow each other in one buffer (the
 * collector's slabs) become one view of it, so a batch is a message or two, not one per row,
 * and nothing is copied.
 */
export function adjacentJoined(rows: readonly Uint8Array[]): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let index = 0;
  while (index < rows.length) {
    const first = rows[index]!;
    let end = first.byteOffset + first.byteLength;
    index += 1;
    let next = rows[index];
    while (next !== undefined && next.buffer === first.buffer && next.byteOffset === end) {
      end += next.byteLength;
      index += 1;
      next = rows[index];
    }
    const length = end - first.byteOffset;
    pieces.push(length === first.byteLength ? first : Buffer.from(first.buffer, first.byteOffset, length));
  }
  return pieces;
}

const selected = columns.map((column: Column) => column[2] ?? column[0]).join(', ');
const insertSql = `INSERT INTO usage_records (${names})
  SELECT ${selected} FROM json_to_recordset($1::json) AS batch(${columns.map(([name, type]) => `${name} ${type}`).join(', ')})
  ON CONFLICT DO NOTHING`;

/** Idempotent on every attempt (ON CONFLICT DO NOTHING), so `retry` changes nothing. */
export const insertRows: UsageRowFormat = {
  name: 'insert',
  row: usageRowJson,
  async write(database, rows) {
    if (rows.length === 0) return;
    const decoder = new TextDecoder();
    await database.query(insertSql, [jsonArray(rows.map((row) => decoder.decode(row)))]);
  },
};

/**
 * One record as a line of COPY's text format: the values of `usageRowColumns` separated by tabs,
 * `\N` for NULL, ending in a newline. Made by ONE join, so the line is a flat string that the
 * collector copies into its slab as it is: built with `+` it would be a rope of some eighty
 * pieces, to be flattened (one more copy) before its bytes can be written.
 */
export function usageRowText(record: UsageRecord): string {
  const { tokens } = record;
  return [
    text(record.id),
    text(record.requestId),
    text(record.traceId),
    timestamp(record.requestedAt),
    text(record.organizationId),
    text(record.teamId),
    text(record.userId),
    text(record.apiKeyId),
    text(record.provider),
    text(record.model),
    text(record.requestedModel),
    text(record.responseModel),
    text(record.endpoint),
    text(record.route),
    record.stream ? 't' : 'f',
    text(record.streamOutcome),
    record.status,
    text(record.outcome),
    text(record.errorCode),
    float(record.latencyMs),
    float(record.upstreamMs),
    float(record.gatewayOverheadMs),
    float(record.timeToFirstTokenMs),
    float(record.pluginOverheadMs),
    tokens.input,
    tokens.output,
    tokens.cachedInput,
    tokens.cacheWrite,
    tokens.reasoning,
    tokens.audioInput,
    tokens.audioOutput,
    tokens.imageInput,
    tokens.tool ?? nullText,
    tokens.embeddings,
    tokens.billable,
    text(record.unitKind),
    float(record.unitQuantity),
    record.costNanos,
    text(record.providerRequestId),
    json(record.providerUsage),
    json(record.attempts),
    `${json(record.metadata)}\n`,
  ].join('\t');
}

const nullText = '\\N';

/** The characters COPY's text format reads specially inside a value (tab is the delimiter). */
const special = /[\\\t\n\r]/;
const specialEverywhere = /[\\\t\n\r]/g;
const escapes: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const escapeCharacter = (character: string) => escapes[character]!;

function text(value: string | null): string {
  if (value === null) return nullText;
  return special.test(value) ? value.replace(specialEverywhere, escapeCharacter) : value;
}

/**
 * A fractional number that is not finite is NULL, as it was in JSON (a NOT NULL column then
 * refuses the row): PostgreSQL would store NaN. The integer columns need no check: the join
 * writes a number as JavaScript prints it, and a NaN or a fraction there is refused.
 */
function float(value: number | null): number | string {
  return value !== null && Number.isFinite(value) ? value : nullText;
}

/** JSON text never holds a raw tab, newline or carriage return: only its backslashes need doubling. */
function json(value: unknown): string {
  const serialised = value === null || value === undefined ? undefined : JSON.stringify(value);
  if (serialised === undefined) return nullText;
  return serialised.includes('\\') ? serialised.replaceAll('\\', '\\\\') : serialised;
}

/**
 * `YYYY-MM-DDTHH:MM:SS.mmmZ`. Date#toISOString costs more than the rest of the line, and the
 * records of one second share all but the milliseconds: the prefix is made once per second.
 */
let prefixSecond = Number.NaN;
let prefix = '';
function timestamp(date: Date): string {
  const epochMs = date.getTime();
  const second = Math.floor(epochMs / 1000);
  if (second !== prefixSecond) {
    const iso = new Date(second * 1000).toISOString();
    // Years past 9999 have a longer prefix (+010000-01-01T...): keep everything before the dot.
    prefix = iso.slice(0, iso.indexOf('.'));
    prefixSecond = second;
  }
  const ms = epochMs - second * 1000;
  return `${prefix}.${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`;
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
