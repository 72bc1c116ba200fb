/**
 * Shared by the usage tests: the test configuration plus a slow model and one organisation
 * admin key per organisation, JSON GETs with an admin key, and waiting for records to be
 * written (they are written asynchronously, a moment after each response ends).
 */
import { parse, stringify } from 'yaml';
import type { RunningGateway } from '../src/app.ts';
import { testConfigYaml, testEnv } from './helpers/gateway-harness.ts';

export const adminKeys = {
  demo: 'sk-odock-admin-demo-test-secret',
  other: 'sk-odock-admin-other-test-secret',
} as const;

export const usageEnv: Record<string, string> = {
  ...testEnv,
  ODOCK_TEST_DEMO_ADMIN_KEY: adminKeys.demo,
  ODOCK_TEST_OTHER_ADMIN_KEY: adminKeys.other,
};

/** The harness configuration plus `slow-chat` (answers after 1 s) and the two admin keys. */
export function usageConfigYaml(mockUrl: string): string {
  const document = parse(testConfigYaml(mockUrl)) as Record<string, Array<Record<string, unknown>>>;
  document.providers!.push({
    name: 'slow-openai',
    type: 'openai',
    base_url: `${mockUrl}/v1`,
    headers: { 'x-mock-scenario': 'slow' },
  });
  document.models!.push({
    name: 'slow-chat',
    provider: 'slow-openai',
    upstream_model: 'mock-gpt',
    pricing: { input: 0.15, output: 0.6 },
  });
  document.admin_keys = [
    { id: 'demo-admin', organization: 'demo', secret_env: 'ODOCK_TEST_DEMO_ADMIN_KEY' },
    { id: 'other-admin', organization: 'other', secret_env: 'ODOCK_TEST_OTHER_ADMIN_KEY' },
  ];
  return stringify(document);
}

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON shapes and assert on them.
export type Json = any;

export async function getJson(
  url: string,
  key: string = adminKeys.demo,
): Promise<{ status: number; json: Json; text: string; headers: Headers }> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
  const text = await response.text();
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text, headers: response.headers };
}

/** Writes what the collector holds now and waits until `count` records of the organisation are stored. */
export async function waitForRecords(
  gateway: RunningGateway,
  count: number,
  organizationId: string | null,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let stored = 0;
  while (performance.now() < deadline) {
    await gateway.usage.collector.flush();
    const [row] = await gateway.usage.api.database.query<{ n: bigint }>(
      organizationId === null
        ? 'SELECT count(*) AS n FROM usage_records'
        : 'SELECT count(*) AS n FROM usage_records WHERE organization_id = $1',
      organizationId === null ? [] : [organizationId],
    );
    stored = Number(row!.n);
    if (stored >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`expected ${count} usage records, found ${stored}`);
}
