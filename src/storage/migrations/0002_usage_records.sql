-- Usage records (spec/gateway.md section 5): one row per gateway call, written asynchronously
-- by the usage collector (src/usage/usage-collector.ts). Runs unchanged on PGlite and PostgreSQL.
--
-- Never stored here: prompts, completions, request or response bodies, API keys, provider
-- credentials. The only client-chosen texts are the request id (validated by the server) and
-- the model name the client asked for (cut to 128 characters).
--
-- The table is range-partitioned by day on `requested_at` (declarative partitioning). The
-- partitions themselves are created ahead of time and dropped after the retention period by
-- src/usage/usage-partitions.ts; the default partition only catches a row that arrives for a
-- day without a partition (it is moved into the day's partition when that one is created).

CREATE TABLE usage_records (
  -- Identity of the record, made by the gateway: a client may reuse an X-Request-Id, this never
  -- repeats, and it makes a retried batch insert idempotent (ON CONFLICT DO NOTHING).
  id uuid NOT NULL,
  -- The X-Request-Id the client received; joins the record to logs (request_id) and spans.
  request_id text NOT NULL,
  -- Trace id (32 hex) of the request's root span; null when telemetry did not start one.
  trace_id text,
  -- When the gateway received the request (the partition key and the "time" of the record).
  requested_at timestamptz NOT NULL,
  -- When the record reached the store; `usage tail` follows it.
  recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- The principal: null when the request was refused before its key was recognised.
  organization_id text,
  team_id text,
  user_id text,
  api_key_id text,
  -- Configured names (the model that answered after routing, its provider).
  provider text,
  model text,
  requested_model text,
  response_model text,
  endpoint text NOT NULL,
  route text NOT NULL,
  stream boolean NOT NULL,
  stream_outcome text CHECK (stream_outcome IN ('completed', 'client_aborted', 'upstream_error')),
  status smallint NOT NULL,
  -- success | client_error | server_error | client_aborted (see docs/usage-records.md).
  outcome text NOT NULL CHECK (outcome IN ('success', 'client_error', 'server_error', 'client_aborted')),
  error_code text,
  -- Milliseconds. Overhead = latency minus the upstream time; null when no upstream call was made.
  latency_ms double precision NOT NULL,
  upstream_ms double precision,
  gateway_overhead_ms double precision,
  time_to_first_token_ms double precision,
  plugin_overhead_ms double precision NOT NULL DEFAULT 0,
  -- Token counts per class, as the provider reported them (0 when it reported none).
  input_tokens integer NOT NULL DEFAULT 0,
  output_tokens integer NOT NULL DEFAULT 0,
  cached_input_tokens integer NOT NULL DEFAULT 0,
  cache_write_tokens integer NOT NULL DEFAULT 0,
  reasoning_tokens integer NOT NULL DEFAULT 0,
  audio_input_tokens integer NOT NULL DEFAULT 0,
  audio_output_tokens integer NOT NULL DEFAULT 0,
  image_input_tokens integer NOT NULL DEFAULT 0,
  -- No adapter reports tool tokens apart from input/output yet: null until one does.
  tool_tokens integer,
  embeddings_tokens integer NOT NULL DEFAULT 0,
  billable_tokens integer NOT NULL DEFAULT 0,
  -- Per-unit billing (images, seconds of audio, ...) for models priced per unit; null otherwise.
  unit_kind text,
  unit_quantity numeric,
  -- Integer nano-USD (1e-9 USD): sums are exact, no floating-point drift.
  cost_nanos bigint NOT NULL DEFAULT 0,
  provider_request_id text,
  -- The provider's own usage object, verbatim (token counts only; never content).
  provider_usage jsonb,
  -- The routing chain: one object per upstream attempt, in order.
  attempts jsonb NOT NULL DEFAULT '[]'::jsonb,
  -- Plugin executions with durations, SafetySec decisions, rate-limit stage outcomes.
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  PRIMARY KEY (requested_at, id)
) PARTITION BY RANGE (requested_at);

CREATE TABLE usage_records_default PARTITION OF usage_records DEFAULT;

-- The read paths of the API, all inside one organisation: newest first (and keyset cursor),
-- by key, most expensive, slowest; plus the request id search and the tail by arrival in the
-- store (BRIN: recorded_at grows with the physical order, so the index stays tiny).
CREATE INDEX usage_records_organization_time_idx ON usage_records (organization_id, requested_at DESC, id DESC);
CREATE INDEX usage_records_organization_key_time_idx ON usage_records (organization_id, api_key_id, requested_at DESC);
CREATE INDEX usage_records_organization_cost_idx ON usage_records (organization_id, cost_nanos DESC, requested_at DESC, id DESC);
CREATE INDEX usage_records_organization_latency_idx ON usage_records (organization_id, latency_ms DESC, requested_at DESC, id DESC);
CREATE INDEX usage_records_request_id_idx ON usage_records (request_id);
CREATE INDEX usage_records_recorded_at_idx ON usage_records USING brin (recorded_at);
