/**
 * The telemetry catalog: the ONE machine-readable copy of `spec/telemetry-contract.md`.
 * Instruments are registered from it, nothing else in the code spells a metric name, and the
 * tests of the stack (dashboards, recording and alert rules) check every query against it.
 * A name here is an API: renaming one is a breaking change; add a new one instead.
 */

/** Label policy (contract section 3): values bounded by configuration or code, never client input. */
export const allowedLabels = [
  'provider',
  'model',
  'route',
  'endpoint',
  'plugin_name',
  'plugin_stage',
  'ratelimit_stage',
  'ratelimit_module',
  'security_module',
  'decision',
  'status_class',
  'stream',
  'cache',
  'cache_hit',
  'async_pool_name',
  'token_class',
  'error_class',
  'outcome',
  'organization_id',
  'api_key_id',
] as const;
export type MetricLabel = (typeof allowedLabels)[number];

/** Labels allowed only on the token and cost counters (contract decision on tenant labels). */
export const tenantLabels = ['organization_id', 'api_key_id'] as const satisfies readonly MetricLabel[];

export type MetricType = 'counter' | 'histogram' | 'gauge' | 'updowncounter';

export interface MetricDefinition {
  /** Prometheus exposition name (counters include `_total`, histograms their unit suffix). */
  readonly name: string;
  /** OpenTelemetry instrument name. */
  readonly otelName: string;
  readonly type: MetricType;
  /** UCUM unit of the OpenTelemetry instrument. */
  readonly unit: string;
  readonly description: string;
  readonly labels: readonly MetricLabel[];
  /** Histogram bucket upper bounds (in the instrument's unit). */
  readonly buckets?: readonly number[];
  /** The lifecycle stage that emits it; `registered` ones appear at zero until their stage exists. */
  readonly stage:
    | 'http'
    | 'provider'
    | 'plugin'
    | 'routing'
    | 'ratelimit'
    | 'security'
    | 'cache'
    | 'stream'
    | 'usage'
    | 'budget'
    | 'tokens'
    | 'async'
    | 'logger'
    | 'process';
}

const requestSeconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120] as const;
const overheadSeconds = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
] as const;
const firstTokenSeconds = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30] as const;
const streamSeconds = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600] as const;
const stageSeconds = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5] as const;
const attemptCounts = [1, 2, 3, 4, 5, 8] as const;
const batchSizes = [1, 5, 10, 25, 50, 100, 250, 500, 1000] as const;
const flushSeconds = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1] as const;

const requestLabels = [
  'route',
  'endpoint',
  'status_class',
  'stream',
] as const satisfies readonly MetricLabel[];

