/**
 * The organisation-scoped read API on a running gateway: admin keys against inference keys,
 * list (filters, request id search, three sort orders, keyset pagination), detail, export,
 * Traffic Analytics checked against an independent computation over the same records, and
 * every cross-organisation read refused (list, detail, analytics, export).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { UsageRecord } from '../src/usage/usage-record.ts';
import { sampleRecord } from '../src/usage/usage-test-records.ts';
import { insertUsageRecords } from '../src/usage/usage-writer.ts';
import { keys, postJson, startTestGateway, type TestGateway } from './helpers/gateway-harness.ts';
import { adminKeys, getJson, type Json, usageConfigYaml, usageEnv, waitForRecords } from './usage-helpers.ts';

/** Deterministic pseudo-random numbers (mulberry32), so a failure reproduces. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const aiEndpoints = new Set(['chat_completions', 'embeddings', 'messages', 'llm_chat']);

/** Records of every shape over the six hours before `end`, for one organisation. */
function seedRecords(organizationId: string, count: number, end: Date, seed: number): UsageRecord[] {
  const next = random(seed);
  const pick = <T>(values: readonly T[]): T => values[Math.floor(next() * values.length)]!;
  return Array.from({ length: count }, () => {
    const endpoint = pick(['chat_completions', 'embeddings', 'messages', 'llm_chat', 'models', 'other']);
    const ai = aiEndpoints.has(endpoint);
    const outcome = ai
      ? pick(['success', 'success', 'success', 'client_error', 'server_error', 'client_aborted'] as const)
      : 'success';
    const status = {
      success: 200,
      client_error: pick([400, 401, 403, 429]),
      server_error: pick([502, 504]),
      client_aborted: 499,
    }[outcome];
    const latencyMs = Math.round(next() * 2_000_000) / 1_000 + 0.5;
    const reachedUpstream = ai && outcome !== 'client_error';
    const upstreamMs = reachedUpstream ? latencyMs * (0.5 + next() * 0.45) : null;
    const input = ai && outcome === 'success' ? Math.floor(next() * 5_000) : 0;
    const output = ai && outcome === 'success' && endpoint !== 'embeddings' ? Math.floor(next() * 2_000) : 0;
    return sampleRecord({
      requestId: `seed-${organizationId}-${randomUUID()}`,
      requestedAt: new Date(end.getTime() - Math.floor(next() * 6 * 3_600_000) - 1),
      organizationId,
      apiKeyId: pick(['key-a', 'key-b']),
      teamId: pick(['team-a', null]),
      userId: pick(['user-a', 'user-b', null]),
      provider: ai ? pick(['mock-openai', 'mock-anthropic']) : null,
      model: ai ? pick(['chat', 'claude', 'embed']) : null,
      endpoint,
      route: `/v1/${endpoint}`,
      stream: ai && next() < 0.4,
      status,
      outcome,
      errorCode: outcome === 'success' ? null : 'upstream_error',
      latencyMs,
      upstreamMs,
      gatewayOverheadMs: upstreamMs === null ? null : latencyMs - upstreamMs,
      timeToFirstTokenMs: upstreamMs !== null && next() < 0.5 ? upstreamMs * next() : null,
      pluginOverheadMs: ai ? Math.round(next() * 5_000) / 1_000 : 0,
      tokens: {
        input,
        output,
        cachedInput: Math.floor(input * next() * 0.5),
        cacheWrite: 0,
        reasoning: Math.floor(output * next() * 0.3),
        audioInput: 0,
        audioOutput: 0,
        imageInput: 0,
        tool: null,
        embeddings: endpoint === 'embeddings' ? input : 0,
        billable: input + output,
      },
      costNanos: BigInt(input) * 150n + BigInt(output) * 600n + BigInt(Math.floor(next() * 1_000)),
      attempts: reachedUpstream
        ? [
            {
              provider: 'mock-openai',
              model: 'chat',
              started_after_ms: 1,
              duration_ms: upstreamMs!,
              status,
              outcome: 'success',
              error_code: null,
            },
          ]
        : [],
    });
  });
}

