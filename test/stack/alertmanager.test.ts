/**
 * Alertmanager (spec/stack.md section 6): the configuration rendered at container start from the
 * ALERTMANAGER_* variables (render-config.sh, the busybox-compatible renderer, run here with
 * POSIX sh and awk), checked by Debian's amtool, routed by family and severity for every alert of
 * rules/alerts.yml, mirrored by Grafana's policies and contact points, and run for real: a
 * Debian Alertmanager started with the rendered file delivers a critical alert to the webhook
 * the environment names.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import {
  type ComposeFile,
  freePort,
  readText,
  readYaml,
  repositoryPath,
  run,
  start,
  waitForHttp,
} from './stack-files.ts';
import { alertSpecs, expectedReceiver } from './stack-spec.ts';

const script = repositoryPath('observability', 'alertmanager', 'render-config.sh');
const template = repositoryPath('observability', 'alertmanager', 'alertmanager.yml.tmpl');
const templatesDirectory = repositoryPath('observability', 'alertmanager', 'templates');
const workspace = await mkdtemp(join(tmpdir(), 'odock-alertmanager-'));
after(() => rm(workspace, { recursive: true, force: true }));

/**
 * The container runs the script with busybox sh and awk. Here /bin/sh is dash; awk is GNU awk in
 * POSIX mode (no gawk extension accepted), put first on PATH, so the script stays portable.
 */
const shims = join(workspace, 'bin');
await mkdir(shims);
await writeFile(join(shims, 'awk'), '#!/bin/sh\nexec gawk --posix "$@"\n', { mode: 0o755 });
const scriptPath = `${shims}:${process.env.PATH}`;

let renders = 0;
/** Runs render-config.sh with only the given variables (plus PATH), like the container does. */
async function render(variables: Record<string, string>, templatePath = template) {
  const output = join(workspace, `alertmanager-${++renders}.yml`);
  const result = await run('sh', [script, templatePath, output], {
    env: { PATH: scriptPath, ALERTMANAGER_TEMPLATES_DIR: templatesDirectory, ...variables },
  });
  return { ...result, output };
}

interface Receiver {
  name: string;
  webhook_configs?: { url: string }[];
  slack_configs?: { channel: string; title_link: string }[];
  email_configs?: { to: string }[];
}
interface Route {
  receiver: string;
  matchers?: string[];
  group_by?: string[];
  group_wait?: string;
  group_interval?: string;
  repeat_interval?: string;
  routes?: Route[];
}
interface AlertmanagerConfig {
  global: Record<string, unknown>;
  route: Route;
  receivers: Receiver[];
}

const everyTarget = {
  GRAFANA_ROOT_URL: 'https://grafana.example.com',
  ALERTMANAGER_SLACK_API_URL: 'https://hooks.slack.example.com/services/T0/B0/secret',
  ALERTMANAGER_SMTP_SMARTHOST: 'smtp.example.com:587',
  ALERTMANAGER_SMTP_FROM: 'alertmanager@example.com',
  ALERTMANAGER_SMTP_AUTH_USERNAME: 'alertmanager',
  ALERTMANAGER_SMTP_AUTH_PASSWORD: "it's #secret: {really}",
  ALERTMANAGER_PLATFORM_CRITICAL_WEBHOOK_URL:
    'https://pager.example.com/hook?team=platform&severity=critical',
  ALERTMANAGER_PLATFORM_CRITICAL_SLACK_CHANNEL: '#platform-pager',
  ALERTMANAGER_PLATFORM_CRITICAL_EMAIL_TO: 'platform-oncall@example.com',
  ALERTMANAGER_GATEWAY_CRITICAL_WEBHOOK_URL: 'https://pager.example.com/hook?team=gateway',
  ALERTMANAGER_TOKEN_ANOMALIES_EMAIL_TO: 'finops@example.com',
};

