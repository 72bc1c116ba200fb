/**
 * Live memory per open stream: opens N slow streams through one system, collects garbage in it
 * and reads what is left, before and while they are open (bench/memory-probe.js). The
 * many-streams scenario of `npm run bench` reports the peak resident set, which moves by tens of
 * MiB from run to run with when the full collections land; what an open stream keeps alive does
 * not, so this is the number an A/B of a memory change can read (`--gateway-root`). With
 * `--unary`, the same for unary calls waiting for their answer: what a call in flight keeps
 * alive is what every young-generation collection under load copies.
 * Options: `node bench/stream-memory.ts --help`.
 */
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Agent } from 'undici';
import type { Service } from './processes.ts';
import {
  requestFor,
  standaloneEnvironment,
  startMock,
  startOtlpReceiverProcess,
  startSystem,
  systemOption,
} from './systems.ts';
import { fail, gatewayEnvironment, toolArgs } from './tool-args.ts';
import type { RequestSpec } from './wrk.ts';

const usage = `
node bench/stream-memory.ts [--system odock] [--streams 1000] [--warmup-streams 100]
                            [--gateway-root DIR] [--gateway-env KEY=VALUE ...] [--port-base 18500]
                            [--heap-snapshots DIR] [--out FILE.md] [--unary]

Opens --streams streams at once against a mock that sends one chunk a second (so none ends and
the system's core is not saturated), waits for each to start and three seconds more, and compares
what a full collection leaves in the system with what it left before, after --warmup-streams
streams were opened and dropped. Prints the difference per open stream: V8 heap, memory outside
it (array buffers and other external memory) and the resident set. --heap-snapshots writes a
heap snapshot with each reading (DIR/1.heapsnapshot before, DIR/2.heapsnapshot with the streams
open) for bench/heap-diff.ts.

--unary: unary calls instead of streams, against a mock that answers them after 60 s; a call
counts as open 1.5 s after it was sent.
`;

const { values } = toolArgs(usage, {
  options: {
    system: { type: 'string', default: 'odock' },
    streams: { type: 'string', default: '1000' },
    'warmup-streams': { type: 'string', default: '100' },
    'port-base': { type: 'string', default: '18500' },
    'gateway-root': { type: 'string' },
    'gateway-env': { type: 'string', multiple: true },
    'heap-snapshots': { type: 'string' },
    out: { type: 'string' },
    unary: { type: 'boolean' },
  },
});

const system = systemOption(values.system, usage);
const streams = Number(values.streams);
const warmupStreams = Number(values['warmup-streams']);
const unary = values.unary === true;
const what = unary ? 'unary calls' : 'streams';
if (!Number.isInteger(streams) || streams < 1) fail(usage, '--streams: a positive whole number');
if (!Number.isInteger(warmupStreams) || warmupStreams < 0) fail(usage, '--warmup-streams: a whole number');

interface Reading {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

/** One open stream: resolves `started` at its first body chunk (a unary call: 1.5 s after it was sent); `stop` aborts it. */
interface OpenStream {
  started: Promise<void>;
  stop(): Promise<void>;
}

function openStream(agent: Agent, request: RequestSpec): OpenStream {
  const url = new URL(request.url);
  const controller = new AbortController();
  let markStarted!: () => void;
  let failStart!: (error: unknown) => void;
  const started = new Promise<void>((resolve, reject) => {
    markStarted = resolve;
    failStart = reject;
  });
  const reading = (async () => {
    const response = await agent.request({
      origin: url.origin,
      path: url.pathname,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...request.headers },
      body: request.body,
      signal: controller.signal,
    });
    if (response.statusCode !== 200)
      throw new Error(`HTTP ${response.statusCode}: ${(await response.body.text()).slice(0, 300)}`);
    if (unary) {
      await response.body.text();
      throw new Error('a unary call was answered before the reading (the mock answers after a minute)');
    }
    for await (const _chunk of response.body) markStarted();
    throw new Error('a stream ended before the reading (the mock streams for a minute)');
  })();
  reading.catch((error: unknown) => failStart(error));
  // A unary call's answer comes after the reading: it is open once the mock has it.
  if (unary) setTimeout(markStarted, 1_500);
  return {
    started,
    async stop() {
      controller.abort();
      await reading.catch(() => {});
    },
  };
}

