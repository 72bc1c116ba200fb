/**
 * The processes of a benchmark run and the request each target receives: the mock upstreams
 * (one process per latency mode), the stand-in OTLP collector, and the systems under test:
 * the bare proxy, odock-server with telemetry on and off, and the Portkey gateway. `direct`
 * is the mock itself, the baseline every "added" number is measured against.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gatewayNodeFlags } from '../src/node-flags.ts';
import { upstreamHeader } from './bare-proxy.ts';
import { type FloorLevel, floorLevelOption } from './floor-proxy.ts';
import { ensureDatabase } from './machine.ts';
import { type Service, startService } from './processes.ts';
import { fail } from './tool-args.ts';
import type { RequestSpec } from './wrk.ts';

/**
 * The systems under test: the bare proxy (the HTTP stack's ceiling), the floor of the features
 * (`bench/floor-proxy.ts` at level 7: the gateway's work for a unary call written as plainly as
 * it can be, on the same stack, its usage rows to the same PostgreSQL), odock-server with its
 * telemetry on and off, and Portkey.
 */
export const systemIds = ['bare', 'floor', 'odock', 'odock-notel', 'portkey'] as const;
export type SystemId = (typeof systemIds)[number];
export type TargetId = 'direct' | SystemId;

/** The floor proxy's level that the `floor` system runs: every feature it has. */
const floorSystemLevel: FloorLevel = 7;

/** The floor proxy answers unary calls only: it takes no part in the stream and memory scenarios. */
export const answersStreams = (system: SystemId): boolean => system !== 'floor';

export const targetLabels: Record<TargetId, string> = {
  direct: 'direct to mock',
  bare: 'bare proxy',
  floor: 'floor of the features',
  odock: 'odock-server',
  'odock-notel': 'odock-server, telemetry off',
  portkey: 'Portkey gateway',
};

/** The mock upstream's modes: unary 0 ms, unary 20 ms, and a paced SSE stream. */
export const mockModes = ['zero', 'twenty', 'stream'] as const;
export type MockMode = (typeof mockModes)[number];

/** How tables and progress lines name a mock: '0 ms mock', or '20 ms mock' (the stream mock's chunks are 20 ms apart too). */
export const mockLabel = (mock: MockMode): string =>
  mock === 'stream' ? 'stream mock' : `${mock === 'zero' ? '0' : '20'} ms mock`;

export interface StreamShape {
  timeToFirstTokenMs: number;
  chunkIntervalMs: number;
  chunks: number;
}

/** How long one stream of the stream mock lasts: its first token, then the other chunks' intervals. */
export const streamLengthMs = (shape: StreamShape): number =>
  shape.timeToFirstTokenMs + (shape.chunks - 1) * shape.chunkIntervalMs;

export interface BenchEnvironment {
  repoRoot: string;
  /** The checkout of the gateway under test (the repository itself by default). */
  gatewayRoot: string;
  portBase: number;
  /** `taskset -c` lists: the systems' core and the load generator's (and mocks') core. */
  systemCpu: string | undefined;
  loadCpu: string | undefined;
  /** Scratch directory of this run: logs, generated config, data directory. */
  runDir: string;
  databaseUrl: string;
  redisUrl: string;
  stream: StreamShape;
  /** `--gateway-env`: environment of the odock-server systems beyond the benchmark's; none: as shipped. */
  gatewayEnv?: Readonly<Record<string, string>>;
}

/** `--system` of a tool that runs one system, one of `systemIds`; otherwise the tool's usage, and exit 2. */
export function systemOption(value: string, usage: string): SystemId {
  if (!(systemIds as readonly string[]).includes(value))
    return fail(usage, `--system: one of ${systemIds.join(', ')}`);
  return value as SystemId;
}

/**
 * What a tool runs and loads: a system of the benchmark, the floor proxy at a level, or the
 * raw-socket proxy (bench/raw-proxy.ts: the bare proxy's exchange with no HTTP library).
 */
export type ToolTarget = SystemId | `floor-${FloorLevel}` | 'raw';

