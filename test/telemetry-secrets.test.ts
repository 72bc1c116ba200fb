/**
 * Never logged, never traced, never labelled (telemetry contract section 5): secrets planted in
 * bodies, keys, headers and a provider credential, driven through success, error and streaming
 * paths, appear nowhere in stdout, the log file, the exported spans or /metrics.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { keys, postJson, startTestGateway, type TestGateway } from './helpers/gateway-harness.ts';
import { type OtlpReceiver, startOtlpReceiver } from './helpers/otlp-receiver.ts';

describe('secrets stay out of telemetry', () => {
  let harness: TestGateway;
  let receiver: OtlpReceiver;
  let logDirectory: string;
  const secret = (label: string) => `PLANTED${label}${randomBytes(6).toString('hex')}`;
  const planted = {
    prompt: secret('PROMPT'),
    system: secret('SYSTEM'),
    wrongKey: `sk-odock-${secret('WRONGKEY')}`,
    customHeader: secret('HEADER'),
    providerCredential: secret('PROVIDERCRED'),
    anthropicKey: `sk-odock-${secret('ANTHROPICKEY')}`,
  };

  before(async () => {
    receiver = await startOtlpReceiver();
    logDirectory = await mkdtemp(join(tmpdir(), 'odock-logs-'));
    harness = await startTestGateway({
      env: {
        OBSERVABILITY_OTEL_EXPORTER: 'otlphttp',
        OBSERVABILITY_OTEL_ENDPOINT: receiver.url,
        OBSERVABILITY_SAMPLE_RATE: '1',
        LOGGER_OUTPUT: 'stdout,file',
        ODOCK_SERVER_LOGS_PATH: logDirectory,
        LOG_LEVEL: 'debug',
        // The `needs-key` provider now has a credential (and an unreachable host: an error path).
        ODOCK_TEST_UNSET_KEY: planted.providerCredential,
      },
    });
  });
  after(async () => {
    await harness.close();
    await receiver.close();
    await rm(logDirectory, { recursive: true, force: true });
  });

  test('success, error and streaming paths leak nothing', async () => {
    const url = harness.url;
    const messages = [
      { role: 'system', content: planted.system },
      { role: 'user', content: planted.prompt },
    ];
    const headers = { authorization: `Bearer ${keys.all}`, 'x-custom': planted.customHeader };
    const calls = [
      postJson(`${url}/v1/chat/completions`, { model: 'chat', messages }, headers),
      postJson(`${url}/v1/chat/completions`, { model: 'chat', stream: true, messages }, headers),
      postJson(`${url}/v1/llm/chat`, { model: 'claude', stream: true, messages }, headers),
      postJson(`${url}/v1/chat/completions`, { model: 'midstream', stream: true, messages }, headers),
      postJson(`${url}/v1/chat/completions`, { model: 'fails-400', messages }, headers),
      postJson(`${url}/v1/chat/completions`, { model: 'needs-key', messages }, headers),
      postJson(
        `${url}/v1/chat/completions`,
        { model: 'chat', messages },
        { authorization: `Bearer ${planted.wrongKey}` },
      ),
      postJson(
        `${url}/v1/messages`,
        { model: 'claude', max_tokens: 8, messages: [{ role: 'user', content: planted.prompt }] },
        { 'x-api-key': planted.anthropicKey },
      ),
      postJson(`${url}/v1/chat/completions`, `{"model":"chat","messages":"${planted.prompt}"`, headers),
    ];
    const responses = await Promise.all(calls);
    assert.ok(responses.some((response) => response.status === 200));
    assert.ok(responses.some((response) => response.status >= 500));
    assert.ok(responses.some((response) => response.status === 401));
    // The provider credential really was used upstream, so its absence below means something.
    await harness.gateway.telemetry.flush();
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const stdout = harness.logs.join('');
    const files = await readdir(logDirectory);
    assert.ok(files.length > 0, 'the file output was written');
    const fileText = (
      await Promise.all(files.map((file) => readFile(join(logDirectory, file), 'utf8')))
    ).join('');
    assert.match(fileText, /request completed/);
    const spans = receiver.bodies.join('');
    assert.ok(receiver.spans.length > 0, 'spans were exported');

    for (const [name, value] of Object.entries(planted)) {
      for (const [where, text] of [
        ['stdout', stdout],
        ['log file', fileText],
        ['spans', spans],
        ['/metrics', metrics],
      ] as const) {
        assert.ok(!text.includes(value), `${name} leaked into ${where}`);
      }
    }
    for (const demoSecret of [keys.demo, keys.all]) {
      assert.ok(
        !stdout.includes(demoSecret) && !fileText.includes(demoSecret) && !spans.includes(demoSecret),
      );
    }
  });
});
