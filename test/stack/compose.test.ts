/**
 * The root docker-compose.yml (spec/stack.md sections 1 and 2): Debian's docker-compose validates
 * it for every profile, and the parsed file is checked for what a reader of the spec expects:
 * the services of each profile, exact image pins, host ports bound to 127.0.0.1, healthchecks and
 * start order, named volumes, a required Grafana password, and observability/.env.example in step.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseEnv as parseDotenv } from 'node:util';
import { loadObservabilitySettings } from '../../src/observability/observability-settings.ts';
import { loadSettings } from '../../src/settings.ts';
import {
  type ComposeFile,
  composeEnvironment,
  composeVariables,
  enabledServices,
  readText,
  readYaml,
  requiredComposeEnvironment,
  resolvedCompose,
  run,
} from './stack-files.ts';

const coreServices = ['migrate', 'postgres', 'redis', 'server', 'traefik'];
const stackServices = [
  'alertmanager',
  'cadvisor',
  'grafana',
  'loki',
  'node-exporter',
  'otel-collector',
  'postgres-exporter',
  'prometheus',
  'redis-exporter',
  'storage-init',
  'tempo',
];

/** Services whose image offers nothing to run a healthcheck with, and what covers them instead. */
const withoutHealthcheck: Record<string, string> = {
  'otel-collector': 'FROM scratch image; Prometheus job otel-collector and alert service_down watch it',
};
/** One-shot services: they run to completion, dependents wait for service_completed_successfully. */
const oneShots = ['migrate', 'storage-init'];

/** Versions the reference stacks pin (spec/stack.md section 8). */
const expectedImages: Record<string, RegExp> = {
  grafana: /^grafana\/grafana:13\.[12]\.\d+$/,
  prometheus: /^prom\/prometheus:v3\.1[34]\.\d+$/,
  alertmanager: /^prom\/alertmanager:v0\.34\.\d+$/,
  loki: /^grafana\/loki:3\.7\.\d+$/,
  tempo: /^grafana\/tempo:3\.0\.\d+$/,
  'otel-collector': /^otel\/opentelemetry-collector-contrib:0\.159\.0$/,
  alloy: /^grafana\/alloy:v1\.18\.\d+$/,
  promtail: /^grafana\/promtail:3\.6\.11$/,
};

/** Host ports of spec/stack.md section 2 (host -> container). */
const expectedHostPorts: Record<string, string[]> = {
  grafana: ['127.0.0.1:3001:3000/tcp'],
  prometheus: ['127.0.0.1:9091:9090/tcp'],
  alertmanager: ['127.0.0.1:9093:9093/tcp'],
  loki: ['127.0.0.1:3100:3100/tcp'],
  tempo: ['127.0.0.1:3200:3200/tcp'],
  'otel-collector': ['127.0.0.1:4317:4317/tcp', '127.0.0.1:4318:4318/tcp'],
  traefik: ['127.0.0.1:8080:8000/tcp'],
};

const written = readYaml<ComposeFile>('docker-compose.yml');

describe('docker-compose config (Debian docker-compose v1)', () => {
  for (const profiles of [[], ['observability'], ['promtail'], ['observability', 'promtail']]) {
    test(`validates with profiles [${profiles.join(', ')}]`, async () => {
      const resolved = await resolvedCompose(profiles);
      assert.deepEqual(Object.keys(resolved.services).sort(), Object.keys(written.services).sort());
    });
  }

  test('refuses to resolve without GRAFANA_ADMIN_PASSWORD, naming it', async () => {
    for (const environment of [composeEnvironment(), composeEnvironment({ GRAFANA_ADMIN_PASSWORD: '' })]) {
      const result = await run('docker-compose', ['--profile', 'observability', 'config'], {
        env: environment,
      });
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /GRAFANA_ADMIN_PASSWORD/);
    }
  });

  test('observability/.env.example is a working env file', async () => {
    const result = await run(
      'docker-compose',
      ['--env-file', 'observability/.env.example', '--profile', 'observability', 'config'],
      { env: composeEnvironment(requiredComposeEnvironment) },
    );
    assert.equal(result.code, 0, result.stderr);
  });
});

