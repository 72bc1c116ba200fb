/**
 * The stack's configurations agree with each other and with docker-compose.yml (issue point 8,
 * last item). Each service's listening ports are read from its own configuration (or its image's
 * documented default); then every `host:port` that any configuration, environment or healthcheck
 * names must be a Compose service listening there, every published or exposed port must be one
 * its service listens on, and the pieces named by the spec must be wired as it says: the eleven
 * scrape jobs, the Collector pipeline, Tempo's metrics generator, Loki's schema, the mounts.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { allStrings, parseAlloy } from './alloy-syntax.ts';
import { asArray, type ComposeFile, readText, readYaml, repositoryPath } from './stack-files.ts';

/* biome-ignore lint/suspicious/noExplicitAny: configuration files are untyped YAML trees */
type Yaml = any;

const compose = readYaml<ComposeFile>('docker-compose.yml');
const prometheus: Yaml = readYaml('observability', 'prometheus', 'prometheus.yml');
const collector: Yaml = readYaml('observability', 'otel-collector', 'config.yml');
const tempo: Yaml = readYaml('observability', 'tempo', 'tempo.yml');
const loki: Yaml = readYaml('observability', 'loki', 'loki.yml');
const promtail: Yaml = readYaml('observability', 'promtail', 'promtail.yml');
const datasources: Yaml = readYaml(
  'observability',
  'grafana',
  'provisioning',
  'datasources',
  'datasources.yml',
);
const contactPoints: Yaml = readYaml(
  'observability',
  'grafana',
  'provisioning',
  'alerting',
  'contact-points.yml',
);
const dashboardProviders: Yaml = readYaml(
  'observability',
  'grafana',
  'provisioning',
  'dashboards',
  'dashboards.yml',
);
const traefik: Yaml = readYaml('observability', 'traefik', 'dynamic.yml');
const alloyBlocks = parseAlloy(readText('observability', 'alloy', 'config.alloy'));

const portOf = (address: string) => Number(/:(\d+)$/.exec(address)?.[1]);
const flag = (service: string, name: string) =>
  [...asArray(compose.services[service]!.command), ...asArray(compose.services[service]!.entrypoint)]
    .find((argument) => argument.startsWith(`${name}=`))
    ?.slice(name.length + 1);

/**
 * Where each service listens inside the network, from its own configuration; image defaults where
 * the configuration leaves the port alone (documented upstream: Prometheus 9090, Alertmanager 9093,
 * Grafana 3000, PostgreSQL 5432, Redis 6379, node-exporter 9100, cAdvisor 8080, redis_exporter
 * 9121, postgres_exporter 9187).
 */
const listening: Record<string, number[]> = {
  server: [Number(compose.services.server!.environment!.PORT)],
  migrate: [],
  'storage-init': [],
  postgres: [5432],
  redis: [6379],
  traefik: asArray(compose.services.traefik!.command)
    .filter((argument) => /^--entryPoints\.\w+\.address=/.test(argument))
    .map(portOf),
  prometheus: [
    flag('prometheus', '--web.listen-address') ? portOf(flag('prometheus', '--web.listen-address')!) : 9090,
  ],
  alertmanager: [
    flag('alertmanager', '--web.listen-address')
      ? portOf(flag('alertmanager', '--web.listen-address')!)
      : 9093,
  ],
  loki: [loki.server.http_listen_port, loki.server.grpc_listen_port],
  tempo: [
    tempo.server.http_listen_port,
    tempo.server.grpc_listen_port,
    portOf(tempo.distributor.receivers.otlp.protocols.grpc.endpoint),
    portOf(tempo.distributor.receivers.otlp.protocols.http.endpoint),
  ],
  'otel-collector': [
    portOf(collector.receivers.otlp.protocols.grpc.endpoint),
    portOf(collector.receivers.otlp.protocols.http.endpoint),
    portOf(collector.exporters['prometheus/app'].endpoint),
    collector.service.telemetry.metrics.readers[0].pull.exporter.prometheus.port,
    portOf(collector.extensions.health_check.endpoint),
  ],
  alloy: [portOf(flag('alloy', '--server.http.listen-addr')!)],
  promtail: [promtail.server.http_listen_port],
  grafana: [3000],
  'node-exporter': [9100],
  cadvisor: [8080],
  'redis-exporter': [9121],
  'postgres-exporter': [9187],
};

interface Endpoint {
  readonly where: string;
  readonly host: string;
  readonly port: number;
  /** The service whose configuration names it (for localhost / 127.0.0.1). */
  readonly owner: string;
}

