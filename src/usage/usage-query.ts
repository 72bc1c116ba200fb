/**
 * Reading usage records: the filters of the read API (one parser for the HTTP query string and
 * the CLI flags), the SQL WHERE they become, keyset ("cursor") pagination in three sort orders,
 * and the look-up of one record by request id. Every query of the read API carries the
 * organisation of the caller's admin key; only the operator CLI queries across organisations.
 */
import { GatewayError } from '../errors.ts';
import type { Queryable } from '../storage/database.ts';
import { usageOutcomes } from './usage-record.ts';
import type { UsageRow } from './usage-view.ts';

export const sortKeys = ['time', 'cost', 'latency'] as const;
export type SortKey = (typeof sortKeys)[number];
export type SortOrder = 'asc' | 'desc';
const statusClasses = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

export interface UsageFilter {
  /** Undefined only for the operator CLI, which reads every organisation. */
  readonly organizationId: string | undefined;
  /** Inclusive start and exclusive end of the request time. */
  readonly from: Date;
  readonly to: Date;
  readonly provider?: string | undefined;
  readonly model?: string | undefined;
  readonly apiKeyId?: string | undefined;
  readonly teamId?: string | undefined;
  readonly userId?: string | undefined;
  readonly endpoint?: string | undefined;
  readonly statusClass?: (typeof statusClasses)[number] | undefined;
  readonly outcome?: (typeof usageOutcomes)[number] | undefined;
  readonly requestId?: string | undefined;
}

export interface ListOptions {
  readonly sort: SortKey;
  readonly order: SortOrder;
  readonly limit: number;
  readonly cursor: string | undefined;
}

const defaultRangeMs = 86_400_000;
const maximumLimit = 1_000;
const maximumTextLength = 128;

/** Query-string names of the filters, shared by the API, the docs and the CLI flags. */
const textFilters = {
  provider: 'provider',
  model: 'model',
  api_key_id: 'apiKeyId',
  team_id: 'teamId',
  user_id: 'userId',
  endpoint: 'endpoint',
  request_id: 'requestId',
} as const satisfies Record<string, keyof UsageFilter>;

/** The query string of a request (`request.url` is a path with an optional `?query`). */
export function queryOf(request: { url?: string | undefined }): URLSearchParams {
  const url = request.url ?? '';
  const questionMark = url.indexOf('?');
  return new URLSearchParams(questionMark === -1 ? '' : url.slice(questionMark + 1));
}

function invalid(param: string, message: string): GatewayError {
  return new GatewayError('invalid_request', message, { details: { param } });
}

/** RFC 3339 date-time (or a plain date, read as UTC midnight). */
export function parseTime(param: string, value: string): Date {
  const plainDate = /^\d{4}-\d{2}-\d{2}$/.test(value);
  const time = new Date(plainDate ? `${value}T00:00:00Z` : value);
  if (!(plainDate || /^\d{4}-\d{2}-\d{2}T/.test(value)) || Number.isNaN(time.getTime()))
    throw invalid(param, `${param} must be an RFC 3339 date-time such as 2026-01-31T00:00:00Z`);
  return time;
}

/**
 * The filters of a query string. `organizationId` is the caller's organisation; a query naming
 * another one (`organization_id`) is refused, never silently narrowed.
 */
export function parseUsageFilter(
  query: URLSearchParams,
  organizationId: string | undefined,
  now: Date = new Date(),
): UsageFilter {
  const named = query.get('organization_id');
  if (named !== null && organizationId !== undefined && named !== organizationId)
    throw new GatewayError('organization_forbidden');
  const to = query.has('to') ? parseTime('to', query.get('to')!) : now;
  const from = query.has('from')
    ? parseTime('from', query.get('from')!)
    : new Date(to.getTime() - defaultRangeMs);
  if (from.getTime() >= to.getTime()) throw invalid('from', 'from must be before to');
  const filter: Record<string, unknown> = {
    organizationId: organizationId ?? named ?? undefined,
    from,
    to,
  };
  for (const [param, field] of Object.entries(textFilters)) {
    const value = query.get(param);
    if (value === null) continue;
    if (value.length === 0 || value.length > maximumTextLength)
      throw invalid(param, `${param} must be 1 to ${maximumTextLength} characters`);
    filter[field] = value;
  }
  const statusClass = query.get('status_class');
  if (statusClass !== null) {
    if (!(statusClasses as readonly string[]).includes(statusClass))
      throw invalid('status_class', `status_class must be one of ${statusClasses.join(', ')}`);
    filter.statusClass = statusClass;
  }
  const outcome = query.get('outcome');
  if (outcome !== null) {
    if (!(usageOutcomes as readonly string[]).includes(outcome))
      throw invalid('outcome', `outcome must be one of ${usageOutcomes.join(', ')}`);
    filter.outcome = outcome;
  }
  return filter as unknown as UsageFilter;
}