describe('profiles', () => {
  test('the core platform runs without any profile', () => {
    assert.deepEqual(enabledServices(written, []), coreServices);
  });

  test('profile observability adds the stack with Alloy', () => {
    assert.deepEqual(
      enabledServices(written, ['observability']),
      [...coreServices, ...stackServices, 'alloy'].sort(),
    );
  });

  test('profile promtail runs the same stack with Promtail instead of Alloy', () => {
    assert.deepEqual(
      enabledServices(written, ['promtail']),
      [...coreServices, ...stackServices, 'promtail'].sort(),
    );
  });

  test('no core service depends on a service behind a profile', () => {
    for (const name of coreServices)
      for (const dependency of Object.keys(written.services[name]!.depends_on ?? {}))
        assert.ok(coreServices.includes(dependency), `${name} depends on ${dependency}`);
  });
});

describe('images', async () => {
  const resolved = await resolvedCompose(['observability', 'promtail']);

  test('every image is pinned to an exact version', () => {
    for (const [name, service] of Object.entries(resolved.services)) {
      assert.ok(service.image, `${name} has no image`);
      const tag = service.image.split(':').at(-1)!;
      assert.ok(service.image.includes(':'), `${name}: ${service.image} has no tag`);
      if (service.build !== undefined) continue; // built from the Dockerfile here
      // PostgreSQL versions have two parts (18.4 is a patch release); everything else has three.
      const exact = service.image.startsWith('postgres:')
        ? /^\d+\.\d+(-[a-z0-9.]+)?$/
        : /^v?\d+\.\d+\.\d+(-[a-z0-9.]+)?$/;
      assert.match(tag, exact, `${name}: ${service.image} is not an exact version`);
    }
  });

  test('stack components use the versions the reference stacks pin', () => {
    for (const [name, pattern] of Object.entries(expectedImages))
      assert.match(resolved.services[name]?.image ?? '', pattern, name);
  });

  test('server and migrate run the image built from the Dockerfile', () => {
    for (const name of ['server', 'migrate']) {
      assert.ok(resolved.services[name]!.build, `${name} is not built`);
      assert.equal(resolved.services[name]!.image, resolved.services.server!.image);
    }
    assert.deepEqual(resolved.services.server!.command, ['serve']);
    assert.deepEqual(resolved.services.migrate!.command, ['migrate']);
  });
});

describe('host ports', async () => {
  const resolved = await resolvedCompose(['observability', 'promtail']);

  test('every published port binds to 127.0.0.1', () => {
    for (const [name, service] of Object.entries(resolved.services))
      for (const port of service.ports ?? [])
        assert.match(port, /^127\.0\.0\.1:/, `${name} publishes ${port}`);
  });

  test('the published ports are those of the spec, and only those', () => {
    const published = Object.fromEntries(
      Object.entries(resolved.services)
        .filter(([, service]) => (service.ports ?? []).length > 0)
        .map(([name, service]) => [name, [...(service.ports ?? [])].sort()]),
    );
    assert.deepEqual(published, expectedHostPorts);
  });
});

describe('healthchecks and start order', () => {
  test('every long-running service has a healthcheck, or a documented reason not to', () => {
    for (const [name, service] of Object.entries(written.services)) {
      if (oneShots.includes(name)) {
        assert.equal(service.healthcheck, undefined, `${name} is a one-shot`);
        assert.equal(service.restart, 'no', `${name} is a one-shot and must not restart`);
        continue;
      }
      if (name in withoutHealthcheck) assert.equal(service.healthcheck, undefined, `${name} has one now`);
      else assert.ok(service.healthcheck?.test, `${name} has no healthcheck`);
    }
  });

  test('depends_on conditions match what each dependency can report', () => {
    for (const [name, service] of Object.entries(written.services)) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        const target = written.services[dependency];
        assert.ok(target, `${name} depends on unknown ${dependency}`);
        const expected = oneShots.includes(dependency)
          ? 'service_completed_successfully'
          : target.healthcheck
            ? 'service_healthy'
            : 'service_started';
        assert.equal(condition, expected, `${name} -> ${dependency}`);
      }
    }
  });

  test('the dependency graph has no cycle', () => {
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (name: string, path: string[]) => {
      if (done.has(name)) return;
      assert.ok(!visiting.has(name), `cycle: ${[...path, name].join(' -> ')}`);
      visiting.add(name);
      for (const dependency of Object.keys(written.services[name]?.depends_on ?? {}))
        visit(dependency, [...path, name]);
      visiting.delete(name);
      done.add(name);
    };
    for (const name of Object.keys(written.services)) visit(name, []);
  });

  test('the gateway waits for its migration, and the stack for its stores', () => {
    assert.equal(written.services.server!.depends_on?.migrate?.condition, 'service_completed_successfully');
    assert.equal(written.services.grafana!.depends_on?.prometheus?.condition, 'service_healthy');
    assert.equal(written.services['otel-collector']!.depends_on?.tempo?.condition, 'service_healthy');
  });
});

