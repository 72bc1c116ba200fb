/**
 * Profiles a system of the benchmark under load: starts it pinned to CPU 0 with
 * `node --cpu-prof`, drives it with wrk from CPU 1 (closed loop), stops it (the profile is
 * written at exit) and prints where the CPU time went, per code owner and per function.
 * Options: `node bench/profile.ts --help`.
 *
 * `--probe` also records the event loop's delay and every GC pause (bench/loop-probe.js); its
 * delay monitor wakes the loop every millisecond, which at low load adds tens of µs of CPU per
 * request (docs/performance.md, "CPU per request by load"). `--no-profile` leaves the profiler
 * out (it costs a few per cent).
 */
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { holdCpuIdle } from './cpu-idle.ts';
import { type CpuProfile, renderProfileSummary, summariseProfile } from './cpu-profile.ts';
import {
  cpuTimes,
  processCpuSeconds,
  threadCpuPerRequest,
  threadCpuSeconds,
  utilisation,
} from './machine.ts';
import type { Service } from './processes.ts';
import { readSched, recordSched, renderWaits, summariseWaits } from './sched-waits.ts';
import {
  type MockMode,
  mockLabel,
  type SystemProcessOptions,
  standaloneEnvironment,
  startMock,
  startOtlpReceiverProcess,
  startTarget,
  targetOption,
  targetRequest,
} from './systems.ts';
import { cpuIdleArgument, gatewayEnvironment, toolArgs } from './tool-args.ts';
import { runClosedLoop } from './wrk.ts';

const usage = `
node bench/profile.ts [--system odock | --floor LEVEL] [--mock twenty|zero] [--connections 64]
                      [--duration 20] [--warmup 3] [--keep DIR] [--out FILE.md] [--gateway-root DIR]
                      [--probe] [--no-profile] [--node-flags='--expose-gc ...']
                      [--gateway-env KEY=VALUE ...]  (odock-server's environment beyond the
                                       benchmark's, e.g. OBSERVABILITY_SAMPLE_RATE=0)
                      [--heap-snapshots DIR]  (with --probe: snapshots at both ends of the run)
                      [--alloc FILE.heapprofile]  (with --probe: sampled allocations of the run;
                                                  read with bench/alloc-profile.ts FILE --requests N)
                      [--alloc-keep all|live|promoted]  (which sampled objects --alloc keeps:
                                       every allocation, what is alive at the end, or what
                                       outlived the young generation; default all)
                      [--cpu-idle poll|os]  (poll, the default: idle CPUs poll instead of
                                       halting while the tool runs, as in npm run bench)
                      [--sched FILE]  (perf sched record of the measured run: how often the
                                       main thread was ready but waited for its core, and
                                       which task held the core; bench/sched-waits.ts)
node bench/profile.ts --summarise FILE.cpuprofile [--requests N]

--floor 1-7 profiles the floor proxy at that level (bench/floor-proxy.ts) instead of a system;
--system raw the raw-socket proxy (bench/raw-proxy.ts: the bare proxy's exchange, no HTTP library).
`;

const { values } = toolArgs(usage, {
  options: {
    system: { type: 'string', default: 'odock' },
    floor: { type: 'string' },
    mock: { type: 'string', default: 'twenty' },
    connections: { type: 'string', default: '64' },
    duration: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    top: { type: 'string', default: '40' },
    'port-base': { type: 'string', default: '18300' },
    'gateway-root': { type: 'string' },
    keep: { type: 'string' },
    out: { type: 'string' },
    summarise: { type: 'string' },
    requests: { type: 'string' },
    probe: { type: 'boolean' },
    'node-flags': { type: 'string' },
    'heap-snapshots': { type: 'string' },
    alloc: { type: 'string' },
    'alloc-keep': { type: 'string', default: 'all' },
    'no-profile': { type: 'boolean' },
    sched: { type: 'string' },
    'gateway-env': { type: 'string', multiple: true },
    'cpu-idle': { type: 'string', default: 'poll' },
  },
});

const top = Number(values.top);

if (values.summarise !== undefined) {
  const profile = JSON.parse(await readFile(values.summarise, 'utf8')) as CpuProfile;
  const requests = values.requests === undefined ? undefined : Number(values.requests);
  process.stdout.write(renderProfileSummary(summariseProfile(profile), top, requests));
  process.exit(0);
}

/** What is run: a system, or the floor proxy (`--floor`); its name in the output and the kept files. */
const name = targetOption(values.system, values.floor, usage);
const allocKeep = values['alloc-keep'];
if (!['all', 'live', 'promoted'].includes(allocKeep)) {
  process.stderr.write(`--alloc-keep must be all, live or promoted\n${usage}`);
  process.exit(2);
}
const mock = values.mock as MockMode;
const environment = await standaloneEnvironment({
  tool: 'profile',
  gatewayRoot: values['gateway-root'],
  portBase: Number(values['port-base']),
  gatewayEnv: gatewayEnvironment(usage, values['gateway-env']),
});
const { runDir } = environment;
// A directory of this run's own, so an older profile kept in --keep is never read by mistake.
const profileDir = join(runDir, 'profile');
await mkdir(profileDir, { recursive: true });
if (values.keep !== undefined) await mkdir(values.keep, { recursive: true });
// The probe writes the snapshots with writeHeapSnapshot, which does not make the folder.
if (values['heap-snapshots'] !== undefined) await mkdir(values['heap-snapshots'], { recursive: true });