/** percentile_cont: linear interpolation between the two nearest ranks (PostgreSQL manual 9.21). */
function percentileCont(values: number[], fraction: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((left, right) => left - right);
  const position = fraction * (sorted.length - 1);
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  return sorted[lower]! + (sorted[upper]! - sorted[lower]!) * (position - lower);
}

const mean = (values: number[]) =>
  values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

/** The KPIs of docs/usage-records.md, computed here from the records themselves. */
function expectedKpis(records: UsageRecord[]) {
  const ai = records.filter((record) => aiEndpoints.has(record.endpoint));
  const count = (outcome: string) => records.filter((record) => record.outcome === outcome).length;
  const n = records.length;
  const overheads = records.flatMap((record) =>
    record.gatewayOverheadMs === null ? [] : [record.gatewayOverheadMs],
  );
  const ttfts = records.flatMap((record) =>
    record.timeToFirstTokenMs === null ? [] : [record.timeToFirstTokenMs],
  );
  const cost = records.reduce((total, record) => total + record.costNanos, 0n);
  const input = sum(records.map((record) => record.tokens.input));
  const output = sum(records.map((record) => record.tokens.output));
  const cached = sum(records.map((record) => record.tokens.cachedInput));
  const aiLatencySeconds = sum(ai.map((record) => record.latencyMs)) / 1000;
  const aiTokens = sum(ai.map((record) => record.tokens.input + record.tokens.output));
  return {
    requests: n,
    ai_requests: ai.length,
    other_requests: n - ai.length,
    successes: count('success'),
    client_errors: count('client_error'),
    server_errors: count('server_error'),
    client_aborts: count('client_aborted'),
    success_rate: n === 0 ? null : count('success') / n,
    error_rate: n === 0 ? null : (count('client_error') + count('server_error')) / n,
    availability: n === 0 ? null : 1 - count('server_error') / n,
    latency_ms: {
      p50: percentileCont(
        records.map((r) => r.latencyMs),
        0.5,
      ),
      p95: percentileCont(
        records.map((r) => r.latencyMs),
        0.95,
      ),
      p99: percentileCont(
        records.map((r) => r.latencyMs),
        0.99,
      ),
      mean: mean(records.map((r) => r.latencyMs)),
    },
    gateway_overhead_ms: { mean: mean(overheads), p95: percentileCont(overheads, 0.95) },
    time_to_first_token_ms: { p50: percentileCont(ttfts, 0.5), p95: percentileCont(ttfts, 0.95) },
    tokens: {
      input,
      output,
      cached_input: cached,
      cache_write: 0,
      reasoning: sum(records.map((r) => r.tokens.reasoning)),
      embeddings: sum(records.map((r) => r.tokens.embeddings)),
      billable: sum(records.map((r) => r.tokens.billable)),
      total: input + output,
    },
    cost_nanos: cost,
    per_request_nanos: ai.length === 0 ? null : (cost * 2n + BigInt(ai.length)) / (2n * BigInt(ai.length)),
    cache_hit_ratio: input === 0 ? null : cached / input,
    plugin_overhead_ms: {
      total: sum(ai.map((r) => r.pluginOverheadMs)),
      mean: mean(ai.map((r) => r.pluginOverheadMs)),
    },
    throughput: aiLatencySeconds === 0 ? null : aiTokens / aiLatencySeconds,
  };
}

function assertClose(actual: number | null, expected: number | null, what: string): void {
  if (expected === null || actual === null) {
    assert.equal(actual, expected, what);
    return;
  }
  assert.ok(
    Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected)),
    `${what}: ${actual} != ${expected}`,
  );
}