export const metricCatalog = {
  // Requests
  requestsTotal: {
    name: 'gateway_requests_total',
    otelName: 'gateway.requests.total',
    type: 'counter',
    unit: '{request}',
    description: 'Requests answered by the gateway.',
    labels: requestLabels,
    stage: 'http',
  },
  requestDuration: {
    name: 'gateway_request_duration_seconds',
    otelName: 'gateway.request.duration',
    type: 'histogram',
    unit: 's',
    description: 'Time from request arrival to the end of the response.',
    labels: requestLabels,
    buckets: requestSeconds,
    stage: 'http',
  },
  requestsInFlight: {
    name: 'gateway_requests_in_flight',
    otelName: 'gateway.requests.in_flight',
    type: 'updowncounter',
    unit: '{request}',
    description: 'Requests being handled now.',
    labels: ['route'],
    stage: 'http',
  },
  overheadDuration: {
    name: 'gateway_overhead_duration_seconds',
    otelName: 'gateway.overhead.duration',
    type: 'histogram',
    unit: 's',
    description:
      'Time spent in the gateway itself: before the first upstream byte was requested plus after the last one arrived.',
    labels: ['route', 'endpoint'],
    buckets: overheadSeconds,
    stage: 'http',
  },
  // Providers
  providerRequestsTotal: {
    name: 'gateway_provider_requests_total',
    otelName: 'gateway.provider.requests.total',
    type: 'counter',
    unit: '{request}',
    description: 'Upstream provider attempts.',
    labels: ['provider', 'model', 'endpoint', 'status_class'],
    stage: 'provider',
  },
  providerRequestDuration: {
    name: 'gateway_provider_request_duration_seconds',
    otelName: 'gateway.provider.request.duration',
    type: 'histogram',
    unit: 's',
    description: 'Duration of one upstream attempt, to the last byte.',
    labels: ['provider', 'model', 'endpoint'],
    buckets: requestSeconds,
    stage: 'provider',
  },
  providerErrorsTotal: {
    name: 'gateway_provider_errors_total',
    otelName: 'gateway.provider.errors.total',
    type: 'counter',
    unit: '{error}',
    description: 'Failed upstream attempts by class.',
    labels: ['provider', 'model', 'error_class'],
    stage: 'provider',
  },
  providerTimeToFirstToken: {
    name: 'gateway_provider_time_to_first_token_seconds',
    otelName: 'gateway.provider.time_to_first_token',
    type: 'histogram',
    unit: 's',
    description: 'Time from the upstream request to its first content chunk.',
    labels: ['provider', 'model'],
    buckets: firstTokenSeconds,
    stage: 'provider',
  },
  // Plugins
  pluginExecutionsTotal: {
    name: 'gateway_plugin_executions_total',
    otelName: 'gateway.plugin.executions.total',
    type: 'counter',
    unit: '{execution}',
    description: 'Plugin executions by decision.',
    labels: ['plugin_name', 'plugin_stage', 'decision'],
    stage: 'plugin',
  },
  pluginExecutionDuration: {
    name: 'gateway_plugin_execution_duration_seconds',
    otelName: 'gateway.plugin.execution.duration',
    type: 'histogram',
    unit: 's',
    description: 'Duration of one plugin execution.',
    labels: ['plugin_name', 'plugin_stage'],
    buckets: stageSeconds,
    stage: 'plugin',
  },
  pluginErrorsTotal: {
    name: 'gateway_plugin_errors_total',
    otelName: 'gateway.plugin.errors.total',
    type: 'counter',
    unit: '{error}',
    description: 'Plugin executions that failed.',
    labels: ['plugin_name', 'plugin_stage'],
    stage: 'plugin',
  },
  // Routing
  routingDecisionsTotal: {
    name: 'gateway_routing_decisions_total',
    otelName: 'gateway.routing.decisions.total',
    type: 'counter',
    unit: '{decision}',
    description: 'Routing outcomes: direct, rerouted, exhausted.',
    labels: ['decision'],
    stage: 'routing',
  },
  routingDuration: {
    name: 'gateway_routing_duration_seconds',
    otelName: 'gateway.routing.duration',
    type: 'histogram',
    unit: 's',
    description: 'Time to resolve the model and its candidates.',
    labels: [],
    buckets: stageSeconds,
    stage: 'routing',
  },
  routingAttempts: {
    name: 'gateway_routing_attempts',
    otelName: 'gateway.routing.attempts',
    type: 'histogram',
    unit: '{attempt}',
    description: 'Upstream attempts per request.',
    labels: [],
    buckets: attemptCounts,
    stage: 'routing',
  },
  routingErrorsTotal: {
    name: 'gateway_routing_errors_total',
    otelName: 'gateway.routing.errors.total',
    type: 'counter',
    unit: '{error}',
    description: 'Requests that could not be routed, by class.',
    labels: ['error_class'],
    stage: 'routing',
  },
  // Rate limit, security, cache
  ratelimitDecisionsTotal: {
    name: 'gateway_ratelimit_decisions_total',
    otelName: 'gateway.ratelimit.decisions.total',
    type: 'counter',
    unit: '{decision}',
    description: 'Rate-limit decisions per stage and module.',
    labels: ['ratelimit_stage', 'ratelimit_module', 'decision'],
    stage: 'ratelimit',
  },
  ratelimitRejectionsTotal: {
    name: 'gateway_ratelimit_rejections_total',
    otelName: 'gateway.ratelimit.rejections.total',
    type: 'counter',
    unit: '{rejection}',
    description: 'Requests rejected by a rate limit.',
    labels: ['ratelimit_stage', 'ratelimit_module'],
    stage: 'ratelimit',
  },
  securityModuleRunsTotal: {
    name: 'gateway_security_module_runs_total',
    otelName: 'gateway.security.module.runs.total',
    type: 'counter',
    unit: '{run}',
    description: 'SafetySec module runs.',
    labels: ['security_module', 'plugin_stage'],
    stage: 'security',
  },
  securityBlocksTotal: {
    name: 'gateway_security_blocks_total',
    otelName: 'gateway.security.blocks.total',
    type: 'counter',
    unit: '{block}',
    description: 'Requests or responses blocked by a SafetySec module.',
    labels: ['security_module'],
    stage: 'security',
  },
  securityRedactionsTotal: {
    name: 'gateway_security_redactions_total',
    otelName: 'gateway.security.redactions.total',
    type: 'counter',
    unit: '{redaction}',
    description: 'Redactions applied by a SafetySec module.',
    labels: ['security_module'],
    stage: 'security',
  },
  securityDecisionsTotal: {
    name: 'gateway_security_decisions_total',
    otelName: 'gateway.security.decisions.total',
    type: 'counter',
    unit: '{decision}',
    description: 'SafetySec decisions: allow, block, redact.',
    labels: ['security_module', 'decision'],
    stage: 'security',
  },
  cacheLookupsTotal: {
    name: 'gateway_cache_lookups_total',
    otelName: 'gateway.cache.lookups.total',
    type: 'counter',
    unit: '{lookup}',
    description: 'Cache look-ups by cache and hit.',
    labels: ['cache', 'cache_hit'],
    stage: 'cache',
  },
  // Streaming
  streamSessionsTotal: {
    name: 'gateway_stream_sessions_total',
    otelName: 'gateway.stream.sessions.total',
    type: 'counter',
    unit: '{session}',
    description: 'Streams by outcome: completed, client_aborted, upstream_error.',
    labels: ['provider', 'outcome'],
    stage: 'stream',
  },
  streamDuration: {
    name: 'gateway_stream_duration_seconds',
    otelName: 'gateway.stream.duration',
    type: 'histogram',
    unit: 's',
    description: 'Duration of a streamed response.',
    labels: ['provider'],
    buckets: streamSeconds,
    stage: 'stream',
  },
  // Usage and budgets
  usagePublishTotal: {
    name: 'gateway_usage_publish_total',
    otelName: 'gateway.usage.publish.total',
    type: 'counter',
    unit: '{record}',
    description: 'Usage records handed to the collector, by outcome.',
    labels: ['outcome'],
    stage: 'usage',
  },
  usageEnqueueErrorsTotal: {
    name: 'gateway_usage_enqueue_errors_total',
    otelName: 'gateway.usage.enqueue_errors.total',
    type: 'counter',
    unit: '{record}',
    description: 'Usage records lost because the queue was full.',
    labels: [],
    stage: 'usage',
  },
  usageIngestErrorsTotal: {
    name: 'gateway_usage_ingest_errors_total',
    otelName: 'gateway.usage.ingest_errors.total',
    type: 'counter',
    unit: '{record}',
    description: 'Usage records that could not be built from a finished request.',
    labels: [],
    stage: 'usage',
  },
  usageFlushErrorsTotal: {
    name: 'gateway_usage_flush_errors_total',
    otelName: 'gateway.usage.flush_errors.total',
    type: 'counter',
    unit: '{flush}',
    description: 'Failed batch writes of usage records (retried).',
    labels: [],
    stage: 'usage',
  },
  usageFlushedTotal: {
    name: 'gateway_usage_flushed_total',
    otelName: 'gateway.usage.flushed.total',
    type: 'counter',
    unit: '{record}',
    description: 'Usage records written to the store.',
    labels: [],
    stage: 'usage',
  },
  usageQueueDepth: {
    name: 'gateway_usage_queue_depth',
    otelName: 'gateway.usage.queue_depth',
    type: 'gauge',
    unit: '{record}',
    description: 'Usage records waiting to be written.',
    labels: [],
    stage: 'usage',
  },
  budgetDecisionsTotal: {
    name: 'gateway_budget_decisions_total',
    otelName: 'gateway.budget.decisions.total',
    type: 'counter',
    unit: '{decision}',
    description: 'Budget decisions: reserved, settled, released, rejected.',
    labels: ['decision'],
    stage: 'budget',
  },
  // Tokens and cost
  tokensTotal: {
    name: 'gateway_tokens_total',
    otelName: 'gateway.tokens.total',
    type: 'counter',
    unit: '{token}',
    description: 'Tokens by class, as the provider reported them.',
    labels: ['token_class', 'provider', 'model', 'organization_id', 'api_key_id'],
    stage: 'tokens',
  },
  costUsdTotal: {
    name: 'gateway_cost_usd_total',
    otelName: 'gateway.cost.usd.total',
    type: 'counter',
    unit: '[USD]',
    description: 'Cost in USD computed from the model pricing.',
    labels: ['provider', 'model', 'organization_id'],
    stage: 'tokens',
  },
  // Async pools
  asyncQueueDepth: {
    name: 'gateway_async_queue_depth',
    otelName: 'gateway.async.queue_depth',
    type: 'gauge',
    unit: '{task}',
    description: 'Tasks waiting in an async pool.',
    labels: ['async_pool_name'],
    stage: 'async',
  },
  asyncTasksTotal: {
    name: 'gateway_async_tasks_total',
    otelName: 'gateway.async.tasks.total',
    type: 'counter',
    unit: '{task}',
    description: 'Async pool tasks by outcome.',
    labels: ['async_pool_name', 'outcome'],
    stage: 'async',
  },
  asyncTaskDuration: {
    name: 'gateway_async_task_duration_seconds',
    otelName: 'gateway.async.task.duration',
    type: 'histogram',
    unit: 's',
    description: 'Duration of an async pool task.',
    labels: ['async_pool_name'],
    buckets: stageSeconds,
    stage: 'async',
  },
  // Logger pipeline
  logsEnqueuedTotal: {
    name: 'gateway_logs_enqueued_total',
    otelName: 'gateway.logs.enqueued.total',
    type: 'counter',
    unit: '{record}',
    description: 'Log records accepted by the asynchronous logger.',
    labels: [],
    stage: 'logger',
  },
  logsDroppedTotal: {
    name: 'gateway_logs_dropped_total',
    otelName: 'gateway.logs.dropped.total',
    type: 'counter',
    unit: '{record}',
    description: 'Log records dropped because the queue was full.',
    labels: [],
    stage: 'logger',
  },
  logsWriteErrorsTotal: {
    name: 'gateway_logs_write_errors_total',
    otelName: 'gateway.logs.write_errors.total',
    type: 'counter',
    unit: '{error}',
    description: 'Failed writes of log batches.',
    labels: [],
    stage: 'logger',
  },
  logsBatchSize: {
    name: 'gateway_logs_batch_size',
    otelName: 'gateway.logs.batch_size',
    type: 'histogram',
    unit: '{record}',
    description: 'Log records per written batch.',
    labels: [],
    buckets: batchSizes,
    stage: 'logger',
  },
  logsQueueDepth: {
    name: 'gateway_logs_queue_depth',
    otelName: 'gateway.logs.queue_depth',
    type: 'gauge',
    unit: '{record}',
    description: 'Log records waiting to be written.',
    labels: [],
    stage: 'logger',
  },
  logsFlushDuration: {
    name: 'gateway_logs_flush_duration_seconds',
    otelName: 'gateway.logs.flush.duration',
    type: 'histogram',
    unit: 's',
    description: 'Time to write one log batch.',
    labels: [],
    buckets: flushSeconds,
    stage: 'logger',
  },
} as const satisfies Record<string, MetricDefinition>;

