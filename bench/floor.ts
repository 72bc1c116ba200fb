/**
 * How far odock-server is from the floor of its own features on Node: the CPU per request of
 * the bare proxy, of the floor proxy at each level (bench/floor-proxy.ts: the features written
 * as plainly as they can be), of odock-server with telemetry off and of odock-server, at 64
 * connections of the 20 ms mock, each system pinned and loaded as `bench/profile.ts` does.
 * Systems run one after the other within a round and rounds repeat, so that a drift of the
 * machine shows as a difference between rounds rather than between systems; the table gives
 * every round, the median, and the median's share of the bare proxy's capacity
 * (its CPU per request over the system's).
 * Options: `node bench/floor.ts --help`.
 */
import { writeFile } from 'node:fs/promises';
import { type FloorLevel, floorLevelNames, floorLevelOption, floorLevels } from './floor-proxy.ts';
import { cpuSnapshot, foreignLoad, processCpuSeconds, waitForQuiet } from './machine.ts';
import type { Service } from './processes.ts';
import { median } from './results.ts';
import {
  standaloneEnvironment,
  startMock,
  startOtlpReceiverProcess,
  startTarget,
  type ToolTarget,
  targetRequest,
} from './systems.ts';
import { fail, toolArgs } from './tool-args.ts';
import { runClosedLoop } from './wrk.ts';

const usage = `
node bench/floor.ts [--rounds 3] [--levels 1,2,3,4,5,6] [--connections 64] [--duration 15]
                    [--warmup 6] [--no-odock] [--port-base 18600] [--out FILE.md]

Each round starts, warms up, measures and stops, in this order: the bare proxy, the floor proxy
at each of --levels, odock-server with telemetry off and odock-server (--no-odock leaves the
last two out). About 30 s per system and round.
`;

const { values } = toolArgs(usage, {
  options: {
    rounds: { type: 'string', default: '3' },
    levels: { type: 'string', default: floorLevels.join(',') },
    connections: { type: 'string', default: '64' },
    duration: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '6' },
    'no-odock': { type: 'boolean' },
    'port-base': { type: 'string', default: '18600' },
    out: { type: 'string' },
  },
});

const positive = (name: string, value: string) => {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) fail(usage, `--${name}: a positive whole number`);
  return number;
};
const rounds = positive('rounds', values.rounds);
const connections = positive('connections', values.connections);
const durationS = positive('duration', values.duration);
const warmupS = positive('warmup', values.warmup);
let levels: FloorLevel[];
try {
  levels = values.levels.split(',').map((level) => floorLevelOption(level.trim(), '--levels'));
} catch (error) {
  fail(usage, (error as Error).message);
}

type Cell = Extract<ToolTarget, 'bare' | `floor-${FloorLevel}` | 'odock-notel' | 'odock'>;
const cells: Cell[] = [
  'bare',
  ...levels.map((level): Cell => `floor-${level}`),
  ...(values['no-odock'] ? [] : (['odock-notel', 'odock'] as const)),
];
const labels = (cell: Cell): string => {
  if (cell === 'bare') return 'bare proxy';
  if (cell === 'odock-notel') return 'odock-server, telemetry off';
  if (cell === 'odock') return 'odock-server';
  const level = Number(cell.slice('floor-'.length)) as FloorLevel;
  return `floor ${level}: ${floorLevelNames[level]}`;
};

const environment = await standaloneEnvironment({
  tool: 'floor',
  gatewayRoot: undefined,
  portBase: positive('port-base', values['port-base']),
});
/** CPU per request in µs, per cell, one entry per round. */
const measured = new Map<Cell, number[]>(cells.map((cell) => [cell, []]));
/** Other processes' CPU (the machine is shared) above which a measurement is marked. */
const disturbed = 0.25;
const disturbedCells = new Set<string>();
const services: Service[] = [];
try {
  services.push(await startMock(environment, 'twenty'));
  services.push(await startOtlpReceiverProcess(environment));
  for (let round = 1; round <= rounds; round += 1) {
    for (const cell of cells) {
      const service = await startTarget(environment, cell);
      try {
        const request = targetRequest(environment, cell, 'twenty');
        await runClosedLoop({ request, connections, durationS: warmupS, cpu: environment.loadCpu });
        const own = [...services, service].map((running) => running.pid);
        await waitForQuiet(own, { maxMs: 60_000, windowMs: 2_000, threshold: 0.1 });
        const machineBefore = await cpuSnapshot(own);
        const before = await processCpuSeconds(service.pid);
        const result = await runClosedLoop({ request, connections, durationS, cpu: environment.loadCpu });
        const cpuUs = (((await processCpuSeconds(service.pid)) - before) * 1e6) / result.requests;
        const { foreign } = foreignLoad(machineBefore, await cpuSnapshot(own));
        if (result.errors > 0 || result.requests === 0)
          throw new Error(`${labels(cell)}: ${result.errors} errors in ${result.requests} requests`);
        measured.get(cell)!.push(cpuUs);
        if (foreign > disturbed) disturbedCells.add(`${cell} ${round}`);
        process.stderr.write(
          `round ${round} ${cell}: ${Math.round(result.rps)} requests/s, ${cpuUs.toFixed(1)} µs of CPU per request, ` +
            `other processes ${foreign.toFixed(2)} CPUs\n`,
        );
      } finally {
        await service.stop();
      }
    }
  }
} finally {
  for (const service of services.reverse()) await service.stop().catch(() => {});
}

const bareMedian = median(measured.get('bare')!);
const roundHeads = Array.from({ length: rounds }, (_, index) => `round ${index + 1}`);
const lines = [
  `CPU per request (µs, all threads of the process, from /proc) at ${connections} connections of the 20 ms mock, ` +
    `${durationS} s after ${warmupS} s of warm-up, each system pinned to CPU ${environment.systemCpu}; ` +
    "share of the bare proxy's capacity = the bare proxy's median over the system's. Each measurement waits " +
    `for the machine's other processes to fall under 0.1 CPU (at most a minute); ⚠: they used more than ${disturbed} CPU during it.`,
  '',
  `| system | ${roundHeads.join(' | ')} | median | share of the bare proxy's capacity |`,
  `| --- | ${roundHeads.map(() => '---:').join(' | ')} | ---: | ---: |`,
  ...cells.map((cell) => {
    const values = measured.get(cell)!;
    const middle = median(values);
    const rounds = values.map(
      (value, index) => `${value.toFixed(1)}${disturbedCells.has(`${cell} ${index + 1}`) ? ' ⚠' : ''}`,
    );
    return `| ${labels(cell)} | ${rounds.join(' | ')} | ${middle.toFixed(1)} | ${Math.round(
      (bareMedian / middle) * 100,
    )} % |`;
  }),
];
const table = `${lines.join('\n')}\n`;
process.stdout.write(table);
if (values.out !== undefined) await writeFile(values.out, table);