/** `--system S` (a system, or `raw`) or, when given, `--floor LEVEL` (which wins): the tool's target. */
export function targetOption(system: string, floor: string | undefined, usage: string): ToolTarget {
  if (floor === undefined) return system === 'raw' ? 'raw' : systemOption(system, usage);
  try {
    return `floor-${floorLevelOption(floor, '--floor')}`;
  } catch (error) {
    return fail(usage, (error as Error).message);
  }
}

const floorLevelOf = (target: ToolTarget): FloorLevel | undefined =>
  target.startsWith('floor-') ? (Number(target.slice('floor-'.length)) as FloorLevel) : undefined;

/** Starts a target as `startSystem` starts a system. */
export function startTarget(
  environment: BenchEnvironment,
  target: ToolTarget,
  options: SystemProcessOptions = {},
): Promise<Service> {
  if (target === 'raw') return startRaw(environment, options);
  const level = floorLevelOf(target);
  return level === undefined
    ? startSystem(environment, target as SystemId, options)
    : startFloor(environment, level, options);
}

/** The request a target receives for a mock mode. */
export function targetRequest(
  environment: BenchEnvironment,
  target: ToolTarget,
  mode: MockMode,
): RequestSpec {
  if (target === 'raw') return bareRequestAt(environment, mode, rawUrl(environment));
  return floorLevelOf(target) === undefined
    ? requestFor(environment, target as SystemId, mode)
    : bareRequestAt(environment, mode, floorUrl(environment));
}

/**
 * The environment of a tool that runs one system by itself (`profile.ts`, `instructions.ts`):
 * pinned as the benchmark pins it, on the benchmark's database, Redis and stream shape, in a
 * new run directory named after the tool.
 */
export async function standaloneEnvironment(options: {
  tool: string;
  gatewayRoot: string | undefined;
  portBase: number;
  gatewayEnv?: Readonly<Record<string, string>>;
}): Promise<BenchEnvironment> {
  const repoRoot = fileURLToPath(new URL('..', import.meta.url));
  return {
    repoRoot,
    gatewayRoot: options.gatewayRoot ?? repoRoot,
    portBase: options.portBase,
    systemCpu: '0',
    loadCpu: '1',
    runDir: await mkdtemp(join(os.tmpdir(), `odock-${options.tool}-`)),
    databaseUrl: await ensureDatabase('postgres://postgres@127.0.0.1:5432/test', 'odock_bench', repoRoot),
    redisUrl: 'redis://127.0.0.1:6379',
    stream: { timeToFirstTokenMs: 20, chunkIntervalMs: 20, chunks: 64 },
    gatewayEnv: options.gatewayEnv,
  };
}

/** The key of bench/odock.bench.yaml (`secret_env: ODOCK_BENCH_KEY`); it guards only a mock. */
export const benchKey = 'sk-odock-bench-0123456789abcdef';
const defaultPortBase = 18100;
const benchConfig = fileURLToPath(new URL('./odock.bench.yaml', import.meta.url));

const ports = {
  mock: { zero: 0, twenty: 1, stream: 2 },
  otlp: 10,
  system: { bare: 20, odock: 21, 'odock-notel': 22, portkey: 23, floor: 24 },
  floor: 30,
  raw: 31,
} as const;

export const mockUrl = (environment: BenchEnvironment, mode: MockMode): string =>
  `http://127.0.0.1:${environment.portBase + ports.mock[mode]}`;
export const otlpUrl = (environment: BenchEnvironment): string =>
  `http://127.0.0.1:${environment.portBase + ports.otlp}`;
export const systemUrl = (environment: BenchEnvironment, system: SystemId): string =>
  `http://127.0.0.1:${environment.portBase + ports.system[system]}`;

const mockLatencyFlags: Record<MockMode, (shape: StreamShape) => string[]> = {
  zero: () => ['--latency-ms', '0'],
  twenty: () => ['--latency-ms', '20'],
  stream: (shape) => [
    '--latency-ms',
    '0',
    '--ttft-ms',
    String(shape.timeToFirstTokenMs),
    '--chunk-interval-ms',
    String(shape.chunkIntervalMs),
    '--chunks',
    String(shape.chunks),
  ],
};

