/**
 * Child processes of the benchmark: one-shot commands (wrk, the Node load generators) and
 * long-running services (mocks, the systems under test), each optionally pinned to CPUs with
 * `taskset -c` (which execs the command, so the child's pid is the service's own), plus the
 * memory readings of /proc/PID/status.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Every child still running. If the harness dies without stopping them (an uncaught error, a
 * closed stdout pipe), the exit hook kills them, so no pinned process outlives its run.
 */
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

function track(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Called with each whole line of stdout as it arrives (all of stdout is still returned). */
  onLine?: (line: string) => void;
}

/** Runs a command to completion; rejects with its stderr on a non-zero exit. */
export async function run(
  command: readonly string[],
  options: RunOptions = {},
): Promise<{ stdout: string; stderr: string }> {
  const child = spawn(command[0]!, command.slice(1), {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let stdout = '';
  let stderr = '';
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
    if (options.onLine === undefined) return;
    const lines = (partial + text).split('\n');
    partial = lines.pop()!;
    for (const line of lines) options.onLine(line);
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`${command.join(' ')} exited with ${code}:\n${stderr.slice(-4000)}`);
  return { stdout, stderr };
}

export interface ServiceOptions {
  name: string;
  command: readonly string[];
  /** CPU list for `taskset -c`, or undefined to leave the process unpinned. */
  cpu: string | undefined;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdout and stderr go to this file (a log agent's view of a container), or are discarded. */
  logFile?: string;
  /** Resolves once this URL answers any HTTP status. */
  readyUrl: string;
  readyTimeoutMs?: number;
}

export interface MemoryReading {
  /** Resident set size now, in MiB. */
  rssMiB: number;
  /** Peak resident set size since start or the last `resetPeak`, in MiB (VmHWM). */
  peakMiB: number;
}

export class Service {
  readonly name: string;
  readonly #child: ChildProcess;
  #exited = false;

  constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.#child = child;
    child.once('exit', () => {
      this.#exited = true;
    });
  }

  get pid(): number {
    return this.#child.pid!;
  }

  get exited(): boolean {
    return this.#exited;
  }

  async memory(): Promise<MemoryReading> {
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
    const kib = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
  }

  /** Resets VmHWM to the current RSS (Linux ≥ 4.0, `clear_refs` value 5), so a peak is per scenario. */
  async resetPeak(): Promise<boolean> {
    try {
      await writeFile(`/proc/${this.pid}/clear_refs`, '5');
      return true;
    } catch {
      return false;
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.#exited) return;
    const exited = once(this.#child, 'exit');
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

export async function startService(options: ServiceOptions): Promise<Service> {
  const command =
    options.cpu === undefined ? options.command : ['taskset', '-c', options.cpu, ...options.command];
  const output = options.logFile === undefined ? 'ignore' : openSync(options.logFile, 'a');
  const child = spawn(command[0]!, command.slice(1), {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ['ignore', output, output],
  });
  if (typeof output === 'number') closeSync(output);
  track(child);
  const service = new Service(options.name, child);
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  while (!(await answers(options.readyUrl))) {
    if (service.exited || child.exitCode !== null)
      throw new Error(`${options.name} exited during start-up${logHint(options.logFile)}`);
    if (Date.now() > deadline) {
      await service.stop();
      throw new Error(
        `${options.name} did not answer ${options.readyUrl} in time${logHint(options.logFile)}`,
      );
    }
    await sleep(100);
  }
  return service;
}

function logHint(logFile: string | undefined): string {
  return logFile === undefined ? '' : ` (see ${logFile})`;
}

function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = request(url, { method: 'GET', timeout: 1_000 }, (response) => {
      response.resume();
      resolve(true);
    });
    probe.on('error', () => resolve(false));
    probe.on('timeout', () => probe.destroy());
    probe.end();
  });
}