/** Opens `count` streams and waits until every one has started (or one failed). */
async function openAll(agent: Agent, request: RequestSpec, count: number): Promise<OpenStream[]> {
  const opened = Array.from({ length: count }, () => openStream(agent, request));
  let started = 0;
  const progress = setInterval(() => process.stderr.write(`  ${started}/${count} started\n`), 2_000);
  try {
    await Promise.all(opened.map((stream) => stream.started.then(() => void started++)));
  } catch (error) {
    await Promise.all(opened.map((stream) => stream.stop()));
    throw error;
  } finally {
    clearInterval(progress);
  }
  return opened;
}

async function readingOf(target: Service, file: string): Promise<Reading> {
  const lines = async () => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  const before = (await lines()).length;
  process.kill(target.pid, 'SIGWINCH');
  for (let waited = 0; waited < 60_000; waited += 50) {
    await sleep(50);
    const now = await lines();
    if (now.length > before) return JSON.parse(now.at(-1)!) as Reading;
  }
  throw new Error(`${system} wrote no memory reading within 60 s (is bench/memory-probe.js loaded?)`);
}

const environment = await standaloneEnvironment({
  tool: 'stream-memory',
  gatewayRoot: values['gateway-root'],
  portBase: Number(values['port-base']),
  gatewayEnv: gatewayEnvironment(usage, values['gateway-env']),
});
// One chunk a second for a minute: every stream stays open through the reading, and the
// system's core relays about `streams` chunks a second, far from saturation.
environment.stream = { timeToFirstTokenMs: 20, chunkIntervalMs: 1_000, chunks: 60 };
// The client runs here, on the load generator's core with the mock.
execFileSync('taskset', ['-apc', environment.loadCpu ?? '1', String(process.pid)], { stdio: 'ignore' });

const probeFile = join(environment.runDir, 'memory-probe.jsonl');
const services: Service[] = [];
const agent = new Agent({ connections: streams + warmupStreams, pipelining: 1, bodyTimeout: 0 });
try {
  // --unary: the 20 ms mock's place (the model odock-server's benchmark configuration routes
  // to it), answering after a minute.
  services.push(
    await (unary
      ? startMock(environment, 'twenty', ['--latency-ms', '60000'])
      : startMock(environment, 'stream')),
  );
  services.push(await startOtlpReceiverProcess(environment));
  const target = await startSystem(environment, system, {
    nodeFlags: ['--expose-gc', '--import', fileURLToPath(new URL('./memory-probe.js', import.meta.url))],
    env: {
      BENCH_MEMORY_PROBE_OUT: probeFile,
      ...(values['heap-snapshots'] === undefined
        ? {}
        : { BENCH_MEMORY_SNAPSHOT_DIR: values['heap-snapshots'] }),
    },
  });
  services.push(target);
  const request = requestFor(environment, system, unary ? 'twenty' : 'stream');

  process.stderr.write(`warming up ${system}: ${warmupStreams} ${what} opened and dropped\n`);
  if (warmupStreams > 0) {
    const warm = await openAll(agent, request, warmupStreams);
    await sleep(2_000);
    await Promise.all(warm.map((stream) => stream.stop()));
    await sleep(3_000);
  }
  const before = await readingOf(target, probeFile);

  process.stderr.write(`opening ${streams} ${what}\n`);
  const open = await openAll(agent, request, streams);
  await sleep(3_000);
  const during = await readingOf(target, probeFile);
  await Promise.all(open.map((stream) => stream.stop()));

  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
  const perStream = (field: keyof Reading) => ((during[field] - before[field]) / streams / 1024).toFixed(2);
  const row = (label: string, reading: Reading) =>
    `| ${label} | ${mib(reading.heapUsed)} | ${mib(reading.external)} | ${mib(reading.arrayBuffers)} | ${mib(reading.rss)} |`;
  const text = [
    `${system}: live memory after full collections, before and with ${streams} ${what} open (${unary ? 'answered after a minute' : 'one chunk a second'})`,
    '',
    '| | V8 heap used | external | of it array buffers | resident set |',
    '| --- | ---: | ---: | ---: | ---: |',
    row(`before (MiB; after ${warmupStreams} ${what} opened and dropped)`, before),
    row(`with ${streams} ${what} open (MiB)`, during),
    `| per open ${unary ? 'call' : 'stream'} (KiB) | ${perStream('heapUsed')} | ${perStream('external')} | ${perStream('arrayBuffers')} | ${perStream('rss')} |`,
    '',
  ].join('\n');
  process.stdout.write(text);
  if (values.out !== undefined) await writeFile(values.out, text);
} finally {
  await agent.destroy().catch(() => {});
  for (const service of services.reverse()) await service.stop().catch(() => {});
}