/**
 * The mock upstream of one mode, on that mode's port. `latencyFlags` replaces the mode's own
 * latency flags (`bench/stream-memory.ts --unary`: the 20 ms mock's place answering after a minute).
 */
export function startMock(
  environment: BenchEnvironment,
  mode: MockMode,
  latencyFlags: readonly string[] = mockLatencyFlags[mode](environment.stream),
): Promise<Service> {
  const url = mockUrl(environment, mode);
  return startService({
    name: `mock-${mode}`,
    command: [
      process.execPath,
      join(environment.gatewayRoot, 'src/cli.ts'),
      'mock-upstream',
      '--port',
      String(environment.portBase + ports.mock[mode]),
      '--no-echo',
      ...latencyFlags,
    ],
    cpu: environment.loadCpu,
    logFile: join(environment.runDir, `mock-${mode}.log`),
    readyUrl: `${url}/healthz`,
  });
}

export function startOtlpReceiverProcess(environment: BenchEnvironment): Promise<Service> {
  return startService({
    name: 'otlp-receiver',
    command: [
      process.execPath,
      fileURLToPath(new URL('./otlp-receiver.ts', import.meta.url)),
      '--port',
      String(environment.portBase + ports.otlp),
    ],
    cpu: environment.loadCpu,
    logFile: join(environment.runDir, 'otlp-receiver.log'),
    readyUrl: `${otlpUrl(environment)}/stats`,
  });
}

/** The config file with the mock ports of this run (the committed file when they are the defaults). */
async function configFor(environment: BenchEnvironment): Promise<string> {
  if (environment.portBase === defaultPortBase) return benchConfig;
  let text = await readFile(benchConfig, 'utf8');
  for (const mode of mockModes)
    text = text.replaceAll(
      `http://127.0.0.1:${defaultPortBase + ports.mock[mode]}/`,
      `${mockUrl(environment, mode)}/`,
    );
  const path = join(environment.runDir, 'odock.bench.yaml');
  await writeFile(path, text);
  return path;
}

/**
 * The gateway's environment: the full production path (telemetry on) or everything off, and
 * `--gateway-env` last, so it can take a part of that path out (`LOG_LEVEL=silent`).
 */
export function odockEnvironment(
  environment: BenchEnvironment,
  telemetry: boolean,
  config: string,
): Record<string, string | undefined> {
  const telemetryVariables = telemetry
    ? {
        LOG_LEVEL: 'info',
        OBSERVABILITY_OTEL_EXPORTER: 'otlphttp',
        OBSERVABILITY_OTEL_TRACES_EXPORTER: 'otlphttp',
        OBSERVABILITY_OTEL_METRICS_EXPORTER: 'none',
        OBSERVABILITY_OTEL_ENDPOINT: otlpUrl(environment),
        OBSERVABILITY_SAMPLE_RATE: '0.1',
      }
    : {
        LOG_LEVEL: 'silent',
        OBSERVABILITY_OTEL_EXPORTER: 'none',
        OBSERVABILITY_OTEL_TRACES_EXPORTER: 'none',
        OBSERVABILITY_OTEL_METRICS_EXPORTER: 'none',
      };
  return {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    ODOCK_CONFIG: config,
    ODOCK_DATA_DIR: join(environment.runDir, 'data'),
    DATABASE_URL: environment.databaseUrl,
    REDIS_URL: environment.redisUrl,
    ODOCK_BENCH_KEY: benchKey,
    ...telemetryVariables,
    ...environment.gatewayEnv,
  };
}

/** Node's compile cache for the gateways under test (entries are keyed by file and content). */
const benchCompileCache = join(os.tmpdir(), 'odock-bench-compile-cache');

/**
 * The gateway syncs its configuration into the benchmark database, and a key that once left a
 * configuration synced there stays revoked. Every cell would then measure 401s; say so at start.
 */