/** Every `host:port` in a value tree whose host is a Compose service or the owner itself. */
function endpointsIn(value: unknown, owner: string, where: string): Endpoint[] {
  const found: Endpoint[] = [];
  const visit = (current: unknown, path: string) => {
    if (typeof current === 'string') {
      for (const match of current.matchAll(
        /(?:^|[/@\s'"(])([a-z][a-z0-9.-]*|127\.0\.0\.1):(\d{2,5})(?![\d])/g,
      )) {
        const host = match[1]!;
        // A dotless host that is not a service is a typo (or a service that does not exist);
        // hosts with a domain (smtp.example.com) are outside the stack.
        if (!host.includes('.') || ['127.0.0.1'].includes(host))
          found.push({ where: `${where} ${path}`, host, port: Number(match[2]), owner });
      }
      for (const match of current.matchAll(/\/dev\/tcp\/127\.0\.0\.1\/(\d+)/g))
        found.push({ where: `${where} ${path}`, host: '127.0.0.1', port: Number(match[1]), owner });
    } else if (Array.isArray(current)) {
      for (const [index, item] of current.entries()) visit(item, `${path}[${index}]`);
    } else if (current !== null && typeof current === 'object')
      for (const [key, inner] of Object.entries(current)) visit(inner, path ? `${path}.${key}` : key);
  };
  visit(value, '');
  return found;
}

/**
 * URLs people open from the host (links in alerts and UIs): they name published host ports, not
 * network endpoints, and are checked against the published ports instead.
 */
const externalUrls: Record<string, { service: string; value: string }> = {
  '--web.external-url (prometheus)': {
    service: 'prometheus',
    value: flag('prometheus', '--web.external-url')!,
  },
  '--web.external-url (alertmanager)': {
    service: 'alertmanager',
    value: flag('alertmanager', '--web.external-url')!,
  },
  GF_SERVER_ROOT_URL: {
    service: 'grafana',
    value: String(compose.services.grafana!.environment!.GF_SERVER_ROOT_URL),
  },
  'GRAFANA_ROOT_URL (alertmanager links)': {
    service: 'grafana',
    value: String(compose.services.alertmanager!.environment!.GRAFANA_ROOT_URL),
  },
};
const withoutExternalUrls = (values: string[]) =>
  values.filter((value) => !Object.values(externalUrls).some((url) => value.includes(url.value)));
const withoutExternalEnvironment = (environment: Record<string, unknown>) =>
  Object.fromEntries(
    Object.entries(environment).filter(
      ([, value]) => !Object.values(externalUrls).some((url) => url.value === value),
    ),
  );

const endpoints: Endpoint[] = [
  ...endpointsIn(prometheus, 'prometheus', 'prometheus.yml'),
  ...endpointsIn(collector, 'otel-collector', 'otel-collector/config.yml'),
  ...endpointsIn(tempo, 'tempo', 'tempo.yml'),
  ...endpointsIn(loki, 'loki', 'loki.yml'),
  ...endpointsIn(promtail, 'promtail', 'promtail.yml'),
  ...endpointsIn(allStrings(alloyBlocks), 'alloy', 'config.alloy'),
  ...endpointsIn(datasources, 'grafana', 'datasources.yml'),
  ...endpointsIn(contactPoints, 'grafana', 'contact-points.yml'),
  ...endpointsIn(traefik, 'traefik', 'traefik/dynamic.yml'),
  ...Object.entries(compose.services).flatMap(([name, service]) => [
    ...endpointsIn(
      withoutExternalEnvironment(service.environment ?? {}),
      name,
      `compose ${name}.environment`,
    ),
    ...endpointsIn(service.healthcheck ?? {}, name, `compose ${name}.healthcheck`),
    ...endpointsIn(
      withoutExternalUrls([...asArray(service.command), ...asArray(service.entrypoint)]),
      name,
      `compose ${name}.command`,
    ),
  ]),
];

describe('ports and endpoints agree with docker-compose.yml', () => {
  test('every service of the compose file has its listening ports known', () => {
    assert.deepEqual(Object.keys(listening).sort(), Object.keys(compose.services).sort());
    for (const [name, ports] of Object.entries(listening))
      for (const port of ports) assert.ok(Number.isInteger(port) && port > 0, `${name}: ${port}`);
  });

  test('every host:port named anywhere is a service listening there', () => {
    assert.ok(endpoints.length > 40, `only ${endpoints.length} endpoints found`);
    for (const endpoint of endpoints) {
      const service = ['localhost', '127.0.0.1'].includes(endpoint.host) ? endpoint.owner : endpoint.host;
      assert.ok(
        listening[service]?.includes(endpoint.port),
        `${endpoint.where}: ${endpoint.host}:${endpoint.port}, but ${service} listens on ${listening[service]}`,
      );
    }
  });

  test('every published or exposed port is one its service listens on', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const port of service.ports ?? []) {
        const container = Number(port.split(':').at(-1)!.split('/')[0]);
        assert.ok(listening[name]!.includes(container), `${name} publishes ${port}`);
      }
      for (const port of service.expose ?? [])
        assert.ok(listening[name]!.includes(Number(port)), `${name} exposes ${port}`);
    }
  });

  test('external URLs (alert and UI links) default to the published host ports', () => {
    for (const [where, url] of Object.entries(externalUrls)) {
      const defaultUrl = /:-([^}]+)\}/.exec(url.value)?.[1];
      assert.ok(defaultUrl, `${where}: ${url.value} has no default`);
      const published = (compose.services[url.service]!.ports ?? []).map(
        (port) => /:\$\{\w+:-(\d+)\}:/.exec(port)?.[1],
      );
      assert.ok(
        published.includes(new URL(defaultUrl).port),
        `${where}: ${defaultUrl} is not a published port of ${url.service}`,
      );
    }
  });

  test('every healthcheck probes its own service on a port it listens on', () => {
    const traefikProbe = asArray(compose.services.traefik!.healthcheck?.test);
    assert.ok(
      traefikProbe.includes(
        `--entryPoints.metrics.address=${flag('traefik', '--entryPoints.metrics.address')}`,
      ),
    );
    for (const [name, service] of Object.entries(compose.services)) {
      const probes = endpointsIn(service.healthcheck ?? {}, name, name);
      // Their own CLI knows the address (pg_isready, redis-cli, `-health`, `traefik healthcheck`).
      if (['postgres', 'redis', 'loki', 'tempo', 'traefik'].includes(name)) continue;
      if (service.healthcheck) assert.ok(probes.length > 0, `${name}: healthcheck probes no port`);
      for (const probe of probes)
        assert.ok(['localhost', '127.0.0.1'].includes(probe.host), `${name}: ${probe.host}`);
    }
  });

  test('every configuration mounted from the repository exists, at the path its command reads', () => {
    for (const [name, service] of Object.entries(compose.services))
      for (const volume of service.volumes ?? []) {
        const [source] = volume.split(':');
        if (source!.startsWith('./'))
          assert.ok(existsSync(repositoryPath(source!)), `${name} mounts missing ${source}`);
      }
    const mounted = (service: string, path: string) =>
      (compose.services[service]!.volumes ?? []).some((volume) => {
        const target = volume.split(':')[1]!;
        return path === target || path.startsWith(`${target}/`);
      });
    const configFlags: [string, string][] = [
      ['prometheus', '--config.file'],
      ['loki', '-config.file'],
      ['tempo', '-config.file'],
      ['otel-collector', '--config'],
      ['promtail', '-config.file'],
    ];
    for (const [service, name] of configFlags) {
      const path = flag(service, name);
      assert.ok(path && mounted(service, path), `${service}: ${name}=${path} is not mounted`);
    }
    const alloyCommand = asArray(compose.services.alloy!.command);
    assert.ok(mounted('alloy', alloyCommand[1]!), 'alloy config');
    const alertmanagerEntrypoint = asArray(compose.services.alertmanager!.entrypoint);
    assert.ok(mounted('alertmanager', alertmanagerEntrypoint[1]!), 'render-config.sh');
    assert.ok(mounted('alertmanager', alertmanagerEntrypoint[2]!), 'alertmanager.yml.tmpl');
    assert.equal(
      flag('alertmanager', '--config.file'),
      alertmanagerEntrypoint[3],
      'Alertmanager reads what was rendered',
    );
    assert.ok(mounted('grafana', dashboardProviders.providers[0].options.path), 'dashboards');
    assert.ok(mounted('grafana', '/etc/grafana/provisioning/datasources'), 'provisioning');
    assert.ok(mounted('traefik', flag('traefik', '--providers.file.filename')!), 'traefik routes');
  });
});

