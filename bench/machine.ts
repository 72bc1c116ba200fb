/**
 * What the results were measured on: the machine, the versions of everything in the request
 * path, the commit of the gateway, and CPU accounting (per core from /proc/stat, per process
 * from /proc/PID/stat) so a run can show whether the load generator's core was saturated.
 */

import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from './processes.ts';

export interface MachineInfo {
  cpuModel: string;
  cpuMHz: number;
  logicalCpus: number;
  memoryGiB: number;
  kernel: string;
  platform: string;
}

export interface Versions {
  node: string;
  undici: string;
  wrk: string;
  portkeyGateway: string;
  honoNodeServer: string;
  postgres: string;
  redis: string;
  gatewayCommit: string;
  /** True when the gateway's src/ differs from its commit. */
  gatewayDirty: boolean;
  /** SHA-256 (first 12 hex digits) of the gateway's src/ files: tells two uncommitted trees apart. */
  gatewaySourceDigest: string;
}

async function sourceDigest(root: string): Promise<string> {
  const hash = createHash('sha256');
  const files = (await readdir(join(root, 'src'), { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts'))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
  for (const file of files) {
    hash.update(file.slice(root.length));
    hash.update(await readFile(file));
  }
  return hash.digest('hex').slice(0, 12);
}

export async function machineInfo(): Promise<MachineInfo> {
  const cpus = os.cpus();
  // Virtual machines often report 0 to os.cpus(); /proc/cpuinfo still has the nominal clock.
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const mhz = Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(cpuinfo)?.[1] ?? cpus[0]?.speed ?? 0);
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cpuMHz: Math.round(mhz),
    logicalCpus: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    platform: `${os.platform()} ${os.arch()}`,
  };
}

async function packageVersion(root: string, name: string): Promise<string> {
  try {
    const require = createRequire(join(root, 'package.json'));
    const manifest = JSON.parse(await readFile(require.resolve(`${name}/package.json`), 'utf8')) as {
      version: string;
    };
    return manifest.version;
  } catch {
    try {
      const path = join(root, 'node_modules', name, 'package.json');
      return (JSON.parse(await readFile(path, 'utf8')) as { version: string }).version;
    } catch {
      return 'unknown';
    }
  }
}

async function optional(action: () => Promise<string>): Promise<string> {
  try {
    return await action();
  } catch {
    return 'unknown';
  }
}

function redisVersion(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || 6379) });
    let text = '';
    const done = (value: string) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(2_000, () => done('unknown'));
    socket.on('error', () => done('unknown'));
    socket.on('connect', () => socket.write('INFO server\r\n'));
    socket.on('data', (chunk) => {
      text += chunk.toString('utf8');
      const match = /redis_version:([^\r\n]+)/.exec(text);
      if (match) done(match[1]!);
    });
  });
}

async function postgresVersion(url: string, root: string): Promise<string> {
  const require = createRequire(join(root, 'package.json'));
  const pg = require('pg') as typeof import('pg');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ server_version: string }>('SHOW server_version');
    return result.rows[0]?.server_version ?? 'unknown';
  } finally {
    await client.end();
  }
}

export async function collectVersions(options: {
  repoRoot: string;
  gatewayRoot: string;
  databaseUrl: string;
  redisUrl: string;
}): Promise<Versions> {
  // A snapshot directory without .git is described by the repository it was copied from.
  const gitRoot = await run(['git', '-C', options.gatewayRoot, 'rev-parse', '--git-dir'])
    .then(() => options.gatewayRoot)
    .catch(() => options.repoRoot);
  const git = (args: string[]) => run(['git', '-C', gitRoot, ...args]);
  const wrk = await optional(async () => {
    // `wrk -v` prints its banner and exits 1.
    const { stdout } = await run(['sh', '-c', 'wrk -v 2>&1 || true']);
    return stdout.split('\n')[0]?.replace(/\s*Copyright.*$/, '') ?? 'unknown';
  });
  return {
    node: process.version,
    undici: await packageVersion(options.gatewayRoot, 'undici'),
    wrk,
    portkeyGateway: await packageVersion(options.repoRoot, '@portkey-ai/gateway'),
    honoNodeServer: await packageVersion(options.repoRoot, '@hono/node-server'),
    postgres: await optional(() => postgresVersion(options.databaseUrl, options.repoRoot)),
    redis: await redisVersion(options.redisUrl),
    gatewayCommit: await optional(async () => (await git(['rev-parse', '--short=12', 'HEAD'])).stdout.trim()),
    gatewayDirty:
      (await optional(async () => (await git(['status', '--porcelain', '--', 'src'])).stdout.trim())) !== '',
    gatewaySourceDigest: await optional(() => sourceDigest(options.gatewayRoot)),
  };
}