export type MetricKey = keyof typeof metricCatalog;

/**
 * Process runtime series (contract decision: the Node.js/V8 equivalents of the Go runtime
 * series, under OpenTelemetry semantic-convention names). `service_metrics_missing` keys on these.
 */
export const runtimeMetricCatalog = {
  eventLoopDelayP50: {
    name: 'nodejs_eventloop_delay_p50_seconds',
    otelName: 'nodejs.eventloop.delay.p50',
    type: 'gauge',
    unit: 's',
    description: 'Event loop delay, 50th percentile.',
    labels: [],
    stage: 'process',
  },
  eventLoopDelayP90: {
    name: 'nodejs_eventloop_delay_p90_seconds',
    otelName: 'nodejs.eventloop.delay.p90',
    type: 'gauge',
    unit: 's',
    description: 'Event loop delay, 90th percentile.',
    labels: [],
    stage: 'process',
  },
  eventLoopDelayP99: {
    name: 'nodejs_eventloop_delay_p99_seconds',
    otelName: 'nodejs.eventloop.delay.p99',
    type: 'gauge',
    unit: 's',
    description: 'Event loop delay, 99th percentile.',
    labels: [],
    stage: 'process',
  },
  eventLoopDelayMax: {
    name: 'nodejs_eventloop_delay_max_seconds',
    otelName: 'nodejs.eventloop.delay.max',
    type: 'gauge',
    unit: 's',
    description: 'Event loop delay, maximum.',
    labels: [],
    stage: 'process',
  },
  eventLoopUtilization: {
    name: 'nodejs_eventloop_utilization_ratio',
    otelName: 'nodejs.eventloop.utilization',
    type: 'gauge',
    unit: '1',
    description: 'Event loop utilization since the previous collection.',
    labels: [],
    stage: 'process',
  },
  heapUsed: {
    name: 'v8js_memory_heap_used_bytes',
    otelName: 'v8js.memory.heap.used',
    type: 'gauge',
    unit: 'By',
    description: 'V8 heap used, by heap space.',
    labels: [],
    stage: 'process',
  },
  heapLimit: {
    name: 'v8js_memory_heap_limit_bytes',
    otelName: 'v8js.memory.heap.limit',
    type: 'gauge',
    unit: 'By',
    description: 'V8 heap size, by heap space.',
    labels: [],
    stage: 'process',
  },
  gcDuration: {
    name: 'v8js_gc_duration_seconds',
    otelName: 'v8js.gc.duration',
    type: 'histogram',
    unit: 's',
    description: 'Garbage collection pauses, by kind.',
    labels: [],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    stage: 'process',
  },
  uptime: {
    name: 'process_runtime_uptime_seconds',
    otelName: 'process.runtime.uptime',
    type: 'gauge',
    unit: 's',
    description: 'Seconds since the process started.',
    labels: [],
    stage: 'process',
  },
  residentMemory: {
    name: 'process_resident_memory_bytes',
    otelName: 'process.memory.usage',
    type: 'gauge',
    unit: 'By',
    description: 'Resident set size.',
    labels: [],
    stage: 'process',
  },
  cpuTime: {
    name: 'process_cpu_seconds_total',
    otelName: 'process.cpu.time',
    type: 'counter',
    unit: 's',
    description: 'User and system CPU time.',
    labels: [],
    stage: 'process',
  },
  buildInfo: {
    name: 'gateway_build_info',
    otelName: 'gateway.build.info',
    type: 'gauge',
    unit: '1',
    description: 'Always 1; the version label names the running build.',
    labels: [],
    stage: 'process',
  },
} as const satisfies Record<string, MetricDefinition>;