describe('render-config.sh', () => {
  test('without any target: a valid configuration, and a warning per critical receiver', async () => {
    const rendered = await render({});
    assert.equal(rendered.code, 0, rendered.stderr);
    assert.match(rendered.stderr, /receiver platform-critical has no webhook, Slack or e-mail target/);
    assert.match(rendered.stderr, /receiver gateway-critical has no webhook, Slack or e-mail target/);
    const check = await run('amtool', ['check-config', rendered.output]);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    const config = parse(await readFile(rendered.output, 'utf8')) as AlertmanagerConfig;
    for (const receiver of config.receivers)
      assert.deepEqual(Object.keys(receiver), ['name'], `${receiver.name} got an integration from nothing`);
  });

  test('ALERTMANAGER_REQUIRE_CRITICAL_RECEIVERS=true refuses to start without critical targets', async () => {
    const refused = await render({ ALERTMANAGER_REQUIRE_CRITICAL_RECEIVERS: 'true' });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /refusing to start/);
    const accepted = await render({ ...everyTarget, ALERTMANAGER_REQUIRE_CRITICAL_RECEIVERS: 'true' });
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.equal(accepted.stderr, '');
  });

  test('with targets: each lands, unaltered, on its receiver, and amtool accepts the result', async () => {
    const rendered = await render(everyTarget);
    assert.equal(rendered.code, 0, rendered.stderr);
    const check = await run('amtool', ['check-config', rendered.output]);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    const config = parse(await readFile(rendered.output, 'utf8')) as AlertmanagerConfig;
    const receiver = (name: string) => config.receivers.find((entry) => entry.name === name)!;
    assert.equal(config.global.slack_api_url, everyTarget.ALERTMANAGER_SLACK_API_URL);
    assert.equal(config.global.smtp_auth_password, everyTarget.ALERTMANAGER_SMTP_AUTH_PASSWORD);
    const platform = receiver('platform-critical');
    assert.equal(platform.webhook_configs?.[0]?.url, everyTarget.ALERTMANAGER_PLATFORM_CRITICAL_WEBHOOK_URL);
    assert.equal(platform.slack_configs?.[0]?.channel, '#platform-pager');
    assert.equal(
      platform.slack_configs?.[0]?.title_link,
      'https://grafana.example.com{{ .CommonAnnotations.dashboard }}',
    );
    assert.equal(platform.email_configs?.[0]?.to, 'platform-oncall@example.com');
    assert.deepEqual(Object.keys(receiver('gateway-critical')), ['name', 'webhook_configs']);
    assert.deepEqual(Object.keys(receiver('token-anomalies')), ['name', 'email_configs']);
    assert.deepEqual(Object.keys(receiver('gateway-warning')), ['name']);
  });

  test('a Slack channel without the shared Slack URL is left out, not half-configured', async () => {
    const rendered = await render({ ALERTMANAGER_PLATFORM_WARNING_SLACK_CHANNEL: '#platform' });
    assert.equal(rendered.code, 0, rendered.stderr);
    const config = parse(await readFile(rendered.output, 'utf8')) as AlertmanagerConfig;
    assert.equal(
      config.receivers.find((entry) => entry.name === 'platform-warning')?.slack_configs,
      undefined,
    );
  });

  test('rejects a placeholder outside single quotes, and unbalanced blocks', async () => {
    for (const [body, message] of [
      [`route:\n  receiver: \${NAME}\n`, /outside a single-quoted scalar/],
      ["#@if A\nx: '1'\n", /#@if without #@end/],
      ["x: '1'\n#@end\n", /#@end without #@if/],
    ] as const) {
      const path = join(workspace, `bad-${++renders}.tmpl`);
      await writeFile(path, body);
      const result = await render({ NAME: 'x', A: 'y' }, path);
      assert.notEqual(result.code, 0, body);
      assert.match(result.stderr, message);
    }
  });

  test('rejects a value with a line break (it would end the YAML scalar)', async () => {
    const result = await render({ ALERTMANAGER_DEFAULT_WEBHOOK_URL: 'https://a.example.com/\nroute: {}' });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /contains a line break/);
  });

  test('then executes the command after --', async () => {
    const output = join(workspace, 'exec.yml');
    const result = await run('sh', [script, template, output, '--', 'echo', 'alertmanager', 'started'], {
      env: { PATH: scriptPath, ALERTMANAGER_TEMPLATES_DIR: templatesDirectory },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'alertmanager started\n');
  });

  test('every variable the template reads is passed to the container, and every one passed is read', () => {
    const compose = readYaml<ComposeFile>('docker-compose.yml');
    const passed = Object.keys(compose.services.alertmanager!.environment ?? {}).sort();
    const text = readText('observability', 'alertmanager', 'alertmanager.yml.tmpl')
      .split('\n')
      .filter((line) => !/^\s*#(?!@)/.test(line))
      .join('\n');
    const read = new Set([
      ...[...text.matchAll(/\$\{([A-Z_0-9]+)\}/g)].map((match) => match[1]!),
      ...[...text.matchAll(/^\s*#@if\s+(.+)$/gm)].flatMap((match) => match[1]!.trim().split(/\s+/)),
      ...[
        ...readText('observability', 'alertmanager', 'render-config.sh').matchAll(
          /\$\{(ALERTMANAGER_[A-Z_]+)/g,
        ),
      ].map((match) => match[1]!),
    ]);
    assert.deepEqual(passed, [...read].sort());
  });

  test('the notification templates render', async () => {
    const result = await run('amtool', [
      'template',
      'render',
      `--template.glob=${templatesDirectory}/*.tmpl`,
      '--template.text={{ template "odock.title" . }}|{{ template "odock.text" . }}',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /\|/);
  });
});

describe('routing', async () => {
  const rendered = await render({});
  const config = parse(await readFile(rendered.output, 'utf8')) as AlertmanagerConfig;
  const receiverNames = config.receivers.map((receiver) => receiver.name).sort();

  test('amtool check-config accepts the shipped template rendered as the container does', async () => {
    const result = await run('amtool', ['check-config', rendered.output]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });

  for (const [alert, spec] of Object.entries(alertSpecs)) {
    const receiver = expectedReceiver(spec.family, spec.severity);
    test(`${alert} (${spec.family}, ${spec.severity}) reaches ${receiver}`, async () => {
      const result = await run('amtool', [
        'config',
        'routes',
        'test',
        `--config.file=${rendered.output}`,
        `--verify.receivers=${receiver}`,
        `alertname=${alert}`,
        `severity=${spec.severity}`,
        `family=${spec.family}`,
      ]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
    });
  }

  test('an alert of no known family falls back to the default receiver', async () => {
    const result = await run('amtool', [
      'config',
      'routes',
      'test',
      `--config.file=${rendered.output}`,
      '--verify.receivers=default',
      'alertname=something_new',
      'severity=critical',
      'family=unknown',
    ]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });

  test('every receiver is reachable from some alert or the fallback', () => {
    const reached = new Set([
      'default',
      ...Object.values(alertSpecs).map((s) => expectedReceiver(s.family, s.severity)),
    ]);
    assert.deepEqual([...reached].sort(), receiverNames);
  });

  describe('Grafana alerting mirrors it', () => {
    interface Policy {
      receiver: string;
      object_matchers?: [string, string, string][];
      group_by?: string[];
      group_wait?: string;
      group_interval?: string;
      repeat_interval?: string;
      routes?: Policy[];
    }
    const policies = readYaml<{ policies: Policy[] }>(
      'observability',
      'grafana',
      'provisioning',
      'alerting',
      'policies.yml',
    ).policies;
    const contactPoints = readYaml<{
      contactPoints: { name: string; receivers: { type: string; settings: { url: string } }[] }[];
    }>('observability', 'grafana', 'provisioning', 'alerting', 'contact-points.yml').contactPoints;

    const asTriples = (matchers: readonly string[]) =>
      matchers.map((matcher) => {
        const parsed = /^([a-z_]+)(=~|!~|!=|=)"(.*)"$/.exec(matcher);
        assert.ok(parsed, `matcher ${matcher}`);
        return [parsed[1]!, parsed[2]!, parsed[3]!] as [string, string, string];
      });
    const matches = (triples: readonly [string, string, string][], labels: Record<string, string>) =>
      triples.every(([name, operator, value]) => {
        const actual = labels[name] ?? '';
        if (operator === '=') return actual === value;
        if (operator === '!=') return actual !== value;
        const regex = new RegExp(`^(?:${value})$`);
        return operator === '=~' ? regex.test(actual) : !regex.test(actual);
      });
    /** First matching child wins (no `continue` in either tree). */
    const resolve = <Node extends { receiver: string; routes?: Node[] }>(
      node: Node,
      labels: Record<string, string>,
      triplesOf: (node: Node) => [string, string, string][],
    ): string => {
      for (const child of node.routes ?? [])
        if (matches(triplesOf(child), labels)) return resolve(child, labels, triplesOf);
      return node.receiver;
    };

    test('one root policy, with the same tree, matchers and timings as Alertmanager', () => {
      assert.equal(policies.length, 1);
      const strip = (route: Route): unknown => ({
        receiver: route.receiver,
        matchers: asTriples(route.matchers ?? []),
        group_by: route.group_by,
        group_wait: route.group_wait,
        group_interval: route.group_interval,
        repeat_interval: route.repeat_interval,
        routes: (route.routes ?? []).map(strip),
      });
      const stripPolicy = (policy: Policy): unknown => ({
        receiver: policy.receiver,
        matchers: policy.object_matchers ?? [],
        group_by: policy.group_by,
        group_wait: policy.group_wait,
        group_interval: policy.group_interval,
        repeat_interval: policy.repeat_interval,
        routes: (policy.routes ?? []).map(stripPolicy),
      });
      assert.deepEqual(stripPolicy(policies[0]!), strip(config.route));
    });

    test('every alert resolves to the same receiver in both trees', () => {
      const cases = [
        ...Object.entries(alertSpecs).map(([alertname, spec]) => ({ alertname, ...spec })),
        { alertname: 'something_new', family: 'unknown', severity: 'critical' },
      ];
      for (const labels of cases) {
        const expected = expectedReceiver(labels.family, labels.severity);
        assert.equal(
          resolve(config.route, labels, (route) => asTriples(route.matchers ?? [])),
          expected,
        );
        assert.equal(
          resolve(policies[0]!, labels, (policy) => policy.object_matchers ?? []),
          expected,
          labels.alertname,
        );
      }
    });

    test('one contact point per receiver, each forwarding to the stack Alertmanager', () => {
      assert.deepEqual(contactPoints.map((point) => point.name).sort(), receiverNames);
      for (const point of contactPoints) {
        assert.equal(point.receivers.length, 1);
        assert.equal(point.receivers[0]!.type, 'prometheus-alertmanager');
        assert.equal(point.receivers[0]!.settings.url, 'http://alertmanager:9093');
      }
    });
  });
});

describe('a running Alertmanager (Debian prometheus-alertmanager) delivers', () => {
  test('a critical infrastructure alert to the platform-critical webhook of the environment', async () => {
    const deliveries: {
      path: string;
      body: { receiver: string; alerts: { labels: Record<string, string> }[] };
    }[] = [];
    let delivered: () => void = () => {};
    const arrived = new Promise<void>((resolve) => {
      delivered = resolve;
    });
    const webhook = createServer(async (request: IncomingMessage, response) => {
      let body = '';
      for await (const chunk of request) body += chunk;
      deliveries.push({ path: request.url ?? '', body: JSON.parse(body) });
      response.end('ok');
      delivered();
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    const webhookPort = (webhook.address() as { port: number }).port;
    const rendered = await render({
      ALERTMANAGER_PLATFORM_CRITICAL_WEBHOOK_URL: `http://127.0.0.1:${webhookPort}/platform-critical`,
      ALERTMANAGER_GATEWAY_CRITICAL_WEBHOOK_URL: `http://127.0.0.1:${webhookPort}/gateway-critical`,
    });
    assert.equal(rendered.code, 0, rendered.stderr);
    const port = await freePort();
    const alertmanager = start('prometheus-alertmanager', [
      `--config.file=${rendered.output}`,
      `--storage.path=${join(workspace, 'alertmanager-data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
    ]);
    try {
      await waitForHttp(`http://127.0.0.1:${port}/-/ready`, alertmanager);
      const posted = await fetch(`http://127.0.0.1:${port}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([
          {
            labels: {
              alertname: 'service_down',
              severity: 'critical',
              family: 'infrastructure',
              job: 'traefik',
            },
            annotations: { summary: 'traefik is down', dashboard: '/d/odock-containers' },
          },
        ]),
      });
      assert.equal(posted.status, 200, await posted.text());
      // The critical route waits group_wait (10 s) before its first notification.
      await Promise.race([
        arrived,
        new Promise((_, reject) => setTimeout(() => reject(new Error('no delivery in 30 s')), 30_000)),
      ]);
      assert.equal(deliveries[0]!.path, '/platform-critical');
      assert.equal(deliveries[0]!.body.receiver, 'platform-critical');
      assert.equal(deliveries[0]!.body.alerts[0]!.labels.alertname, 'service_down');
    } finally {
      await alertmanager.stop();
      await new Promise((resolve) => webhook.close(resolve));
    }
  });
});
