/**
 * `/metrics` against the catalog: every catalog metric is exposed under its exact name and
 * type, only policy labels appear, `promtool check metrics` accepts the live output, random
 * client input adds no series, and OBSERVABILITY_TENANT_LABELS drops tenant labels.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  allowedLabels,
  metricCatalog,
  runtimeLabels,
  runtimeMetricCatalog,
} from '../src/observability/catalog.ts';
import { keys, postJson, startTestGateway, type TestGateway } from './helpers/gateway-harness.ts';

interface Exposition {
  types: Map<string, string>;
  series: string[];
}

function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const series: string[] = [];
  for (const line of text.split('\n')) {
    const typeLine = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (typeLine) types.set(typeLine[1]!, typeLine[2]!);
    else if (line.length > 0 && !line.startsWith('#')) series.push(line.slice(0, line.lastIndexOf(' ')));
  }
  return { types, series };
}

const prometheusType = {
  counter: 'counter',
  histogram: 'histogram',
  gauge: 'gauge',
  updowncounter: 'gauge',
} as const;

/** Traffic that touches every stage that exists today. */
async function warmUp(url: string): Promise<void> {
  const chat = { model: 'chat', messages: [{ role: 'user', content: 'warm' }] };
  await postJson(`${url}/v1/chat/completions`, chat);
  await postJson(`${url}/v1/chat/completions`, { ...chat, stream: true });
  await postJson(
    `${url}/v1/chat/completions`,
    { ...chat, model: 'fails-500' },
    { authorization: `Bearer ${keys.all}` },
  );
  await postJson(
    `${url}/v1/chat/completions`,
    { ...chat, model: 'midstream', stream: true },
    { authorization: `Bearer ${keys.all}` },
  );
  await postJson(`${url}/v1/embeddings`, { model: 'embed', input: 'x' });
  await postJson(
    `${url}/v1/messages`,
    { model: 'claude', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] },
    { 'x-api-key': keys.demo },
  );
  await postJson(`${url}/v1/chat/completions`, { ...chat, model: 'no-such-model' });
  await postJson(`${url}/v1/nope`, chat);
  await fetch(`${url}/healthz`);
}

