/**
 * Closed-loop load with wrk (Debian package): N connections, each sending its next request as
 * soon as the previous answer is complete. Latency percentiles come from wrk's histogram of
 * every completed request (printed by wrk-report.lua), in microseconds.
 */
import { fileURLToPath } from 'node:url';
import { type LoadResult, parseResultLine } from './load-result.ts';
import { run } from './processes.ts';

export interface RequestSpec {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface ClosedLoopOptions {
  request: RequestSpec;
  connections: number;
  durationS: number;
  /** CPU list for `taskset -c` (the load generator's core), or undefined to leave it unpinned. */
  cpu: string | undefined;
}

interface WrkReport {
  requests: number;
  duration_us: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latency_us: { mean: number; max: number; p50: number; p90: number; p99: number; p999: number };
}

const script = fileURLToPath(new URL('./wrk-report.lua', import.meta.url));

export async function runClosedLoop(options: ClosedLoopOptions): Promise<LoadResult> {
  const wrk = [
    'wrk',
    '-t1',
    `-c${options.connections}`,
    `-d${Math.max(1, Math.round(options.durationS))}s`,
    '--timeout',
    '10s',
    '-s',
    script,
    options.request.url,
  ];
  const command = options.cpu === undefined ? wrk : ['taskset', '-c', options.cpu, ...wrk];
  const { stdout } = await run(command, {
    env: {
      ...process.env,
      BENCH_BODY: options.request.body,
      BENCH_HEADERS: Object.entries(options.request.headers)
        .map(([name, value]) => `${name}: ${value}`)
        .join('\n'),
    },
  });
  const report = parseResultLine<WrkReport>(stdout);
  const durationS = report.duration_us / 1e6;
  const errors = Object.values(report.errors).reduce((sum, count) => sum + count, 0);
  const ms = (microseconds: number) => microseconds / 1000;
  return {
    requests: report.requests,
    errors,
    durationS,
    rps: report.requests / durationS,
    latencyMs: {
      p50: ms(report.latency_us.p50),
      p90: ms(report.latency_us.p90),
      p99: ms(report.latency_us.p99),
      p999: ms(report.latency_us.p999),
      max: ms(report.latency_us.max),
      mean: ms(report.latency_us.mean),
    },
  };
}
