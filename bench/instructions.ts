/**
 * Instructions per request: runs one system of the benchmark under valgrind's callgrind,
 * warms it up with sequential requests (the JIT settles), counts the instructions of a fixed
 * number of requests, and prints where they were executed, per owner and per function.
 *
 *   node bench/instructions.ts --help
 *
 * A CPU-time A/B on a shared VM moves by ±15 % from one run to the next; the instructions the
 * request path executes (everything but the garbage collector and V8's compilers) move by
 * 0.3-1.5 % between two runs of the same code, whatever the machine is doing. It is the measure
 * for a change too small for `bench/profile.ts` to resolve. What it cannot show: time (cache misses,
 * kernel time, waking a sleeping peer); and collections and compile jobs are discrete events a
 * window catches or not, so they are reported but left out of the number to compare. A run under
 * callgrind is about 50 times slower, so V8's timer-driven work is distorted: the memory reducer
 * (full collections when the allocation rate per second is low) is turned off. Compare counts of
 * two commits, not a count with a CPU time. Needs `valgrind` (Debian: `apt-get install valgrind`).
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  byOwner,
  type CallgrindCost,
  chargeToCallers,
  eventDrivenInstructions,
  nameCosts,
  type PerfMapEntry,
  parseCallgrind,
  parsePerfMap,
} from './callgrind.ts';
import { countInstructions, requireValgrind } from './instruction-count.ts';
import type { Service } from './processes.ts';
import { standaloneEnvironment, startMock, startOtlpReceiverProcess, targetOption } from './systems.ts';
import { gatewayEnvironment, toolArgs } from './tool-args.ts';

const usage = `
node bench/instructions.ts [--system odock | --floor LEVEL] [--warmup 20000] [--requests 5000]
                           [--gateway-root DIR] [--top 40] [--out FILE.md] [--keep DIR]
                           (--floor 1-7: the floor proxy at that level, bench/floor-proxy.ts;
                            --system raw: the raw-socket proxy, bench/raw-proxy.ts)
                           [--gateway-env KEY=VALUE ...]  (odock-server's environment beyond the
                                            benchmark's, e.g. OBSERVABILITY_SAMPLE_RATE=0)
node bench/instructions.ts --summarise DIR/odock.callgrind.out --perf-map DIR/odock.perf.map --requests 5000
`;

const { values } = toolArgs(usage, {
  options: {
    system: { type: 'string', default: 'odock' },
    floor: { type: 'string' },
    warmup: { type: 'string', default: '20000' },
    requests: { type: 'string', default: '5000' },
    top: { type: 'string', default: '40' },
    'port-base': { type: 'string', default: '18400' },
    'gateway-root': { type: 'string' },
    out: { type: 'string' },
    keep: { type: 'string' },
    summarise: { type: 'string' },
    'perf-map': { type: 'string' },
    'gateway-env': { type: 'string', multiple: true },
  },
});

if (values.summarise !== undefined) {
  // A dump kept with --keep, rendered again: --summarise SYSTEM.callgrind.out --perf-map SYSTEM.perf.map --requests N
  const cost = parseCallgrind(await readFile(values.summarise, 'utf8'));
  const perfMap = parsePerfMap(
    values['perf-map'] === undefined ? '' : await readFile(values['perf-map'], 'utf8'),
  );
  process.stdout.write(renderInstructions(values.summarise, cost, perfMap, Number(values.requests)));
  process.exit(0);
}

/** What is run: a system, or the floor proxy (`--floor`); its name in the output and the kept files. */
const name = targetOption(values.system, values.floor, usage);
const warmup = Number(values.warmup);
const measured = Number(values.requests);
if (!(Number.isInteger(warmup) && warmup >= 0 && Number.isInteger(measured) && measured > 0))
  throw new Error('--warmup and --requests: whole numbers (--requests at least 1)');
await requireValgrind();

