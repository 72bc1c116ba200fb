import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { ConfigError } from '../config/load.ts';
import { loadObservabilitySettings } from './observability-settings.ts';

describe('OBSERVABILITY_* settings', () => {
  test('defaults follow the contract', () => {
    const settings = loadObservabilitySettings({ HOSTNAME: 'host-1' });
    assert.equal(settings.tracesExporter, 'otlphttp');
    assert.equal(settings.metricsExporter, 'none');
    assert.equal(settings.sampleRate, 0.1);
    assert.equal(settings.tenantLabels, 'organization,api_key');
    assert.deepEqual(settings.resource, {
      'service.name': 'odock-server',
      'service.namespace': 'odock',
      'service.version': 'dev',
      'service.instance.id': 'host-1',
      'deployment.environment.name': 'production',
    });
  });

  test('the traces exporter inherits OBSERVABILITY_OTEL_EXPORTER unless overridden', () => {
    assert.equal(
      loadObservabilitySettings({ OBSERVABILITY_OTEL_EXPORTER: 'otlpgrpc' }).tracesExporter,
      'otlpgrpc',
    );
    assert.equal(
      loadObservabilitySettings({
        OBSERVABILITY_OTEL_EXPORTER: 'otlpgrpc',
        OBSERVABILITY_OTEL_TRACES_EXPORTER: 'none',
      }).tracesExporter,
      'none',
    );
  });

  test('the instance id falls back to POD_NAME, then HOSTNAME', () => {
    const resource = (env: Record<string, string>) =>
      loadObservabilitySettings(env).resource['service.instance.id'];
    assert.equal(
      resource({ OBSERVABILITY_SERVICE_INSTANCE_ID: 'explicit', POD_NAME: 'pod', HOSTNAME: 'host' }),
      'explicit',
    );
    assert.equal(resource({ POD_NAME: 'pod', HOSTNAME: 'host' }), 'pod');
    assert.equal(resource({ HOSTNAME: 'host' }), 'host');
  });

  test('k8s attributes appear only when set', () => {
    const settings = loadObservabilitySettings({
      OBSERVABILITY_K8S_POD_NAME: 'p',
      OBSERVABILITY_K8S_NODE_NAME: 'n',
    });
    assert.equal(settings.resource['k8s.pod.name'], 'p');
    assert.equal(settings.resource['k8s.node.name'], 'n');
    assert.equal(settings.resource['k8s.cluster.name'], undefined);
  });

  for (const [variable, value, accepted] of [
    ['OBSERVABILITY_SAMPLE_RATE', '1.5', 'a number from 0 to 1'],
    ['OBSERVABILITY_SAMPLE_RATE', 'half', 'a number from 0 to 1'],
    ['OBSERVABILITY_OTEL_EXPORTER', 'zipkin', 'otlphttp, otlpgrpc, none'],
    ['OBSERVABILITY_OTEL_TRACES_EXPORTER', 'jaeger', 'otlphttp, otlpgrpc, none'],
    ['OBSERVABILITY_OTEL_METRICS_EXPORTER', 'prometheus', 'otlphttp, otlpgrpc, none'],
    ['OBSERVABILITY_OTEL_ENDPOINT', 'otel-collector:4318', 'an http(s) URL'],
    ['OBSERVABILITY_TENANT_LABELS', 'team', 'organization,api_key, organization, none'],
    ['LOGGER_OUTPUT', 'stdout,syslog', 'a comma list of stdout, file'],
  ] as const) {
    test(`${variable}=${value} is refused, naming the variable and what it accepts`, () => {
      assert.throws(
        () => loadObservabilitySettings({ [variable]: value }),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.problems.length === 1 &&
          error.problems[0]!.startsWith(`${variable}="${value}" is not valid`) &&
          error.problems[0]!.includes(accepted),
      );
    });
  }

  test('the file output needs its directory', () => {
    assert.throws(
      () => loadObservabilitySettings({ LOGGER_OUTPUT: 'stdout,file' }),
      /ODOCK_SERVER_LOGS_PATH is required/,
    );
  });

  test('an invalid value stops start-up of the real process with one line naming it', () => {
    const cli = new URL('../cli.ts', import.meta.url).pathname;
    const result = spawnSync(process.execPath, [cli, 'serve'], {
      env: { ...process.env, OBSERVABILITY_SAMPLE_RATE: '1.5', PORT: '0' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 1);
    assert.match(
      result.stderr,
      /^ {2}- OBSERVABILITY_SAMPLE_RATE="1\.5" is not valid; accepted values: a number from 0 to 1$/m,
    );
    assert.doesNotMatch(result.stderr, /at .*\.ts:\d+/, 'no stack trace');
  });
});