describe('Prometheus', () => {
  const jobs = Object.fromEntries(prometheus.scrape_configs.map((job: Yaml) => [job.job_name, job]));

  test('the eleven scrape jobs of the spec, with their targets', () => {
    const targets = Object.fromEntries(
      Object.entries(jobs).map(([name, job]) => [
        name,
        (job as Yaml).static_configs.flatMap((c: Yaml) => c.targets),
      ]),
    );
    assert.deepEqual(targets, {
      'odock-server': ['server:8080'],
      prometheus: ['localhost:9090'],
      loki: ['loki:3100'],
      tempo: ['tempo:3200'],
      'otel-collector': ['otel-collector:8888'],
      'otel-collector-app-metrics': ['otel-collector:8889'],
      'node-exporter': ['node-exporter:9100'],
      cadvisor: ['cadvisor:8080'],
      traefik: ['traefik:8082'],
      'postgres-exporter': ['postgres-exporter:9187'],
      'redis-exporter': ['redis-exporter:9121'],
    });
  });

  test('the gateway every 15 s on /metrics, rules every 30 s, rules from rules/*.yml', () => {
    assert.equal(jobs['odock-server'].scrape_interval, '15s');
    assert.equal(jobs['odock-server'].metrics_path ?? '/metrics', '/metrics');
    assert.equal(prometheus.global.evaluation_interval, '30s');
    assert.deepEqual(prometheus.rule_files, ['rules/*.yml']);
    const volumes = compose.services.prometheus!.volumes ?? [];
    assert.ok(volumes.includes('./observability/prometheus/rules:/etc/prometheus/rules:ro'));
    assert.equal(flag('prometheus', '--config.file'), '/etc/prometheus/prometheus.yml');
  });

  test('alerts go to the stack Alertmanager', () => {
    assert.deepEqual(prometheus.alerting.alertmanagers[0].static_configs[0].targets, ['alertmanager:9093']);
  });

  test('exemplars are stored and Tempo may remote-write', () => {
    const command = asArray(compose.services.prometheus!.command);
    assert.ok(command.includes('--enable-feature=exemplar-storage'));
    assert.ok(command.includes('--web.enable-remote-write-receiver'));
  });

  test('the Traefik job reads the metrics entrypoint, where metrics are served', () => {
    assert.ok(asArray(compose.services.traefik!.command).includes('--metrics.prometheus.entryPoint=metrics'));
    assert.equal(portOf(flag('traefik', '--entryPoints.metrics.address')!), 8082);
  });
});