describe('/metrics', () => {
  let harness: TestGateway;
  let scrape: () => Promise<string>;

  before(async () => {
    harness = await startTestGateway();
    scrape = async () => (await fetch(`${harness.url}/metrics`)).text();
    await warmUp(harness.url);
  });
  after(() => harness.close());

  test('exposes every catalog metric under its exact name and type, with policy labels only', async () => {
    const { types, series } = parseExposition(await scrape());
    for (const definition of [...Object.values(metricCatalog), ...Object.values(runtimeMetricCatalog)]) {
      assert.equal(types.get(definition.name), prometheusType[definition.type], `${definition.name} type`);
    }
    const catalogNames = new Set<string>(
      [...Object.values(metricCatalog), ...Object.values(runtimeMetricCatalog)].map((m) => m.name),
    );
    const extraLabels = new Set<string>(Object.values(runtimeLabels).flat());
    for (const line of series) {
      const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)![0];
      const base = name.replace(/_(bucket|sum|count)$/, '');
      assert.ok(catalogNames.has(name) || catalogNames.has(base), `series ${name} is not in the catalog`);
      for (const [, label] of line.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) {
        assert.ok(
          (allowedLabels as readonly string[]).includes(label!) || extraLabels.has(label!) || label === 'le',
          `label ${label} on ${name} is outside the label policy`,
        );
      }
    }
  });

  test('real behaviour fills the series of the stages that exist', async () => {
    const text = await scrape();
    const expectations = [
      /gateway_requests_total\{route="\/v1\/chat\/completions",endpoint="chat_completions",status_class="2xx",stream="true"\} [1-9]/,
      /gateway_requests_total\{route="unmatched",endpoint="other",status_class="4xx",stream="false"\} 1/,
      /gateway_provider_requests_total\{provider="broken-500",model="fails-500",endpoint="chat_completions",status_class="5xx"\} 1/,
      /gateway_provider_errors_total\{provider="broken-500",model="fails-500",error_class="upstream_error"\} 1/,
      /gateway_stream_sessions_total\{provider="broken-midstream",outcome="upstream_error"\} 1/,
      /gateway_stream_sessions_total\{provider="mock-openai",outcome="completed"\} [1-9]/,
      /gateway_tokens_total\{token_class="input",provider="mock-openai",model="chat",organization_id="demo",api_key_id="demo-key"\} [1-9]/,
      /gateway_tokens_total\{token_class="embeddings",provider="mock-openai",model="embed",organization_id="demo",api_key_id="demo-key"\} [1-9]/,
      /gateway_cost_usd_total\{provider="mock-anthropic",model="claude",organization_id="demo"\} \d/,
      /gateway_provider_time_to_first_token_seconds_count\{provider="mock-openai",model="chat"\} [1-9]/,
      /gateway_routing_decisions_total\{decision="exhausted"\} 1/,
      /gateway_routing_errors_total\{error_class="model_not_found"\} 1/,
      /gateway_cache_lookups_total\{cache="auth",cache_hit="true"\} [1-9]/,
      /gateway_logs_enqueued_total [1-9]/,
      /gateway_build_info\{version="dev"\} 1/,
      /process_runtime_uptime_seconds \d/,
      /v8js_memory_heap_used_bytes\{v8js_heap_space_name="old_space"\} [1-9]/,
    ];
    for (const expectation of expectations) assert.match(text, expectation);
  });

  test('promtool check metrics reports no problem on the live output', async () => {
    const result = spawnSync('promtool', ['check', 'metrics'], { input: await scrape(), encoding: 'utf8' });
    assert.equal(result.error, undefined, 'promtool must be installed (Debian package prometheus)');
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    assert.equal(`${result.stdout}${result.stderr}`.trim(), '');
  });

  test('thousands of requests with random models, paths and headers add no series', async () => {
    const random = () => randomBytes(8).toString('hex');
    const gatewaySeries = async () =>
      parseExposition(await scrape()).series.filter((line) => line.startsWith('gateway_'));
    const sendRandom = async (count: number) => {
      const requests: Array<Promise<unknown>> = [];
      for (let index = 0; index < count; index += 1) {
        const headers = {
          authorization: `Bearer ${keys.demo}`,
          [`x-${random()}`]: random(),
          'x-request-id': random(),
        };
        const kind = index % 4;
        if (kind === 0)
          requests.push(
            postJson(
              `${harness.url}/v1/chat/completions`,
              { model: random(), messages: [{ role: 'user', content: 'x' }] },
              headers,
            ),
          );
        else if (kind === 1)
          requests.push(postJson(`${harness.url}/v1/${random()}/${random()}?q=${random()}`, {}, headers));
        else if (kind === 2)
          requests.push(postJson(`${harness.url}/v1/embeddings`, { model: random(), input: 'x' }, headers));
        else
          requests.push(
            postJson(
              `${harness.url}/v1/chat/completions`,
              { model: 'chat', messages: [] },
              { authorization: `Bearer sk-${random()}` },
            ),
          );
        if (requests.length === 50) await Promise.all(requests.splice(0));
      }
      await Promise.all(requests);
    };
    // A first round creates the bounded series these kinds of request touch (status classes, routes).
    await sendRandom(40);
    const before = await gatewaySeries();
    await sendRandom(2_000);
    const after = await gatewaySeries();
    assert.deepEqual(
      after.map((line) => line),
      before.map((line) => line),
      'the same series, none added by random model names, paths or headers',
    );
  });
});

describe('OBSERVABILITY_TENANT_LABELS', () => {
  for (const [mode, expected] of [
    ['none', 'token_class="input",provider="mock-openai",model="chat"}'],
    ['organization', 'token_class="input",provider="mock-openai",model="chat",organization_id="demo"}'],
  ] as const) {
    test(`${mode} keeps tenant ids off the token series`, async () => {
      const harness = await startTestGateway({ env: { OBSERVABILITY_TENANT_LABELS: mode } });
      try {
        await postJson(`${harness.url}/v1/chat/completions`, {
          model: 'chat',
          messages: [{ role: 'user', content: 'x' }],
        });
        const text = await (await fetch(`${harness.url}/metrics`)).text();
        assert.ok(
          text.includes(`gateway_tokens_total{${expected}`),
          text
            .split('\n')
            .filter((line) => line.startsWith('gateway_tokens_total'))
            .join('\n'),
        );
        assert.doesNotMatch(text, /api_key_id=/);
      } finally {
        await harness.close();
      }
    });
  }
});
