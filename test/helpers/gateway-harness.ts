/**
 * Starts a real gateway in-process on an ephemeral port, with a test configuration pointing at
 * a mock upstream started for the test, so tests can script upstream behaviour per provider.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { type RunningGateway, startGateway } from '../../src/app.ts';
import type { GatewayStages } from '../../src/gateway/stages.ts';
import {
  type MockUpstream,
  type MockUpstreamOptions,
  startMockUpstream,
} from '../../src/mock-upstream/server.ts';
import { loadSettings } from '../../src/settings.ts';

export const demoKey = 'sk-odock-demo';
export const keys = {
  demo: demoKey,
  all: 'sk-odock-test-all',
  expired: 'sk-odock-test-expired',
  revoked: 'sk-odock-test-revoked',
  otherOrganization: 'sk-odock-test-other',
} as const;

/** The test configuration: every provider family on the test mock, plus misconfigured providers. */
export function testConfigYaml(mockUrl: string): string {
  const provider = (name: string, type: string, base: string, extra = '') =>
    `  - name: ${name}\n    type: ${type}\n    base_url: ${base}\n${extra}`;
  const model = (name: string, providerName: string, slug: string, extra = '') =>
    `  - name: ${name}\n    provider: ${providerName}\n    upstream_model: ${slug}\n    pricing: { input: 0.15, output: 0.6, cached_input: 0.075, embeddings: 0.02 }\n${extra}`;
  const scenario = (value: string) => `    headers: { x-mock-scenario: ${value} }\n`;
  return [
    'organizations:\n  - id: demo\n  - id: other',
    'teams:\n  - id: demo-team\n    organization: demo',
    'providers:',
    provider('mock-openai', 'openai', `${mockUrl}/v1`),
    provider('mock-anthropic', 'anthropic', mockUrl),
    provider('mock-gemini', 'gemini', mockUrl),
    provider('broken-midstream', 'openai', `${mockUrl}/v1`, scenario('mid-stream-error')),
    provider('broken-midstream-anthropic', 'anthropic', mockUrl, scenario('mid-stream-error')),
    provider('broken-500', 'openai', `${mockUrl}/v1`, scenario('error-500')),
    provider('broken-429', 'openai', `${mockUrl}/v1`, scenario('error-429')),
    provider('broken-400', 'openai', `${mockUrl}/v1`, scenario('error-400')),
    provider('broken-timeout', 'openai', `${mockUrl}/v1`, scenario('timeout')),
    provider('broken-reset', 'openai', `${mockUrl}/v1`, scenario('reset')),
    provider(
      'needs-key',
      'openai',
      'https://api.openai.invalid/v1',
      '    api_key_env: ODOCK_TEST_UNSET_KEY\n',
    ),
    provider('switched-off', 'openai', `${mockUrl}/v1`, '    enabled: false\n'),
    'models:',
    model('chat', 'mock-openai', 'mock-gpt'),
    model('embed', 'mock-openai', 'mock-embedding', '    type: embeddings\n'),
    model('claude', 'mock-anthropic', 'mock-claude'),
    model('gemini', 'mock-gemini', 'mock-gemini'),
    model('midstream', 'broken-midstream', 'mock-gpt'),
    model('midstream-claude', 'broken-midstream-anthropic', 'mock-claude'),
    model('fails-500', 'broken-500', 'mock-gpt'),
    model('fails-429', 'broken-429', 'mock-gpt'),
    model('fails-400', 'broken-400', 'mock-gpt'),
    model('times-out', 'broken-timeout', 'mock-gpt', '    timeout_ms: 300\n'),
    model('resets', 'broken-reset', 'mock-gpt'),
    model('needs-key', 'needs-key', 'gpt-4o-mini'),
    model('switched-off', 'switched-off', 'mock-gpt'),
    'api_keys:',
    `  - id: demo-key\n    organization: demo\n    team: demo-team\n    secret_env: ODOCK_TEST_DEMO_KEY\n    models: [chat, embed, claude]`,
    `  - id: all-key\n    organization: demo\n    secret_env: ODOCK_TEST_ALL_KEY\n    models: ["*"]`,
    `  - id: expired-key\n    organization: demo\n    secret_env: ODOCK_TEST_EXPIRED_KEY\n    expires_at: "2020-01-01T00:00:00Z"\n    models: ["*"]`,
    `  - id: revoked-key\n    organization: demo\n    secret_env: ODOCK_TEST_REVOKED_KEY\n    revoked: true\n    models: ["*"]`,
    `  - id: other-key\n    organization: other\n    secret_env: ODOCK_TEST_OTHER_KEY\n    models: [chat]`,
    '',
  ].join('\n');
}

export const testEnv = {
  ODOCK_TEST_DEMO_KEY: keys.demo,
  ODOCK_TEST_ALL_KEY: keys.all,
  ODOCK_TEST_EXPIRED_KEY: keys.expired,
  ODOCK_TEST_REVOKED_KEY: keys.revoked,
  ODOCK_TEST_OTHER_KEY: keys.otherOrganization,
};

export interface TestGateway {
  gateway: RunningGateway;
  url: string;
  mock: MockUpstream;
  logs: string[];
  close(): Promise<void>;
}

export async function startTestGateway(
  options: {
    mock?: MockUpstreamOptions;
    env?: Record<string, string>;
    stages?: Partial<GatewayStages>;
    databaseSchema?: string;
    keyPrefix?: string;
    /** Replaces the test configuration (e.g. testConfigYaml plus a few entries). */
    configYaml?: (mockUrl: string) => string;
  } = {},
): Promise<TestGateway> {
  const mock = await startMockUpstream(options.mock ?? {});
  const directory = await mkdtemp(join(tmpdir(), 'odock-test-'));
  const configPath = join(directory, 'odock.yaml');
  await writeFile(configPath, (options.configYaml ?? testConfigYaml)(mock.url));
  const env = {
    ...testEnv,
    ODOCK_CONFIG: configPath,
    ODOCK_DATA_DIR: join(directory, 'data'),
    PORT: '0',
    LOG_LEVEL: 'info',
    ODOCK_SHUTDOWN_TIMEOUT_MS: '5000',
    // No collector in tests unless a test brings its own receiver.
    OBSERVABILITY_OTEL_EXPORTER: 'none',
    ...options.env,
  };
  const logs: string[] = [];
  const logStream = new Writable({
    write(chunk, _encoding, callback) {
      logs.push(chunk.toString());
      callback();
    },
  });
  const gateway = await startGateway({
    settings: loadSettings(env),
    env,
    logStream,
    ...(options.stages === undefined ? {} : { stages: options.stages }),
    ...(options.databaseSchema === undefined ? {} : { databaseSchema: options.databaseSchema }),
    ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }),
  });
  return {
    gateway,
    url: gateway.url,
    mock,
    logs,
    close: async () => {
      await gateway.close();
      await mock.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = { authorization: `Bearer ${demoKey}` },
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON shapes and assert on them.
): Promise<{ status: number; headers: Headers; json: any; text: string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}
