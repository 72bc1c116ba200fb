/**
 * bench/systems.ts: the environment each odock-server system under test is started with. A
 * `--gateway-env` variable wins over the benchmark's own, so an A/B can take one part of the
 * production path out (`LOG_LEVEL=silent`, `OBSERVABILITY_SAMPLE_RATE=0`).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { upstreamHeader } from '../bench/bare-proxy.ts';
import {
  type BenchEnvironment,
  mockLabel,
  odockEnvironment,
  targetOption,
  targetRequest,
} from '../bench/systems.ts';

const environment: BenchEnvironment = {
  repoRoot: '/repo',
  gatewayRoot: '/repo',
  portBase: 18100,
  systemCpu: '0',
  loadCpu: '1',
  runDir: '/tmp/run',
  databaseUrl: 'postgres://127.0.0.1/odock_bench',
  redisUrl: 'redis://127.0.0.1:6379',
  stream: { timeToFirstTokenMs: 20, chunkIntervalMs: 20, chunks: 64 },
};

describe('the odock-server systems of the benchmark', () => {
  test('telemetry on and off as the benchmark defines them, without --gateway-env', () => {
    const on = odockEnvironment(environment, true, '/tmp/run/odock.yaml');
    assert.equal(on.LOG_LEVEL, 'info');
    assert.equal(on.OBSERVABILITY_SAMPLE_RATE, '0.1');
    assert.equal(on.OBSERVABILITY_OTEL_TRACES_EXPORTER, 'otlphttp');
    const off = odockEnvironment(environment, false, '/tmp/run/odock.yaml');
    assert.equal(off.LOG_LEVEL, 'silent');
    assert.equal(off.OBSERVABILITY_OTEL_TRACES_EXPORTER, 'none');
    assert.equal(off.ODOCK_CONFIG, '/tmp/run/odock.yaml');
  });

  test('--gateway-env wins over the telemetry variables and adds its own', () => {
    const gatewayEnv = { OBSERVABILITY_SAMPLE_RATE: '0', LOG_LEVEL: 'silent', ODOCK_MEMORY_LIMIT_MB: '224' };
    const on = odockEnvironment({ ...environment, gatewayEnv }, true, '/tmp/run/odock.yaml');
    assert.equal(on.OBSERVABILITY_SAMPLE_RATE, '0');
    assert.equal(on.LOG_LEVEL, 'silent');
    assert.equal(on.ODOCK_MEMORY_LIMIT_MB, '224');
    assert.equal(on.OBSERVABILITY_OTEL_TRACES_EXPORTER, 'otlphttp', 'the rest of the path stays');
  });
});

describe("the tools' targets beside the systems", () => {
  test('--system raw and --floor name the raw-socket and floor proxies', () => {
    assert.equal(targetOption('raw', undefined, 'usage'), 'raw');
    assert.equal(targetOption('bare', undefined, 'usage'), 'bare');
    assert.equal(targetOption('raw', '6', 'usage'), 'floor-6');
  });

  test("the raw-socket and floor proxies get the bare proxy's request at ports of their own", () => {
    const bare = targetRequest(environment, 'bare', 'twenty');
    const raw = targetRequest(environment, 'raw', 'twenty');
    const floor = targetRequest(environment, 'floor-6', 'twenty');
    // The floor of the features as a system of the benchmark run: level 7 on a port of its own.
    const floorSystem = targetRequest(environment, 'floor', 'twenty');
    assert.equal(new Set([bare.url, raw.url, floor.url, floorSystem.url]).size, 4);
    for (const request of [raw, floor, floorSystem]) {
      assert.equal(new URL(request.url).pathname, new URL(bare.url).pathname);
      assert.deepEqual(request.headers, bare.headers);
      assert.equal(request.body, bare.body);
    }
    assert.equal(raw.headers[upstreamHeader], bare.headers[upstreamHeader]);
  });
});

describe("the mock modes' labels", () => {
  test('name the stream mock as such, not by a latency it does not have', () => {
    assert.equal(mockLabel('zero'), '0 ms mock');
    assert.equal(mockLabel('twenty'), '20 ms mock');
    assert.equal(mockLabel('stream'), 'stream mock');
  });
});