export function parseListOptions(query: URLSearchParams): ListOptions {
  const sort = query.get('sort') ?? 'time';
  if (!(sortKeys as readonly string[]).includes(sort))
    throw invalid('sort', `sort must be one of ${sortKeys.join(', ')}`);
  const order = query.get('order') ?? 'desc';
  if (order !== 'asc' && order !== 'desc') throw invalid('order', 'order must be asc or desc');
  const limitText = query.get('limit') ?? '100';
  const limit = Number(limitText);
  if (!/^\d+$/.test(limitText) || limit < 1 || limit > maximumLimit)
    throw invalid('limit', `limit must be an integer from 1 to ${maximumLimit}`);
  return { sort: sort as SortKey, order, limit, cursor: query.get('cursor') ?? undefined };
}

/** The WHERE clause of a filter; parameters are numbered from `$1 + offset`. */
export function filterSql(filter: UsageFilter, offset = 0): { where: string; params: unknown[] } {
  const params: unknown[] = [];
  const conditions: string[] = [];
  const add = (condition: (placeholder: string) => string, value: unknown) => {
    params.push(value);
    conditions.push(condition(`$${offset + params.length}`));
  };
  add((p) => `requested_at >= ${p}`, filter.from);
  add((p) => `requested_at < ${p}`, filter.to);
  if (filter.organizationId !== undefined) add((p) => `organization_id = ${p}`, filter.organizationId);
  if (filter.provider !== undefined) add((p) => `provider = ${p}`, filter.provider);
  if (filter.model !== undefined) add((p) => `model = ${p}`, filter.model);
  if (filter.apiKeyId !== undefined) add((p) => `api_key_id = ${p}`, filter.apiKeyId);
  if (filter.teamId !== undefined) add((p) => `team_id = ${p}`, filter.teamId);
  if (filter.userId !== undefined) add((p) => `user_id = ${p}`, filter.userId);
  if (filter.endpoint !== undefined) add((p) => `endpoint = ${p}`, filter.endpoint);
  if (filter.requestId !== undefined) add((p) => `request_id = ${p}`, filter.requestId);
  if (filter.outcome !== undefined) add((p) => `outcome = ${p}`, filter.outcome);
  if (filter.statusClass !== undefined) {
    const low = Number(filter.statusClass[0]) * 100;
    add((p) => `status >= ${p}::int`, low);
    add((p) => `status < ${p}::int`, low + 100);
  }
  return { where: conditions.join(' AND '), params };
}

/** The sort column and the SQL type its cursor value is cast to. */
const sortColumns: Record<SortKey, { column: string; type: string } | undefined> = {
  time: undefined,
  cost: { column: 'cost_nanos', type: 'bigint' },
  latency: { column: 'latency_ms', type: 'double precision' },
};

interface Cursor {
  /** Sort and order the cursor was made for: a cursor is only valid with them. */
  s: SortKey;
  o: SortOrder;
  /** The last row: sort value (as text), requested_at (ISO), id. */
  v: [string | null, string, string];
}

