/**
 * Counting the instructions a target executes per request under valgrind's callgrind: the
 * steady measure of `bench/instructions.ts`, and of the full run's `instructions` scenario
 * (odock-server with telemetry on and off, so the telemetry's cost has a reading that the CPU
 * rounds' spread cannot hide). The 0 ms mock and the OTLP receiver must be running already.
 *
 * One keep-alive connection sends one request at a time: a warm-up (the JIT settles), then the
 * measured requests with instrumentation on, then a dump. The collector and V8's compilers are
 * counted apart (`eventDrivenInstructions`): a full collection or a batch of compile jobs lands
 * in a measured window or does not. The memory reducer is off: under callgrind the allocation
 * rate per second is always low, and it would start full collections the requests do not cause.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  type CallgrindCost,
  eventDrivenInstructions,
  nameCosts,
  type PerfMapEntry,
  parseCallgrind,
  parsePerfMap,
} from './callgrind.ts';
import {
  type BenchEnvironment,
  type SystemProcessOptions,
  startTarget,
  type ToolTarget,
  targetRequest,
} from './systems.ts';
import type { RequestSpec } from './wrk.ts';

export interface InstructionCountOptions {
  warmup: number;
  requests: number;
  /**
   * Progress lines: the start, every tenth of the warm-up and of the measured requests;
   * `milestone` is true for the start and the last request of each phase.
   */
  progress?: (line: string, milestone: boolean) => void;
}

export interface InstructionCount {
  requests: number;
  warmup: number;
  cost: CallgrindCost;
  perfMap: PerfMapEntry[];
  /** The dump and the perf map as read, for `--keep`. */
  dumpText: string;
  perfMapText: string;
  /** Seconds the measured requests took under callgrind. */
  elapsedS: number;
}

/** Per request: every instruction of the process, and those without the collector and the compilers. */
export interface InstructionsPerRequest {
  total: number;
  withoutCollector: number;
}

const execFileAsync = promisify(execFile);

/** Throws a clear error when valgrind is missing: before a long run, not in the middle of it. */
export async function requireValgrind(): Promise<void> {
  await execFileAsync('valgrind', ['--version']).catch(() => {
    throw new Error('valgrind is not installed (Debian: apt-get install valgrind)');
  });
}

export function instructionsPerRequest(count: InstructionCount): InstructionsPerRequest {
  const eventDriven = eventDrivenInstructions(nameCosts(count.cost, count.perfMap));
  return {
    total: count.cost.totalInstructions / count.requests,
    withoutCollector: (count.cost.totalInstructions - eventDriven) / count.requests,
  };
}

/**
 * Starts `target` under callgrind in `environment` (its own run directory: the dump and the
 * target's log go there), counts `options.requests` requests after `options.warmup`, and stops it.
 */
export async function countInstructions(
  environment: BenchEnvironment,
  target: ToolTarget,
  options: InstructionCountOptions,
): Promise<InstructionCount> {
  const { runDir } = environment;
  const progress = options.progress ?? (() => {});
  // callgrind_control finds the process by a file named after the user and host it reads from
  // the environment (USER, HOST); the gateway reads HOST as its listening interface, so both
  // sides are given the same two values.
  const vgdbPrefix = join(runDir, 'vgdb');
  const controlEnvironment = { ...process.env, USER: 'odock-bench', HOST: '127.0.0.1' };
  const control = (...args: string[]) =>
    execFileAsync('callgrind_control', [`--vgdb-prefix=${vgdbPrefix}`, ...args], { env: controlEnvironment });
  const processOptions: SystemProcessOptions = {
    // The perf map names generated code.
    nodeFlags: ['--perf-basic-prof', '--no-memory-reducer'],
    env: { USER: controlEnvironment.USER, HOST: controlEnvironment.HOST },
    launcher: {
      command: [
        'valgrind',
        '--tool=callgrind',
        // V8 writes and patches its own code: every such write must drop valgrind's translation.
        '--smc-check=all-non-file',
        '--instr-atstart=no',
        `--vgdb-prefix=${vgdbPrefix}`,
        `--callgrind-out-file=${join(runDir, 'callgrind.out')}`,
      ],
      readyTimeoutMs: 180_000,
    },
  };
  progress(`starting ${target} under callgrind (about 10 s)`, true);
  const service = await startTarget(environment, target, processOptions);
  // V8 writes it where `perf` looks for it; read here, kept only in the result (`--keep`).
  const perfMapPath = `/tmp/perf-${service.pid}.map`;
  const { send, close } = sequentialSender(targetRequest(environment, target, 'zero'));
  try {
    const warmed = await send(options.warmup, (done) =>
      progress(
        `${target} under callgrind, warm-up: ${done} of ${options.warmup} requests`,
        done === options.warmup,
      ),
    );
    if (warmed.failed > 0) throw new Error(`${warmed.failed} of ${options.warmup} warm-up requests failed`);
    await control('--instr=on', String(service.pid));
    const started = Date.now();
    const answered = await send(options.requests, (done) =>
      progress(
        `${target} under callgrind, measured: ${done} of ${options.requests} requests`,
        done === options.requests,
      ),
    );
    await control('--instr=off', String(service.pid));
    await control('--dump', String(service.pid));
    const elapsedS = (Date.now() - started) / 1000;
    if (answered.failed > 0)
      throw new Error(`${answered.failed} of ${options.requests} measured requests failed`);
    const dumps = (await readdir(runDir)).filter((name) => name.startsWith('callgrind.out.'));
    const dump = dumps.sort().at(-1);
    if (dump === undefined) throw new Error(`callgrind wrote no dump in ${runDir}`);
    const dumpText = await readFile(join(runDir, dump), 'utf8');
    const perfMapText = await readFile(perfMapPath, 'utf8').catch(() => '');
    return {
      requests: options.requests,
      warmup: options.warmup,
      cost: parseCallgrind(dumpText),
      perfMap: parsePerfMap(perfMapText),
      dumpText,
      perfMapText,
      elapsedS,
    };
  } finally {
    close();
    await service.stop(30_000).catch(() => {});
    await rm(perfMapPath, { force: true });
  }
}

/**
 * One keep-alive connection, one request at a time: the same work per request however slow
 * the process under callgrind is. Progress is reported every 10 % of the count.
 */
function sequentialSender(spec: RequestSpec) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const headers = {
    ...spec.headers,
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(spec.body)),
  };
  const once = () =>
    new Promise<number>((resolve, reject) => {
      const outgoing = request(spec.url, { method: 'POST', agent, headers }, (answer) => {
        answer.resume();
        answer.once('end', () => resolve(answer.statusCode ?? 0));
      });
      outgoing.once('error', reject);
      outgoing.end(spec.body);
    });
  const send = async (count: number, report: (done: number) => void) => {
    let failed = 0;
    const step = Math.max(1, Math.ceil(count / 10));
    for (let done = 1; done <= count; done += 1) {
      if ((await once()) !== 200) failed += 1;
      if (done % step === 0 || done === count) report(done);
    }
    return { failed };
  };
  return { send, close: () => agent.destroy() };
}