function assertKpis(actual: Json, records: UsageRecord[], what: string): void {
  const expected = expectedKpis(records);
  for (const field of [
    'requests',
    'ai_requests',
    'other_requests',
    'successes',
    'client_errors',
    'server_errors',
    'client_aborts',
  ])
    assert.equal(actual[field], expected[field as keyof typeof expected], `${what}: ${field}`);
  for (const field of ['success_rate', 'error_rate', 'availability'] as const)
    assertClose(actual[field], expected[field], `${what}: ${field}`);
  for (const field of ['p50', 'p95', 'p99', 'mean'] as const)
    assertClose(actual.latency_ms[field], expected.latency_ms[field], `${what}: latency ${field}`);
  assertClose(actual.gateway_overhead_ms.mean, expected.gateway_overhead_ms.mean, `${what}: overhead mean`);
  assertClose(actual.gateway_overhead_ms.p95, expected.gateway_overhead_ms.p95, `${what}: overhead p95`);
  assertClose(actual.time_to_first_token_ms.p50, expected.time_to_first_token_ms.p50, `${what}: ttft p50`);
  assertClose(actual.time_to_first_token_ms.p95, expected.time_to_first_token_ms.p95, `${what}: ttft p95`);
  assert.deepEqual(actual.tokens, expected.tokens, `${what}: tokens`);
  assert.equal(actual.cost.nanos, expected.cost_nanos.toString(), `${what}: cost`);
  assert.equal(
    actual.cost.per_request_nanos,
    expected.per_request_nanos?.toString() ?? null,
    `${what}: cost per request`,
  );
  assertClose(actual.cache.hit_ratio, expected.cache_hit_ratio, `${what}: cache hit ratio`);
  assertClose(actual.plugin_overhead_ms.total, expected.plugin_overhead_ms.total, `${what}: plugin total`);
  assertClose(actual.plugin_overhead_ms.mean, expected.plugin_overhead_ms.mean, `${what}: plugin mean`);
  assertClose(actual.throughput_tokens_per_second, expected.throughput, `${what}: throughput`);
}