async function refuseRevokedKey(service: Service, url: string): Promise<void> {
  const answer = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${benchKey}` } });
  await answer.body?.cancel();
  if (answer.status !== 401 && answer.status !== 403) return;
  await service.stop();
  throw new Error(
    `odock-server refuses the benchmark key (HTTP ${answer.status}): a gateway with another configuration ` +
      'was pointed at the benchmark database and revoked it, for good. Drop the database (DROP DATABASE ' +
      'odock_bench, or the one --database-name names) and run again.',
  );
}

export interface SystemProcessOptions {
  /** Extra `node` flags for the gateway processes (the profiler passes `--cpu-prof`). */
  nodeFlags?: readonly string[];
  /** Extra environment variables (the profiler's loop probe reads one). */
  env?: Readonly<Record<string, string>>;
  /** A program the system's `node` runs under (`valgrind --tool=callgrind ...`), and its start-up allowance. */
  launcher?: { command: readonly string[]; readyTimeoutMs: number };
}

export async function startSystem(
  environment: BenchEnvironment,
  system: SystemId,
  options: SystemProcessOptions = {},
): Promise<Service> {
  const url = systemUrl(environment, system);
  const port = String(environment.portBase + ports.system[system]);
  const logFile = join(environment.runDir, `${system}.log`);
  const node = [process.execPath, ...(options.nodeFlags ?? [])];
  // The gateway runs with the flags it ships with (src/node-flags.ts); the bare proxy too, as
  // the ceiling of the same stack. Portkey runs as its package starts it.
  const shipped = [...gatewayNodeFlags, ...node.slice(1)];
  const extra = options.env ?? {};
  const launcher = options.launcher?.command ?? [];
  const readyTimeoutMs = options.launcher?.readyTimeoutMs;
  switch (system) {
    case 'bare':
      return startService({
        name: system,
        command: [
          ...launcher,
          process.execPath,
          ...shipped,
          fileURLToPath(new URL('./bare-proxy.ts', import.meta.url)),
          '--port',
          port,
        ],
        cpu: environment.systemCpu,
        env: { PATH: process.env.PATH, NODE_ENV: 'production', ...extra },
        logFile,
        readyUrl: `${url}/`,
        readyTimeoutMs,
      });
    case 'odock':
    case 'odock-notel': {
      const config = await configFor(environment);
      // Started as the image starts it: through the package bin, on a compile cache that
      // `prepare` filled (so the process never loads Node's TypeScript compiler).
      const bin = join(environment.gatewayRoot, 'bin/odock-server.js');
      await promisify(execFile)(process.execPath, [bin, 'prepare'], {
        cwd: environment.gatewayRoot,
        env: { PATH: process.env.PATH, NODE_COMPILE_CACHE: benchCompileCache },
      }).catch((error: { stderr?: string }) => {
        // An older checkout (`--gateway-root`) has no `prepare`: it starts as it always did.
        if (!error.stderr?.includes('unknown command "prepare"')) throw error;
      });
      const service = await startService({
        name: system,
        command: [...launcher, process.execPath, ...shipped, bin, 'serve'],
        cpu: environment.systemCpu,
        cwd: environment.gatewayRoot,
        env: {
          ...odockEnvironment(environment, system === 'odock', config),
          NODE_COMPILE_CACHE: benchCompileCache,
          PORT: port,
          ...extra,
        },
        logFile,
        readyUrl: `${url}/healthz`,
        readyTimeoutMs,
      });
      await refuseRevokedKey(service, url);
      return service;
    }
    case 'floor':
      return startBenchProxy(
        environment,
        system,
        'floor-proxy.ts',
        url,
        options,
        floorArgs(environment, floorSystemLevel),
      );
    case 'portkey':
      return startService({
        name: system,
        command: [
          ...launcher,
          ...node,
          join(environment.repoRoot, 'node_modules/@portkey-ai/gateway/build/start-server.js'),
          `--port=${port}`,
          '--headless',
        ],
        cpu: environment.systemCpu,
        env: { PATH: process.env.PATH, NODE_ENV: 'production', ...extra },
        logFile,
        readyUrl: `${url}/`,
        readyTimeoutMs,
      });
  }
}

/** The floor proxy (bench/floor-proxy.ts), on a port of its own beside the systems'. */
export const floorUrl = (environment: BenchEnvironment): string =>
  `http://127.0.0.1:${environment.portBase + ports.floor}`;

/**
 * The floor proxy at one level, started as the bare proxy is: the shipped flags, pinned to the
 * systems' CPU, `options` as for `startSystem` (`bench/instructions.ts` runs it under callgrind).
 */
export function startFloor(
  environment: BenchEnvironment,
  level: FloorLevel,
  options: SystemProcessOptions = {},
): Promise<Service> {
  return startBenchProxy(
    environment,
    `floor-${level}`,
    'floor-proxy.ts',
    floorUrl(environment),
    options,
    floorArgs(environment, level),
  );
}

const floorArgs = (environment: BenchEnvironment, level: FloorLevel): string[] => [
  '--level',
  String(level),
  ...(level >= 7 ? ['--database-url', environment.databaseUrl] : []),
];

/** One of the benchmark's own proxies (`script` in bench/) at `url`: the shipped flags, pinned to the systems' CPU. */
function startBenchProxy(
  environment: BenchEnvironment,
  name: string,
  script: string,
  url: string,
  options: SystemProcessOptions,
  args: readonly string[] = [],
): Promise<Service> {
  return startService({
    name,
    command: [
      ...(options.launcher?.command ?? []),
      process.execPath,
      ...gatewayNodeFlags,
      ...(options.nodeFlags ?? []),
      fileURLToPath(new URL(`./${script}`, import.meta.url)),
      '--port',
      new URL(url).port,
      ...args,
    ],
    cpu: environment.systemCpu,
    env: { PATH: process.env.PATH, NODE_ENV: 'production', ...options.env },
    logFile: join(environment.runDir, `${name}.log`),
    readyUrl: `${url}/`,
    readyTimeoutMs: options.launcher?.readyTimeoutMs,
  });
}

/** The raw-socket proxy (bench/raw-proxy.ts), on a port of its own beside the systems'. */
export const rawUrl = (environment: BenchEnvironment): string =>
  `http://127.0.0.1:${environment.portBase + ports.raw}`;

/** The raw-socket proxy, started as the floor proxy is. */
export function startRaw(
  environment: BenchEnvironment,
  options: SystemProcessOptions = {},
): Promise<Service> {
  return startBenchProxy(environment, 'raw', 'raw-proxy.ts', rawUrl(environment), options);
}

/**
 * The request of the floor and raw-socket proxies: the bare proxy's (the same key, body and
 * `x-upstream`), at their own `url`.
 */
function bareRequestAt(environment: BenchEnvironment, mode: MockMode, url: string): RequestSpec {
  const bare = requestFor(environment, 'bare', mode);
  return { ...bare, url: bare.url.replace(systemUrl(environment, 'bare'), url) };
}

/** The chat completion each target receives for a mock mode (the same body everywhere). */
export function requestFor(environment: BenchEnvironment, target: TargetId, mode: MockMode): RequestSpec {
  const odock = target === 'odock' || target === 'odock-notel';
  const body = JSON.stringify({
    model: odock ? `bench-${mode === 'zero' ? '0ms' : mode === 'twenty' ? '20ms' : 'stream'}` : 'mock-gpt',
    messages: [{ role: 'user', content: 'Hello, gateway. This is a benchmark request.' }],
    max_tokens: 64,
    ...(mode === 'stream' ? { stream: true } : {}),
  });
  const upstream = mockUrl(environment, mode);
  const path = '/v1/chat/completions';
  const providerKey = { authorization: 'Bearer sk-mock-upstream' };
  switch (target) {
    case 'direct':
      return { url: upstream + path, headers: providerKey, body };
    case 'bare':
    case 'floor':
      return {
        url: systemUrl(environment, target) + path,
        headers: { ...providerKey, [upstreamHeader]: upstream },
        body,
      };
    case 'odock':
    case 'odock-notel':
      return {
        url: systemUrl(environment, target) + path,
        headers: { authorization: `Bearer ${benchKey}` },
        body,
      };
    case 'portkey':
      return {
        url: systemUrl(environment, target) + path,
        headers: {
          ...providerKey,
          'x-portkey-provider': 'openai',
          'x-portkey-custom-host': `${upstream}/v1`,
        },
        body,
      };
  }
}
