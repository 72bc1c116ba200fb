/**
 * A stored usage record as the read API, the JSON Lines export and the CSV export show it.
 * Costs travel as decimal strings (`cost_nanos`, `cost_usd`): JSON numbers lose integers past
 * 2^53 in JavaScript, and a string keeps the exact nano-USD.
 */

/** A row of `usage_records` as the database port returns it (int8 → bigint, timestamptz → Date). */
export interface UsageRow {
  id: string;
  request_id: string;
  trace_id: string | null;
  requested_at: Date;
  recorded_at: Date;
  organization_id: string | null;
  team_id: string | null;
  user_id: string | null;
  api_key_id: string | null;
  provider: string | null;
  model: string | null;
  requested_model: string | null;
  response_model: string | null;
  endpoint: string;
  route: string;
  stream: boolean;
  stream_outcome: string | null;
  status: number;
  outcome: string;
  error_code: string | null;
  latency_ms: number;
  upstream_ms: number | null;
  gateway_overhead_ms: number | null;
  time_to_first_token_ms: number | null;
  plugin_overhead_ms: number;
  input_tokens: number;
  output_tokens: number;
  cached_input_tokens: number;
  cache_write_tokens: number;
  reasoning_tokens: number;
  audio_input_tokens: number;
  audio_output_tokens: number;
  image_input_tokens: number;
  tool_tokens: number | null;
  embeddings_tokens: number;
  billable_tokens: number;
  unit_kind: string | null;
  unit_quantity: string | null;
  cost_nanos: bigint;
  provider_request_id: string | null;
  provider_usage: unknown;
  attempts: unknown[];
  metadata: Record<string, unknown>;
}

const nanosPerUsd = 1_000_000_000n;

/** Nano-USD as a decimal USD string without trailing zeros: 13500n → "0.0000135". */
export function nanosToUsd(nanos: bigint): string {
  const negative = nanos < 0n;
  const magnitude = negative ? -nanos : nanos;
  const whole = magnitude / nanosPerUsd;
  const fraction = (magnitude % nanosPerUsd).toString().padStart(9, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction.length > 0 ? `.${fraction}` : ''}`;
}

export function statusClassOf(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'unknown';
}

/** The summary shape (list pages); `detail` adds the routing chain, provider usage and metadata. */
export function toRecordView(row: UsageRow, detail: boolean): Record<string, unknown> {
  const view: Record<string, unknown> = {
    object: 'usage.record',
    id: row.id,
    request_id: row.request_id,
    trace_id: row.trace_id,
    timestamp: row.requested_at.toISOString(),
    recorded_at: row.recorded_at.toISOString(),
    organization_id: row.organization_id,
    team_id: row.team_id,
    user_id: row.user_id,
    api_key_id: row.api_key_id,
    provider: row.provider,
    model: row.model,
    requested_model: row.requested_model,
    response_model: row.response_model,
    endpoint: row.endpoint,
    route: row.route,
    stream: row.stream,
    stream_outcome: row.stream_outcome,
    status: row.status,
    status_class: statusClassOf(row.status),
    outcome: row.outcome,
    error_code: row.error_code,
    latency_ms: row.latency_ms,
    upstream_ms: row.upstream_ms,
    gateway_overhead_ms: row.gateway_overhead_ms,
    time_to_first_token_ms: row.time_to_first_token_ms,
    plugin_overhead_ms: row.plugin_overhead_ms,
    tokens: {
      input: row.input_tokens,
      output: row.output_tokens,
      cached_input: row.cached_input_tokens,
      cache_write: row.cache_write_tokens,
      reasoning: row.reasoning_tokens,
      audio_input: row.audio_input_tokens,
      audio_output: row.audio_output_tokens,
      image_input: row.image_input_tokens,
      tool: row.tool_tokens,
      embeddings: row.embeddings_tokens,
      billable: row.billable_tokens,
    },
    unit: row.unit_kind === null ? null : { kind: row.unit_kind, quantity: row.unit_quantity },
    cost_nanos: row.cost_nanos.toString(),
    cost_usd: nanosToUsd(row.cost_nanos),
    provider_request_id: row.provider_request_id,
    attempt_count: row.attempts.length,
  };
  if (detail) {
    view.attempts = row.attempts;
    view.provider_usage = row.provider_usage;
    view.metadata = row.metadata;
  }
  return view;
}

/** CSV columns (RFC 4180): the scalar fields; the routing chain and metadata are in JSON Lines. */
export const csvColumns = [
  'id',
  'request_id',
  'trace_id',
  'timestamp',
  'organization_id',
  'team_id',
  'user_id',
  'api_key_id',
  'provider',
  'model',
  'response_model',
  'endpoint',
  'stream',
  'stream_outcome',
  'status',
  'outcome',
  'error_code',
  'latency_ms',
  'upstream_ms',
  'gateway_overhead_ms',
  'time_to_first_token_ms',
  'plugin_overhead_ms',
  'input_tokens',
  'output_tokens',
  'cached_input_tokens',
  'cache_write_tokens',
  'reasoning_tokens',
  'audio_input_tokens',
  'audio_output_tokens',
  'image_input_tokens',
  'embeddings_tokens',
  'billable_tokens',
  'cost_nanos',
  'cost_usd',
  'provider_request_id',
  'attempt_count',
] as const;

export function csvHeader(): string {
  return `${csvColumns.join(',')}\r\n`;
}

export function toCsvLine(row: UsageRow): string {
  const values: Record<(typeof csvColumns)[number], unknown> = {
    ...row,
    timestamp: row.requested_at.toISOString(),
    cost_usd: nanosToUsd(row.cost_nanos),
    attempt_count: row.attempts.length,
  };
  return `${csvColumns.map((column) => csvField(values[column])).join(',')}\r\n`;
}

export function toJsonLine(row: UsageRow): string {
  return `${JSON.stringify(toRecordView(row, true))}\n`;
}

/** RFC 4180: quote a field holding a comma, a quote or a line break, doubling inner quotes. */
function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'bigint' ? value.toString() : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