const environment = await standaloneEnvironment({
  tool: 'instructions',
  gatewayRoot: values['gateway-root'],
  portBase: Number(values['port-base']),
  gatewayEnv: gatewayEnvironment(usage, values['gateway-env']),
});

const progress = (line: string) => process.stderr.write(`${line}\n`);
const services: Service[] = [];
try {
  services.push(await startMock(environment, 'zero'));
  services.push(await startOtlpReceiverProcess(environment));
  const count = await countInstructions(environment, name, { warmup, requests: measured, progress });
  const text = renderInstructions(
    `${name}: ${count.cost.totalInstructions.toLocaleString('en-US')} instructions for ${measured} requests ` +
      `(0 ms mock, one connection, after ${warmup} warm-up requests; ${count.elapsedS.toFixed(0)} s under callgrind)`,
    count.cost,
    count.perfMap,
    measured,
  );
  process.stdout.write(text);
  if (values.out !== undefined) await writeFile(values.out, text);
  if (values.keep !== undefined) {
    await mkdir(values.keep, { recursive: true });
    await writeFile(join(values.keep, `${name}.callgrind.out`), count.dumpText);
    await writeFile(join(values.keep, `${name}.perf.map`), count.perfMapText);
  }
} finally {
  for (const service of services.reverse()) await service.stop(30_000).catch(() => {});
  await rm(environment.runDir, { recursive: true, force: true }).catch(() => {});
}

/** The report: totals, then per owner and per function, by self cost and charged to callers. */
function renderInstructions(
  heading: string,
  cost: CallgrindCost,
  perfMap: readonly PerfMapEntry[],
  requests: number,
): string {
  const named = nameCosts(cost, perfMap);
  const charged = chargeToCallers(cost, perfMap);
  const top = Number(values.top);
  const eventDriven = eventDrivenInstructions(named);
  const perRequest = (instructions: number) => Math.round(instructions / requests).toLocaleString('en-US');
  const share = (instructions: number) => `${((instructions / cost.totalInstructions) * 100).toFixed(1)} %`;
  const code = (name: string) => `\`${name.replaceAll('|', '\\|')}\``;
  return [
    `${heading}: ${perRequest(cost.totalInstructions)} instructions per request, every thread of the process; ` +
      `**${perRequest(cost.totalInstructions - eventDriven)} without the garbage collector and V8's compilers**, ` +
      'the count to compare between commits: a full collection or a batch of compile jobs lands in a ' +
      "measured window or does not (under callgrind the compiler's thread lags far behind), and moves " +
      'the total by tens of thousands per request from one run to the next.',
    '',
    "Charged to the nearest JavaScript caller (V8's builtins and runtime, JSON, libc and Node's C++ " +
      'counted for the JavaScript that called them, in proportion to its calls):',
    '',
    '| owner | instructions/request | share |',
    '| --- | ---: | ---: |',
    ...byOwner(charged)
      .slice(0, top)
      .map(
        (entry) => `| ${entry.owner} | ${perRequest(entry.instructions)} | ${share(entry.instructions)} |`,
      ),
    '',
    '| function (with what it called) | owner | instructions/request |',
    '| --- | --- | ---: |',
    ...charged
      .slice(0, top)
      .map((entry) => `| ${code(entry.name)} | ${entry.owner} | ${perRequest(entry.instructions)} |`),
    '',
    'Self cost (where the instructions were executed):',
    '',
    '| owner | instructions/request | share |',
    '| --- | ---: | ---: |',
    ...byOwner(named)
      .slice(0, top)
      .map(
        (entry) => `| ${entry.owner} | ${perRequest(entry.instructions)} | ${share(entry.instructions)} |`,
      ),
    '',
    '| function (self) | owner | instructions/request |',
    '| --- | --- | ---: |',
    ...named
      .slice(0, top)
      .map((entry) => `| ${code(entry.name)} | ${entry.owner} | ${perRequest(entry.instructions)} |`),
    '',
  ].join('\n');
}