/** Creates the benchmark's own database on the server of `adminUrl` when it does not exist. */
export async function ensureDatabase(adminUrl: string, databaseName: string, root: string): Promise<string> {
  const require = createRequire(join(root, 'package.json'));
  const pg = require('pg') as typeof import('pg');
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [databaseName]);
    if (found.rowCount === 0)
      await client.query(`CREATE DATABASE "${databaseName.replaceAll('"', '')}"`).catch((error: unknown) => {
        // Another run created it meanwhile: 42P04 duplicate_database, or 23505 on pg_database's index.
        const code = (error as { code?: string }).code;
        if (code !== '42P04' && code !== '23505') throw error;
      });
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${databaseName}`;
  return url.toString();
}

/**
 * The kernel's counts of connection handshakes it could not take (since boot, machine-wide):
 * `ListenOverflows`, a connection completed while its listener's accept queue was full (the
 * listen backlog), and `TCPSynRetrans`, a SYN sent again because none answered the first, as a
 * client sees an overflow. A measurement's delta names what its latencies include: a dropped
 * handshake costs the client a retry of a second or more.
 */
export interface HandshakeCounters {
  listenOverflows: number;
  synRetransmits: number;
}

/** `HandshakeCounters` from the text of /proc/net/netstat (a `TcpExt:` header line, then values). */
export function parseHandshakeCounters(netstat: string): HandshakeCounters {
  const lines = netstat.split('\n').filter((line) => line.startsWith('TcpExt:'));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  const counter = (name: string): number => {
    // A name missing from the header reads values[-1], undefined: NaN, refused like a bad value.
    const value = Number(values[names.indexOf(name)]);
    if (!Number.isFinite(value)) throw new Error(`/proc/net/netstat has no TcpExt ${name} counter`);
    return value;
  };
  return { listenOverflows: counter('ListenOverflows'), synRetransmits: counter('TCPSynRetrans') };
}

export async function handshakeCounters(): Promise<HandshakeCounters> {
  return parseHandshakeCounters(await readFile('/proc/net/netstat', 'utf8'));
}

/** Busy and total jiffies of each CPU (from /proc/stat), for utilisation between two readings. */
export async function cpuTimes(): Promise<Map<string, { busy: number; total: number }>> {
  const times = new Map<string, { busy: number; total: number }>();
  for (const line of (await readFile('/proc/stat', 'utf8')).split('\n')) {
    const match = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const fields = match[2]!.trim().split(/\s+/).map(Number);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    const total = fields.slice(0, 8).reduce((sum, value) => sum + value, 0);
    times.set(match[1]!, { busy: total - idle, total });
  }
  return times;
}

/** Utilisation (0..1) of the CPUs of `cpuList` ("1" or "0,1") between two `cpuTimes` readings. */
export function utilisation(
  before: Map<string, { busy: number; total: number }>,
  after: Map<string, { busy: number; total: number }>,
  cpuList: string,
): number {
  let busy = 0;
  let total = 0;
  for (const cpu of cpuList.split(',')) {
    const first = before.get(cpu);
    const second = after.get(cpu);
    if (first === undefined || second === undefined) continue;
    busy += second.busy - first.busy;
    total += second.total - first.total;
  }
  return total === 0 ? Number.NaN : busy / total;
}

const clockTicksPerSecond = 100;

/** The command name and the user and system CPU seconds of a `/proc/.../stat` line. */
function parseStat(stat: string): { command: string; userSeconds: number; systemSeconds: number } {
  // The command name is parenthesised and may contain spaces; the other fields follow it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    command: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    userSeconds: Number(fields[11]) / clockTicksPerSecond,
    systemSeconds: Number(fields[12]) / clockTicksPerSecond,
  };
}

/** A process's command name and the CPU seconds (user + system, every thread) it used so far. */
export async function processStat(pid: number | string): Promise<{ command: string; cpuSeconds: number }> {
  const { command, userSeconds, systemSeconds } = parseStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  return { command, cpuSeconds: userSeconds + systemSeconds };
}

/** One thread's name and its user and system CPU seconds so far (from /proc/PID/task/TID/stat). */
export interface ThreadCpu {
  name: string;
  userSeconds: number;
  systemSeconds: number;
}

/** Every thread of a process by thread id: a thread gone between two readings is left out. */
export async function threadCpuSeconds(pid: number): Promise<Map<string, ThreadCpu>> {
  const threads = new Map<string, ThreadCpu>();
  const ids = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  await Promise.all(
    ids.map(async (id) => {
      const stat = await readFile(`/proc/${pid}/task/${id}/stat`, 'utf8').catch(() => undefined);
      if (stat === undefined) return;
      const { command, userSeconds, systemSeconds } = parseStat(stat);
      threads.set(id, { name: command, userSeconds, systemSeconds });
    }),
  );
  return threads;
}

/**
 * What each thread used between two readings, summed by thread name (the main thread is the one
 * whose id is the process id, named "main"), largest first, in µs per request.
 */
export function threadCpuPerRequest(
  pid: number,
  before: Map<string, ThreadCpu>,
  after: Map<string, ThreadCpu>,
  requests: number,
): Array<{ name: string; userUs: number; systemUs: number }> {
  const byName = new Map<string, { userUs: number; systemUs: number }>();
  for (const [id, end] of after) {
    const start = before.get(id) ?? { name: end.name, userSeconds: 0, systemSeconds: 0 };
    const name = id === String(pid) ? 'main' : end.name;
    const entry = byName.get(name) ?? { userUs: 0, systemUs: 0 };
    entry.userUs += ((end.userSeconds - start.userSeconds) * 1e6) / requests;
    entry.systemUs += ((end.systemSeconds - start.systemSeconds) * 1e6) / requests;
    byName.set(name, entry);
  }
  return [...byName]
    .map(([name, entry]) => ({ name, ...entry }))
    .filter((entry) => entry.userUs + entry.systemUs > 0)
    .sort((a, b) => b.userUs + b.systemUs - (a.userUs + a.systemUs));
}

/** CPU seconds (user + system, every thread) a process has used so far. */
export async function processCpuSeconds(pid: number): Promise<number> {
  return (await processStat(pid)).cpuSeconds;
}

/** Who used the CPUs: this run's own processes, PostgreSQL and Redis, and everything else. */
export interface CpuSnapshot {
  at: number;
  cores: Map<string, { busy: number; total: number }>;
  /** CPU seconds of the run's processes (services, the harness, its finished generators). */
  ownSeconds: number;
  /** CPU seconds of postgres and redis-server processes by pid (work the gateway causes there). */
  datastoreSeconds: Map<string, number>;
}

const datastoreCommands = new Set(['postgres', 'redis-server']);

/** CPU seconds of each running postgres and redis-server process, by pid. */
async function datastoreCpuSeconds(): Promise<Map<string, number>> {
  const seconds = new Map<string, number>();
  const entries = await readdir('/proc').catch(() => [] as string[]);
  await Promise.all(
    entries
      .filter((entry) => /^\d+$/.test(entry))
      .map(async (pid) => {
        const stat = await processStat(pid).catch(() => undefined);
        if (stat === undefined || !datastoreCommands.has(stat.command)) return;
        seconds.set(pid, stat.cpuSeconds);
      }),
  );
  return seconds;
}

async function harnessCpuSeconds(): Promise<number> {
  const usage = process.cpuUsage();
  // cutime and cstime: CPU of children already waited for (wrk and the Node generators).
  const stat = await readFile('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const children = (Number(fields[13]) + Number(fields[14])) / clockTicksPerSecond;
  return (usage.user + usage.system) / 1e6 + children;
}

export async function cpuSnapshot(ownPids: readonly number[]): Promise<CpuSnapshot> {
  const own = await Promise.all(ownPids.map((pid) => processCpuSeconds(pid).catch(() => 0)));
  return {
    at: performance.now(),
    cores: await cpuTimes(),
    ownSeconds: own.reduce((sum, seconds) => sum + seconds, 0) + (await harnessCpuSeconds()),
    datastoreSeconds: await datastoreCpuSeconds(),
  };
}

/** Cores' worth of CPU (1 = one full CPU) used by other processes of the machine between two snapshots. */
export function foreignLoad(
  before: CpuSnapshot,
  after: CpuSnapshot,
): { foreign: number; datastores: number } {
  const wallSeconds = (after.at - before.at) / 1000;
  let busyJiffies = 0;
  for (const [cpu, times] of after.cores)
    busyJiffies += times.busy - (before.cores.get(cpu)?.busy ?? times.busy);
  const busySeconds = busyJiffies / clockTicksPerSecond;
  // Per process: a backend that exited meanwhile must not count negative, a new one counts whole.
  let datastoreSeconds = 0;
  for (const [pid, seconds] of after.datastoreSeconds)
    datastoreSeconds += seconds - (before.datastoreSeconds.get(pid) ?? 0);
  const foreignSeconds = busySeconds - (after.ownSeconds - before.ownSeconds) - datastoreSeconds;
  return {
    foreign: wallSeconds > 0 ? Math.max(0, foreignSeconds / wallSeconds) : 0,
    datastores: wallSeconds > 0 ? datastoreSeconds / wallSeconds : 0,
  };
}

/**
 * Waits until other processes of the machine use less than `threshold` CPUs over a
 * `windowMs` window, for at most `maxMs`; resolves to the last reading.
 */
export async function waitForQuiet(
  ownPids: readonly number[],
  options: { maxMs: number; windowMs: number; threshold: number },
): Promise<number> {
  const deadline = performance.now() + options.maxMs;
  for (;;) {
    const before = await cpuSnapshot(ownPids);
    await sleep(options.windowMs);
    const { foreign } = foreignLoad(before, await cpuSnapshot(ownPids));
    if (foreign < options.threshold || performance.now() >= deadline) return foreign;
  }
}