function encodeCursor(options: ListOptions, row: UsageRow): string {
  const value =
    options.sort === 'cost'
      ? row.cost_nanos.toString()
      : options.sort === 'latency'
        ? String(row.latency_ms)
        : null;
  const cursor: Cursor = {
    s: options.sort,
    o: options.order,
    v: [value, row.requested_at.toISOString(), row.id],
  };
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decodeCursor(options: ListOptions): Cursor | undefined {
  if (options.cursor === undefined) return undefined;
  let cursor: Cursor;
  try {
    cursor = JSON.parse(Buffer.from(options.cursor, 'base64url').toString('utf8')) as Cursor;
  } catch {
    throw invalid('cursor', 'cursor is not a cursor this API returned');
  }
  const valid =
    cursor !== null &&
    typeof cursor === 'object' &&
    Array.isArray(cursor.v) &&
    cursor.v.length === 3 &&
    typeof cursor.v[1] === 'string' &&
    !Number.isNaN(Date.parse(cursor.v[1])) &&
    typeof cursor.v[2] === 'string' &&
    /^[0-9a-f-]{36}$/.test(cursor.v[2]) &&
    (options.sort === 'time'
      ? cursor.v[0] === null
      : typeof cursor.v[0] === 'string' && cursor.v[0] !== '' && Number.isFinite(Number(cursor.v[0])));
  if (!valid) throw invalid('cursor', 'cursor is not a cursor this API returned');
  if (cursor.s !== options.sort || cursor.o !== options.order)
    throw invalid('cursor', 'the cursor was made for another sort or order; repeat them unchanged');
  return cursor;
}

export interface RecordPage {
  readonly rows: UsageRow[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  readonly nextCursor: string | null;
}

/**
 * One page of records in the sort order, with a keyset cursor: the next page starts strictly
 * after the last row's (sort value, requested_at, id), so pages neither skip nor repeat rows
 * while new records arrive, and no OFFSET scan grows with the page number.
 */
export async function listRecords(
  database: Queryable,
  filter: UsageFilter,
  options: ListOptions,
): Promise<RecordPage> {
  const { where, params } = filterSql(filter);
  const direction = options.order === 'desc' ? 'DESC' : 'ASC';
  const comparison = options.order === 'desc' ? '<' : '>';
  const sort = sortColumns[options.sort];
  const keys = sort === undefined ? ['requested_at', 'id'] : [sort.column, 'requested_at', 'id'];
  const conditions = [where];
  const cursor = decodeCursor(options);
  if (cursor !== undefined) {
    const values = sort === undefined ? cursor.v.slice(1) : cursor.v;
    const types = sort === undefined ? ['timestamptz', 'uuid'] : [sort.type, 'timestamptz', 'uuid'];
    const placeholders = values.map((value, index) => {
      params.push(value);
      return `$${params.length}::${types[index]}`;
    });
    conditions.push(`(${keys.join(', ')}) ${comparison} (${placeholders.join(', ')})`);
  }
  params.push(options.limit + 1);
  const rows = await database.query<UsageRow>(
    `SELECT * FROM usage_records WHERE ${conditions.join(' AND ')}
     ORDER BY ${keys.map((key) => `${key} ${direction}`).join(', ')} LIMIT $${params.length}`,
    params,
  );
  const more = rows.length > options.limit;
  const page = more ? rows.slice(0, options.limit) : rows;
  return { rows: page, nextCursor: more ? encodeCursor(options, page.at(-1)!) : null };
}

/**
 * The record of a request id in an organisation: the newest one when a client reused its
 * `X-Request-Id` for several requests. Undefined when there is none in that organisation,
 * whether or not another organisation has one.
 */
export async function findRecord(
  database: Queryable,
  organizationId: string,
  requestId: string,
): Promise<{ row: UsageRow; sameRequestId: number } | undefined> {
  const rows = await database.query<UsageRow & { same_request_id: bigint }>(
    `SELECT *, count(*) OVER () AS same_request_id FROM usage_records
     WHERE request_id = $1 AND organization_id = $2 ORDER BY requested_at DESC, id DESC LIMIT 1`,
    [requestId, organizationId],
  );
  const [row] = rows;
  if (row === undefined) return undefined;
  const { same_request_id: same, ...record } = row;
  return { row: record, sameRequestId: Number(same) };
}

/** Every record of a filter in time order, page by page (exports). */
export async function* iterateRecords(
  database: Queryable,
  filter: UsageFilter,
  pageSize = 1_000,
): AsyncGenerator<UsageRow[]> {
  let cursor: string | undefined;
  for (;;) {
    const page = await listRecords(database, filter, { sort: 'time', order: 'asc', limit: pageSize, cursor });
    if (page.rows.length > 0) yield page.rows;
    if (page.nextCursor === null) return;
    cursor = page.nextCursor;
  }
}