describe('OpenTelemetry Collector', () => {
  const pipelines = collector.service.pipelines;

  test('otlp in, memory_limiter -> resource -> transform -> batch, the spec exporters out', () => {
    assert.deepEqual(Object.keys(pipelines).sort(), ['logs', 'metrics', 'traces']);
    for (const pipeline of Object.values(pipelines) as Yaml[]) {
      assert.deepEqual(pipeline.receivers, ['otlp']);
      assert.deepEqual(pipeline.processors, ['memory_limiter', 'resource', 'transform', 'batch']);
    }
    assert.deepEqual(pipelines.traces.exporters, ['otlp_http/tempo']);
    assert.deepEqual(pipelines.metrics.exporters, ['prometheus/app']);
    assert.deepEqual(pipelines.logs.exporters, ['otlp_http/loki']);
  });

  test('component names are the snake_case ones of v0.144+, all defined ones used', () => {
    const defined = ['receivers', 'processors', 'exporters', 'extensions'].flatMap((kind) =>
      Object.keys(collector[kind] ?? {}),
    );
    for (const name of defined) {
      assert.match(name, /^[a-z][a-z0-9_]*(\/[a-z0-9_-]+)?$/, name);
      const type = name.split('/')[0]!;
      assert.ok(
        !['otlphttp', 'k8sattributes', 'resourcedetection', 'spanmetrics', 'filelog'].includes(type),
        name,
      );
    }
    assert.ok(
      !Object.keys(collector.exporters).some((name) => name.split('/')[0] === 'otlp'),
      'otlp exporter is otlp_grpc',
    );
    const used = new Set([
      ...collector.service.extensions,
      ...Object.values(pipelines).flatMap((p: Yaml) => [...p.receivers, ...p.processors, ...p.exporters]),
    ]);
    assert.deepEqual([...used].sort(), [...defined].sort());
  });

  test('receivers listen on all interfaces, on the ports compose publishes', () => {
    assert.equal(collector.receivers.otlp.protocols.grpc.endpoint, '0.0.0.0:4317');
    assert.equal(collector.receivers.otlp.protocols.http.endpoint, '0.0.0.0:4318');
  });

  test('self-metrics on 0.0.0.0:8888 through a pull reader; app metrics on :8889 with exemplars', () => {
    const reader = collector.service.telemetry.metrics.readers[0].pull.exporter.prometheus;
    assert.deepEqual({ host: reader.host, port: reader.port }, { host: '0.0.0.0', port: 8888 });
    const app = collector.exporters['prometheus/app'];
    assert.equal(app.endpoint, '0.0.0.0:8889');
    assert.equal(app.enable_open_metrics, true);
    assert.equal(app.resource_to_telemetry_conversion.enabled, true);
  });

  test('traces go to Tempo OTLP HTTP and logs to Loki native OTLP', () => {
    assert.equal(
      collector.exporters['otlp_http/tempo'].endpoint,
      `http://tempo:${portOf(tempo.distributor.receivers.otlp.protocols.http.endpoint)}`,
    );
    assert.equal(
      collector.exporters['otlp_http/loki'].endpoint,
      `http://loki:${loki.server.http_listen_port}/otlp`,
    );
  });

  test('the gateway exports traces to the Collector OTLP HTTP receiver', () => {
    const endpoint = String(compose.services.server!.environment!.OBSERVABILITY_OTEL_ENDPOINT);
    assert.match(endpoint, /^\$\{OBSERVABILITY_OTEL_ENDPOINT:-http:\/\/otel-collector:4318\}$/);
  });

  test('environment references of the Collector config are passed to the container', () => {
    const text = readText('observability', 'otel-collector', 'config.yml');
    for (const match of text.matchAll(/\$\{env:([A-Z_0-9]+)/g))
      assert.ok(match[1]! in (compose.services['otel-collector']!.environment ?? {}), match[1]);
  });
});

describe('Tempo', () => {
  test('3.0 monolithic: no ingester, compactor, metrics_generator_client, local-blocks', () => {
    for (const block of ['ingester', 'ingester_client', 'compactor', 'metrics_generator_client'])
      assert.equal(tempo[block], undefined, block);
    assert.doesNotMatch(JSON.stringify(tempo), /local[-_]blocks|traces_storage/);
  });

  test('OTLP receivers on all interfaces', () => {
    assert.equal(tempo.distributor.receivers.otlp.protocols.grpc.endpoint, '0.0.0.0:4317');
    assert.equal(tempo.distributor.receivers.otlp.protocols.http.endpoint, '0.0.0.0:4318');
  });

  test('the metrics generator writes span metrics and the service graph to Prometheus, with exemplars', () => {
    const [remoteWrite] = tempo.metrics_generator.storage.remote_write;
    assert.equal(remoteWrite.url, 'http://prometheus:9090/api/v1/write');
    assert.equal(remoteWrite.send_exemplars, true);
    assert.deepEqual([...tempo.overrides.defaults.metrics_generator.processors].sort(), [
      'service-graphs',
      'span-metrics',
    ]);
  });

  test('retention comes from TEMPO_RETENTION, expanded at start', () => {
    assert.match(tempo.backend_worker.compaction.block_retention, /^\$\{TEMPO_RETENTION:-\d+h\}$/);
    assert.ok(asArray(compose.services.tempo!.command).includes('-config.expand-env=true'));
    assert.ok('TEMPO_RETENTION' in (compose.services.tempo!.environment ?? {}));
  });
});

describe('Loki', () => {
  test('TSDB with schema v13 and structured metadata allowed', () => {
    const schemas = loki.schema_config.configs;
    assert.equal(schemas.at(-1).store, 'tsdb');
    assert.equal(schemas.at(-1).schema, 'v13');
    assert.equal(loki.limits_config.allow_structured_metadata, true);
  });

  test('retention comes from LOKI_RETENTION_PERIOD, expanded at start, enforced by the compactor', () => {
    assert.match(loki.limits_config.retention_period, /^\$\{LOKI_RETENTION_PERIOD:-\d+h\}$/);
    assert.equal(loki.compactor.retention_enabled, true);
    assert.ok(asArray(compose.services.loki!.command).includes('-config.expand-env=true'));
    assert.ok('LOKI_RETENTION_PERIOD' in (compose.services.loki!.environment ?? {}));
  });
});

describe('Grafana datasources', () => {
  test('the four datasources with fixed uids at their services', () => {
    const urls = Object.fromEntries(datasources.datasources.map((source: Yaml) => [source.uid, source.url]));
    assert.deepEqual(urls, {
      prometheus: 'http://prometheus:9090',
      loki: `http://loki:${loki.server.http_listen_port}`,
      tempo: `http://tempo:${tempo.server.http_listen_port}`,
      alertmanager: 'http://alertmanager:9093',
    });
  });
});