const cpuIdle = holdCpuIdle(cpuIdleArgument(usage, values['cpu-idle']));
const services: Service[] = [];
try {
  services.push(await startMock(environment, mock));
  services.push(await startOtlpReceiverProcess(environment));
  const probeFile = join(runDir, 'loop-probe.json');
  const options: SystemProcessOptions = {
    nodeFlags: [
      ...(values['node-flags']?.split(' ').filter((flag) => flag.length > 0) ?? []),
      ...(values['no-profile'] ? [] : ['--cpu-prof', '--cpu-prof-dir', profileDir]),
      ...(values.probe ? ['--import', fileURLToPath(new URL('./loop-probe.js', import.meta.url))] : []),
    ],
    env: {
      ...(values.probe ? { BENCH_LOOP_PROBE_OUT: probeFile } : {}),
      ...(values.alloc === undefined
        ? {}
        : { BENCH_ALLOC_PROFILE_OUT: values.alloc, BENCH_ALLOC_KEEP: allocKeep }),
      ...(values['heap-snapshots'] === undefined
        ? {}
        : { BENCH_HEAP_SNAPSHOT_DIR: values['heap-snapshots'] }),
    },
  };
  const target = await startTarget(environment, name, options);
  services.push(target);
  const request = targetRequest(environment, name, mock);
  const connections = Number(values.connections);
  process.stderr.write(`warming up ${name} for ${values.warmup} s\n`);
  await runClosedLoop({ request, connections, durationS: Number(values.warmup), cpu: '1' });
  process.stderr.write(`profiling ${name}: ${connections} connections, ${mock} mock, ${values.duration} s\n`);
  if (values.probe) process.kill(target.pid, 'SIGUSR2');
  const cpuBefore = await processCpuSeconds(target.pid);
  const threadsBefore = await threadCpuSeconds(target.pid);
  const coresBefore = await cpuTimes();
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const durationS = Number(values.duration);
  // perf records a second less than the run, so its window holds load from end to end.
  const sched =
    values.sched === undefined ? undefined : recordSched(values.sched, Math.max(1, durationS - 1));
  const result = await runClosedLoop({ request, connections, durationS, cpu: '1' });
  await sched;
  const toUs = Number(process.hrtime.bigint() / 1000n);
  const cpuMs = ((await processCpuSeconds(target.pid)) - cpuBefore) * 1000;
  const threads = threadCpuPerRequest(
    target.pid,
    threadsBefore,
    await threadCpuSeconds(target.pid),
    result.requests,
  );
  const coreBusy = utilisation(coresBefore, await cpuTimes(), '0');
  await target.stop();
  const probe = values.probe
    ? `loop probe (measured run): ${await readFile(probeFile, 'utf8').catch(() => 'not written')}\n\n`
    : '';
  const header =
    `${name}, ${mockLabel(mock)}, ${connections} connections: ` +
    `${result.requests} requests, ${Math.round(result.rps)} requests/s, p50 ${result.latencyMs.p50.toFixed(2)} ms, p99 ${result.latencyMs.p99.toFixed(2)} ms; ` +
    `process CPU ${((cpuMs * 1000) / result.requests).toFixed(1)} µs per request (all threads, from /proc${
      values.probe ? "; with the probe's timer, a wake-up every millisecond" : ''
    }), ` +
    `CPU 0 busy ${(coreBusy * 100).toFixed(0)} % of which this process ${((cpuMs / (toUs / 1000 - fromUs / 1000)) * 100).toFixed(0)} %\n` +
    `idle CPUs: ${cpuIdle.description}\n` +
    `threads, µs per request (user + system, 10 ms clock ticks): ${threads
      .map((thread) => `${thread.name} ${thread.userUs.toFixed(1)} + ${thread.systemUs.toFixed(1)}`)
      .join(', ')}\n` +
    probe;
  let text = header;
  if (values.sched !== undefined) {
    const waits = summariseWaits(await readSched(values.sched), target.pid);
    const windowRequests = Math.round(result.rps * waits.windowS);
    text += `\nScheduling (perf sched, ${values.sched}):\n\n${renderWaits(waits, windowRequests)}\n`;
  }
  if (!values['no-profile']) {
    const file = (await readdir(profileDir)).find((name) => name.endsWith('.cpuprofile'));
    if (file === undefined) throw new Error(`no profile written in ${profileDir}`);
    const profile = JSON.parse(await readFile(join(profileDir, file), 'utf8')) as CpuProfile;
    // Only the samples of the measured run: start-up and warm-up are left out.
    const summary = summariseProfile(profile, { fromUs, toUs });
    text +=
      'Profile figures are wall-clock samples of the main thread: when other processes share the core they include the time this one waited.\n\n' +
      renderProfileSummary(summary, top, result.requests);
    if (values.keep !== undefined) {
      await copyFile(join(profileDir, file), join(values.keep, file));
      process.stderr.write(`profile kept in ${join(values.keep, file)}\n`);
    }
  }
  process.stdout.write(text);
  if (values.out !== undefined) await writeFile(values.out, text);
} finally {
  for (const service of services.reverse()) await service.stop().catch(() => {});
  cpuIdle.release();
  // The system's own output (e.g. `--node-flags=--trace-gc`) is kept with the profile.
  if (values.keep !== undefined)
    await copyFile(join(runDir, `${name}.log`), join(values.keep, `${name}.log`)).catch(() => {});
  await rm(runDir, { recursive: true, force: true }).catch(() => {});
}
