/**
 * A real Prometheus (Debian's 2.42) started on a free loopback port with the stack's own
 * prometheus.yml, rule files and the feature flags of docker-compose.yml: it must load all of
 * them, list the eleven scrape pools, evaluate every rule without error, and send to the stack's
 * Alertmanager. Targets do not resolve here (no Compose network); loading is what is proven.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  asArray,
  type BackgroundProcess,
  type ComposeFile,
  freePort,
  readYaml,
  repositoryPath,
  start,
  waitForHttp,
} from './stack-files.ts';
import { alertSpecs } from './stack-spec.ts';

interface RuleGroup {
  name: string;
  rules: { name: string; type: 'alerting' | 'recording'; health: string; lastError?: string }[];
}

describe('Prometheus 2.42 loads the stack configuration', () => {
  let prometheus: BackgroundProcess | undefined;
  let base = '';
  let storage = '';
  const api = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${base}${path}`);
    assert.equal(response.status, 200, path);
    return ((await response.json()) as { data: T }).data;
  };

  before(async () => {
    storage = await mkdtemp(join(tmpdir(), 'odock-prometheus-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // The flags compose passes that do not depend on the container's paths.
    const composeFlags = asArray(
      readYaml<ComposeFile>('docker-compose.yml').services.prometheus!.command,
    ).filter((flag) => flag.startsWith('--enable-feature=') || flag === '--web.enable-remote-write-receiver');
    assert.equal(composeFlags.length, 2);
    prometheus = start('prometheus', [
      `--config.file=${repositoryPath('observability', 'prometheus', 'prometheus.yml')}`,
      `--storage.tsdb.path=${storage}`,
      `--web.listen-address=127.0.0.1:${port}`,
      ...composeFlags,
    ]);
    await waitForHttp(`${base}/-/ready`, prometheus, 30_000);
  });
  after(async () => {
    await prometheus?.stop();
    await rm(storage, { recursive: true, force: true });
  });

  test('with exemplar storage and the remote-write receiver on', async () => {
    const flags = await api<Record<string, string>>('/api/v1/status/flags');
    assert.match(flags['enable-feature'] ?? '', /exemplar-storage/);
    assert.equal(flags['web.enable-remote-write-receiver'], 'true');
  });

  test('the eleven scrape pools', async () => {
    // Target discovery runs in the background after start: poll until the pools settle.
    const deadline = Date.now() + 20_000;
    let pools: string[] = [];
    while (pools.length < 11 && Date.now() < deadline) {
      const targets = await api<{ activeTargets: { scrapePool: string }[] }>('/api/v1/targets');
      pools = [...new Set(targets.activeTargets.map((target) => target.scrapePool))].sort();
      if (pools.length < 11) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    assert.equal(pools.length, 11, pools.join());
    assert.deepEqual(
      pools,
      readYaml<{ scrape_configs: { job_name: string }[] }>('observability', 'prometheus', 'prometheus.yml')
        .scrape_configs.map((job) => job.job_name)
        .sort(),
    );
  });

  test('every alert of the spec, and every rule evaluates without error', async () => {
    // Rule groups evaluate at an offset within their 30 s interval: wait for all to have run.
    const deadline = Date.now() + 45_000;
    let groups: RuleGroup[] = [];
    for (;;) {
      groups = (await api<{ groups: RuleGroup[] }>('/api/v1/rules')).groups;
      if (groups.flatMap((group) => group.rules).every((rule) => rule.health !== 'unknown')) break;
      assert.ok(Date.now() < deadline, 'rules not evaluated in 45 s');
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    const rules = groups.flatMap((group) => group.rules);
    assert.deepEqual(
      rules
        .filter((rule) => rule.type === 'alerting')
        .map((rule) => rule.name)
        .sort(),
      Object.keys(alertSpecs).sort(),
    );
    for (const rule of rules) assert.equal(rule.health, 'ok', `${rule.name}: ${rule.lastError}`);
  });

  test('alerts are sent to alertmanager:9093', async () => {
    // The name does not resolve here, so the discovered Alertmanager may be listed as dropped.
    const alertmanagers = await api<{
      activeAlertmanagers: { url: string }[];
      droppedAlertmanagers: { url: string }[];
    }>('/api/v1/alertmanagers');
    const urls = [...alertmanagers.activeAlertmanagers, ...alertmanagers.droppedAlertmanagers].map(
      (entry) => entry.url,
    );
    assert.ok(
      urls.some((url) => url.startsWith('http://alertmanager:9093/api/v2/alerts')),
      urls.join(),
    );
  });
});