/** Labels the runtime series carry beyond the policy list (bounded by V8 and the build itself). */
export const runtimeLabels = {
  heapUsed: ['v8js_heap_space_name'],
  heapLimit: ['v8js_heap_space_name'],
  gcDuration: ['v8js_gc_type'],
  buildInfo: ['version'],
} as const;

/** Span names (contract section 4). */
export const spanNames = {
  httpRequest: 'http.request',
  auth: 'gateway.auth',
  requestDecode: 'gateway.request.decode',
  routeResolve: 'gateway.route.resolve',
  ratelimitEvaluate: 'gateway.ratelimit.evaluate',
  ratelimitStage: 'gateway.ratelimit.stage',
  securityEvaluate: 'gateway.security.evaluate',
  securityModule: 'gateway.security.module',
  pluginPipeline: 'gateway.plugin.pipeline',
  pluginExecute: 'gateway.plugin.execute',
  providerRoute: 'gateway.provider.route',
  providerRequest: 'gateway.provider.request',
  providerStream: 'gateway.provider.stream',
  cacheLookup: 'gateway.cache.lookup',
  storageRedis: 'gateway.storage.redis',
  storagePostgres: 'gateway.storage.postgres',
  budgetEnforce: 'gateway.budget.enforce',
  usageCollect: 'gateway.usage.collect',
  publishUsage: 'gateway.publish.usage',
} as const;