describe('volumes', () => {
  const declared = Object.keys(written.volumes ?? {});

  test('every named volume is declared and every declared volume is used', () => {
    const used = new Set<string>();
    for (const [name, service] of Object.entries(written.services))
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('.') || source.startsWith('/')) continue;
        assert.ok(declared.includes(source), `${name} mounts undeclared volume ${source}`);
        used.add(source);
      }
    assert.deepEqual([...used].sort(), [...declared].sort());
  });

  test('every store keeps its data in a named volume', () => {
    const dataPaths: Record<string, string> = {
      postgres: '/var/lib/postgresql',
      redis: '/data',
      prometheus: '/prometheus',
      alertmanager: '/alertmanager',
      loki: '/loki',
      tempo: '/var/tempo',
      grafana: '/var/lib/grafana',
    };
    for (const [name, path] of Object.entries(dataPaths)) {
      const mount = (written.services[name]!.volumes ?? []).find((volume) => volume.split(':')[1] === path);
      assert.ok(mount && declared.includes(mount.split(':')[0]!), `${name} has no named volume on ${path}`);
    }
  });
});

describe('variables and observability/.env.example', () => {
  const variables = composeVariables();
  const example = parseDotenv(readText('observability', '.env.example'));

  test('GRAFANA_ADMIN_PASSWORD is the one required variable, and has no default anywhere', () => {
    assert.deepEqual(
      [...new Set(variables.filter((v) => v.required).map((v) => v.name))],
      ['GRAFANA_ADMIN_PASSWORD'],
    );
    assert.equal(example.GRAFANA_ADMIN_PASSWORD, '');
    const grafana = written.services.grafana!.environment!;
    assert.match(String(grafana.GF_SECURITY_ADMIN_PASSWORD), /^\$\{GRAFANA_ADMIN_PASSWORD:\?/);
  });

  test('.env.example documents exactly the variables compose reads', () => {
    assert.deepEqual(Object.keys(example).sort(), [...new Set(variables.map((v) => v.name))].sort());
  });

  test('each variable has one default, and .env.example shows that value', () => {
    const defaults = new Map<string, string | undefined>();
    for (const variable of variables) {
      if (defaults.has(variable.name))
        assert.equal(variable.defaultValue, defaults.get(variable.name), `${variable.name} has two defaults`);
      defaults.set(variable.name, variable.defaultValue);
      if (!variable.required) assert.equal(example[variable.name], variable.defaultValue, variable.name);
    }
  });
});

describe('the gateway containers accept their environment', async () => {
  const resolved = await resolvedCompose([]);
  const environment = (name: string) =>
    Object.fromEntries(
      Object.entries(resolved.services[name]!.environment ?? {}).map(([key, value]) => [
        key,
        String(value ?? ''),
      ]),
    );

  test('server: settings and telemetry settings load, listening on all interfaces', () => {
    const serverEnvironment = environment('server');
    const settings = loadSettings(serverEnvironment);
    assert.equal(settings.host, '0.0.0.0');
    assert.equal(settings.port, 8080);
    assert.equal(new URL(settings.databaseUrl!).host, 'postgres:5432');
    assert.equal(new URL(settings.redisUrl!).host, 'redis:6379');
    const telemetry = loadObservabilitySettings(serverEnvironment);
    assert.ok(telemetry, 'telemetry settings');
    assert.equal(serverEnvironment.OBSERVABILITY_OTEL_ENDPOINT, 'http://otel-collector:4318');
    assert.equal(serverEnvironment.OBSERVABILITY_OTEL_METRICS_EXPORTER, 'none', 'metrics stay on /metrics');
    assert.equal(
      serverEnvironment.OBSERVABILITY_SERVICE_INSTANCE_ID,
      undefined,
      'each replica uses its hostname',
    );
  });

  test('migrate: settings load against the same database', () => {
    const settings = loadSettings(environment('migrate'));
    assert.equal(settings.databaseUrl, loadSettings(environment('server')).databaseUrl);
  });
});