describe('usage read API', () => {
  let harness: TestGateway;
  // Whole hours, so a 6-hour range holds exactly 72 five-minute and 6 one-hour buckets.
  const end = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
  const from = new Date(end.getTime() - 6 * 3_600_000);
  const range = `from=${from.toISOString()}&to=${end.toISOString()}`;
  const demoRecords = seedRecords('demo', 400, end, 1);
  const otherRecords = seedRecords('other', 120, end, 2);
  let api: string;

  before(async () => {
    harness = await startTestGateway({ configYaml: usageConfigYaml, env: usageEnv });
    api = `${harness.url}/v1/usage`;
    await insertUsageRecords(harness.gateway.usage.api.database, [...demoRecords, ...otherRecords]);
  });
  after(() => harness?.close());

  async function everyPage(query: string, key: string = adminKeys.demo): Promise<Json[]> {
    const rows: Json[] = [];
    let cursor: string | null = null;
    do {
      const page = await getJson(`${api}/records?${query}${cursor === null ? '' : `&cursor=${cursor}`}`, key);
      assert.equal(page.status, 200, page.text);
      rows.push(...page.json.data);
      cursor = page.json.next_cursor;
    } while (cursor !== null);
    return rows;
  }

  test('admin keys read usage; inference keys are refused, and admin keys cannot call models', async () => {
    assert.equal((await getJson(`${api}/records`)).status, 200);
    for (const key of [keys.demo, keys.all, 'sk-odock-admin-not-a-real-key']) {
      const refused = await getJson(`${api}/records`, key);
      assert.equal(refused.status, 401, key);
      assert.equal(refused.json.error.code, 'unauthorized');
    }
    const anonymous = await fetch(`${api}/analytics`);
    assert.equal(anonymous.status, 401);
    const asAdmin = await postJson(
      `${harness.url}/v1/chat/completions`,
      { model: 'chat', messages: [{ role: 'user', content: 'hi' }] },
      { authorization: `Bearer ${adminKeys.demo}` },
    );
    assert.equal(asAdmin.status, 401);
    assert.equal(asAdmin.json.error.code, 'unauthorized');
  });

  test('pages through a range newest first with a cursor: every record once, in order', async () => {
    const rows = await everyPage(`${range}&limit=37`);
    const expected = [...demoRecords].sort(
      (left, right) =>
        right.requestedAt.getTime() - left.requestedAt.getTime() || (right.id < left.id ? -1 : 1),
    );
    assert.deepEqual(
      rows.map((row) => row.id),
      expected.map((record) => record.id),
    );
    assert.ok(rows.every((row) => row.organization_id === 'demo'));
    assert.ok(rows.every((row) => row.attempts === undefined && typeof row.attempt_count === 'number'));
  });

  for (const [sort, value] of [
    ['cost', (record: UsageRecord) => Number(record.costNanos)],
    ['latency', (record: UsageRecord) => record.latencyMs],
  ] as const) {
    for (const order of ['desc', 'asc'] as const) {
      test(`sorts by ${sort} ${order} across pages`, async () => {
        const rows = await everyPage(`${range}&sort=${sort}&order=${order}&limit=100`);
        const direction = order === 'desc' ? -1 : 1;
        const expected = [...demoRecords].sort(
          (left, right) =>
            direction *
            (value(left) - value(right) ||
              left.requestedAt.getTime() - right.requestedAt.getTime() ||
              (left.id < right.id ? -1 : 1)),
        );
        assert.deepEqual(
          rows.map((row) => row.id),
          expected.map((record) => record.id),
        );
      });
    }
  }

  test('filters by provider, model, key, team, user, status class, outcome, endpoint and request id', async () => {
    const cases: Array<[string, (record: UsageRecord) => boolean]> = [
      ['provider=mock-anthropic', (r) => r.provider === 'mock-anthropic'],
      ['model=embed', (r) => r.model === 'embed'],
      ['api_key_id=key-b', (r) => r.apiKeyId === 'key-b'],
      ['team_id=team-a', (r) => r.teamId === 'team-a'],
      ['user_id=user-b', (r) => r.userId === 'user-b'],
      ['status_class=5xx', (r) => r.status >= 500 && r.status < 600],
      ['status_class=4xx', (r) => r.status >= 400 && r.status < 500],
      ['outcome=client_aborted', (r) => r.outcome === 'client_aborted'],
      ['endpoint=models', (r) => r.endpoint === 'models'],
      [`request_id=${demoRecords[7]!.requestId}`, (r) => r.requestId === demoRecords[7]!.requestId],
      [
        'provider=mock-openai&status_class=2xx&api_key_id=key-a',
        (r) => r.provider === 'mock-openai' && r.status === 200 && r.apiKeyId === 'key-a',
      ],
    ];
    for (const [query, predicate] of cases) {
      const rows = await everyPage(`${range}&${query}&limit=1000`);
      const expected = demoRecords.filter(predicate);
      assert.ok(expected.length > 0, `${query} selects something`);
      assert.deepEqual(rows.map((row) => row.id).sort(), expected.map((record) => record.id).sort(), query);
    }
  });

  test('rejects malformed queries with 400 invalid_request naming the parameter', async () => {
    const sortCursor = (await getJson(`${api}/records?${range}&limit=1&sort=cost`)).json.next_cursor;
    for (const [query, param] of [
      ['from=yesterday', 'from'],
      [`from=${end.toISOString()}&to=${from.toISOString()}`, 'from'],
      ['limit=0', 'limit'],
      ['limit=1001', 'limit'],
      ['sort=size', 'sort'],
      ['order=up', 'order'],
      ['status_class=2xy', 'status_class'],
      ['outcome=fine', 'outcome'],
      ['cursor=not-a-cursor', 'cursor'],
      [`${range}&sort=latency&cursor=${sortCursor}`, 'cursor'],
    ]) {
      const response = await getJson(`${api}/records?${query}`);
      assert.equal(response.status, 400, query);
      assert.equal(response.json.error.code, 'invalid_request');
      assert.equal(response.json.error.param, param, query);
    }
    const tooManyBuckets = await getJson(
      `${api}/analytics?from=2020-01-01T00:00:00Z&to=${end.toISOString()}&bucket=1m`,
    );
    assert.equal(tooManyBuckets.json.error.param, 'bucket');
    assert.equal((await getJson(`${api}/analytics?${range}&bucket=2m`)).json.error.param, 'bucket');
  });

  test('one record by request id, with its routing chain and breakdowns; a live request appears too', async () => {
    const seeded = demoRecords.find((record) => record.attempts.length > 0)!;
    const detail = await getJson(`${api}/records/${seeded.requestId}`);
    assert.equal(detail.status, 200, detail.text);
    assert.equal(detail.json.id, seeded.id);
    assert.deepEqual(detail.json.attempts, seeded.attempts);
    assert.deepEqual(detail.json.metadata, seeded.metadata);
    assert.deepEqual(detail.json.provider_usage, seeded.providerUsage);
    assert.equal(detail.json.cost_nanos, seeded.costNanos.toString());
    assert.equal(detail.json.tokens.input, seeded.tokens.input);
    assert.equal(detail.json.same_request_id_records, 1);

    const live = await postJson(`${harness.url}/v1/chat/completions`, {
      model: 'chat',
      messages: [{ role: 'user', content: 'find me' }],
    });
    const requestId = live.headers.get('x-request-id')!;
    await waitForRecords(harness.gateway, demoRecords.length + 1, 'demo');
    const found = await getJson(`${api}/records/${requestId}`);
    assert.equal(found.status, 200, found.text);
    assert.equal(found.json.request_id, requestId);
    assert.equal(found.json.api_key_id, 'demo-key');
    assert.equal(found.json.tokens.input, live.json.usage.prompt_tokens);
    assert.equal(found.json.route, '/v1/chat/completions');
    // The read API's own calls are not usage records.
    const [count] = await harness.gateway.usage.api.database.query<{ n: bigint }>(
      `SELECT count(*) AS n FROM usage_records WHERE endpoint = 'usage'`,
    );
    assert.equal(count!.n, 0n);
  });

  test('cross-organisation reads are refused: list, detail, analytics and export', async () => {
    const otherIds = new Set(otherRecords.map((record) => record.id));
    const otherRequestId = otherRecords[0]!.requestId;

    // List: only the caller's records, and naming the other organisation is refused.
    const listed = await everyPage(`${range}&limit=1000`);
    assert.ok(listed.length >= demoRecords.length);
    assert.ok(!listed.some((row) => otherIds.has(row.id)));
    assert.deepEqual(await everyPage(`${range}&request_id=${otherRequestId}`), []);
    const namedList = await getJson(`${api}/records?${range}&organization_id=other`);
    assert.equal(namedList.status, 403);
    assert.equal(namedList.json.error.code, 'organization_forbidden');

    // Detail: another organisation's record answers as if it did not exist.
    const detail = await getJson(`${api}/records/${otherRequestId}`);
    assert.equal(detail.status, 404);
    assert.equal(detail.json.error.code, 'usage_record_not_found');
    assert.equal((await getJson(`${api}/records/no-such-request`)).json.error.code, 'usage_record_not_found');
    assert.equal((await getJson(`${api}/records/${otherRequestId}?organization_id=other`)).status, 403);
    const ownDetail = await getJson(`${api}/records/${otherRequestId}`, adminKeys.other);
    assert.equal(ownDetail.status, 200, 'its own admin reads it');

    // Analytics: the other organisation's traffic is not counted.
    const analytics = await getJson(`${api}/analytics?${range}`);
    assert.equal(analytics.json.summary.requests, demoRecords.length);
    assert.equal(analytics.json.organization_id, 'demo');
    const namedAnalytics = await getJson(`${api}/analytics?${range}&organization_id=other`);
    assert.equal(namedAnalytics.status, 403);
    assert.equal(namedAnalytics.json.error.code, 'organization_forbidden');
    assert.equal(
      (await getJson(`${api}/analytics?${range}`, adminKeys.other)).json.summary.requests,
      otherRecords.length,
    );

    // Export: only the caller's records, and naming the other organisation is refused.
    const exported = await getJson(`${api}/export?${range}&format=jsonl`);
    const lines = exported.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.equal(lines.length, demoRecords.length);
    assert.ok(lines.every((line) => line.organization_id === 'demo' && !otherIds.has(line.id)));
    const namedExport = await getJson(`${api}/export?${range}&organization_id=other`);
    assert.equal(namedExport.status, 403);
    assert.equal(namedExport.json.error.code, 'organization_forbidden');
    const otherExport = await getJson(`${api}/export?${range}&format=csv`, adminKeys.other);
    assert.equal(otherExport.text.trim().split('\r\n').length, otherRecords.length + 1);
  });

  test('exports CSV and JSON Lines in time order with every record of the range', async () => {
    const csv = await fetch(`${api}/export?${range}&format=csv`, {
      headers: { authorization: `Bearer ${adminKeys.demo}` },
    });
    assert.equal(csv.headers.get('content-type'), 'text/csv; charset=utf-8');
    assert.match(csv.headers.get('content-disposition') ?? '', /attachment; filename="usage-demo-.*\.csv"/);
    const [header, ...lines] = (await csv.text()).trimEnd().split('\r\n');
    const columns = header!.split(',');
    assert.equal(lines.length, demoRecords.length);
    const byId = new Map(demoRecords.map((record) => [record.id, record]));
    let previous = '';
    for (const line of lines) {
      const fields = Object.fromEntries(line.split(',').map((value, index) => [columns[index], value]));
      const record = byId.get(fields.id!)!;
      assert.ok(record, line);
      assert.equal(fields.request_id, record.requestId);
      assert.equal(fields.cost_nanos, record.costNanos.toString());
      assert.equal(Number(fields.latency_ms), record.latencyMs);
      assert.equal(Number(fields.input_tokens), record.tokens.input);
      assert.ok(fields.timestamp! >= previous, 'time order');
      previous = fields.timestamp!;
    }
    const jsonl = await getJson(`${api}/export?${range}&format=jsonl&outcome=server_error`);
    const records = jsonl.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.equal(records.length, demoRecords.filter((record) => record.outcome === 'server_error').length);
    assert.ok(records.every((record) => Array.isArray(record.attempts)));
    assert.equal((await getJson(`${api}/export?${range}&format=xml`)).json.error.param, 'format');
  });

  test('analytics match an independent computation, for the whole slice and filtered slices', async () => {
    const slices: Array<[string, (record: UsageRecord) => boolean]> = [
      ['', () => true],
      ['provider=mock-openai', (r) => r.provider === 'mock-openai'],
      ['api_key_id=key-a&status_class=2xx', (r) => r.apiKeyId === 'key-a' && r.status === 200],
      ['model=embed', (r) => r.model === 'embed'],
      ['endpoint=models', (r) => r.endpoint === 'models'],
    ];
    for (const [query, predicate] of slices) {
      const response = await getJson(`${api}/analytics?${range}&${query}`);
      assert.equal(response.status, 200, response.text);
      assertKpis(response.json.summary, demoRecords.filter(predicate), `slice "${query}"`);
    }
  });

  test('analytics time series: buckets chosen from the range, each bucket matching its records', async () => {
    const response = await getJson(`${api}/analytics?${range}`);
    // Six hours: 5-minute buckets are the smallest giving at most 200 of them.
    assert.equal(response.json.bucket, '5m');
    assert.equal(response.json.bucket_seconds, 300);
    const series: Json[] = response.json.series;
    assert.equal(series.length, 72);
    assert.equal(sum(series.map((bucket) => bucket.requests)), demoRecords.length);
    for (const bucket of series) {
      const start = Date.parse(bucket.start);
      const inside = demoRecords.filter(
        (record) => record.requestedAt.getTime() >= start && record.requestedAt.getTime() < start + 300_000,
      );
      assertKpis(bucket, inside, `bucket ${bucket.start}`);
    }
    const hourly = await getJson(`${api}/analytics?${range}&bucket=1h`);
    assert.equal(hourly.json.series.length, 6);
    for (const bucket of hourly.json.series) {
      const start = Date.parse(bucket.start);
      const inside = demoRecords.filter(
        (record) => record.requestedAt.getTime() >= start && record.requestedAt.getTime() < start + 3_600_000,
      );
      assertKpis(bucket, inside, `hour ${bucket.start}`);
    }
    const week = await getJson(
      `${api}/analytics?from=${new Date(end.getTime() - 7 * 86_400_000).toISOString()}&to=${end.toISOString()}`,
    );
    assert.equal(week.json.bucket, '1h');
  });
});