/** Span attribute names (contract section 4), including the GenAI semantic conventions (copied, not imported: they are incubating). */
export const spanAttributes = {
  organizationId: 'organization.id',
  requestId: 'gateway.request_id',
  provider: 'gateway.provider',
  module: 'gateway.module',
  pluginChain: 'gateway.plugin.chain',
  pluginName: 'gateway.plugin.name',
  pluginKind: 'gateway.plugin.kind',
  pluginStage: 'gateway.plugin.stage',
  securityModule: 'gateway.security.module',
  ratelimitStage: 'gateway.ratelimit.stage',
  ratelimitModule: 'gateway.ratelimit.module',
  route: 'gateway.route',
  model: 'gateway.model',
  endpoint: 'gateway.endpoint',
  stream: 'gateway.stream',
  cacheHit: 'gateway.cache.hit',
  decision: 'gateway.decision',
  retryCount: 'gateway.retry_count',
  budgetWindow: 'gateway.budget.window',
  usagePublisher: 'gateway.usage.publisher',
  errorClass: 'error.class',
  genAiOperationName: 'gen_ai.operation.name',
  genAiProviderName: 'gen_ai.provider.name',
  genAiRequestModel: 'gen_ai.request.model',
  genAiResponseModel: 'gen_ai.response.model',
  genAiUsageInputTokens: 'gen_ai.usage.input_tokens',
  genAiUsageOutputTokens: 'gen_ai.usage.output_tokens',
  genAiResponseFinishReasons: 'gen_ai.response.finish_reasons',
} as const;

/** Log correlation fields (contract section 5). */
export const logFields = [
  'trace_id',
  'span_id',
  'request_id',
  'organization_id',
  'provider',
  'model',
  'route',
  'endpoint',
  'module',
  'plugin_chain',
  'plugin_name',
  'plugin_stage',
  'security_module',
  'ratelimit_stage',
  'ratelimit_module',
  'decision',
] as const;

/** Resource identity on every log line, span and OTLP metric. */
export const resourceLogFields = [
  'service.name',
  'service.instance.id',
  'deployment.environment.name',
] as const;

/** Every exposition name, for tests that check dashboards and rules against the catalog. */
export function allMetricNames(): string[] {
  return [...Object.values(metricCatalog), ...Object.values(runtimeMetricCatalog)].map(
    (metric) => metric.name,
  );
}
