/**
 * How far odock-server is from the floor of its own features on Node: the CPU per request of
 * the raw-socket proxy (bench/raw-proxy.ts: the bare proxy's exchange with no HTTP library, the
 * floor under the stack), of the bare proxy, of the floor proxy at each level
 * (bench/floor-proxy.ts: the features written as plainly as they can be), of odock-server with
 * telemetry off and of odock-server, and of any `--variant` of odock-server (another checkout,
 * other settings: an A/B in the same rounds), at 64 connections of the 20 ms mock, each system
 * pinned and loaded as `bench/profile.ts` does. Systems run one after the other within a round,
 * in an order rotated from round to round, and rounds repeat, so that a drift of the machine
 * shows as a difference between rounds rather than between systems; the table gives every
 * round, the median, and the median's share of the bare proxy's capacity (its CPU per request
 * over the system's).
 * Options: `node bench/floor.ts --help`.
 */
import { writeFile } from 'node:fs/promises';
import { holdCpuIdle } from './cpu-idle.ts';
import { type FloorLevel, floorLevelNames, floorLevelOption, floorLevels } from './floor-proxy.ts';
import { cpuSnapshot, foreignLoad, processCpuSeconds, waitForQuiet } from './machine.ts';
import type { Service } from './processes.ts';
import { median, rotate } from './results.ts';
import {
  standaloneEnvironment,
  startMock,
  startOtlpReceiverProcess,
  startTarget,
  type ToolTarget,
  targetRequest,
} from './systems.ts';
import { cpuIdleArgument, fail, type GatewayVariant, parseGatewayVariant, toolArgs } from './tool-args.ts';
import { runClosedLoop } from './wrk.ts';

const usage = `
node bench/floor.ts [--rounds 3] [--levels 1,2,3,4,5,6,7|none] [--connections 64] [--duration 15]
                    [--warmup 6] [--no-raw] [--no-odock] [--variant 'NAME[@DIR][:KEY=VALUE,...]' ...]
                    [--port-base 18600] [--out FILE.md] [--cpu-idle poll|os]

Each round starts, warms up, measures and stops, in this order, rotated by one system from
round to round: the raw-socket proxy (bench/raw-proxy.ts; --no-raw leaves it out), the bare
proxy, the floor proxy at each of --levels, odock-server with telemetry off, odock-server
(--no-odock leaves these two out) and each --variant: odock-server (telemetry on) from the
checkout in DIR and with the variables given beyond the benchmark's, e.g. 'sampled
1:OBSERVABILITY_SAMPLE_RATE=1' or 'branch@../other-checkout' (a value cannot hold a comma).
About 30 s per system and round. --cpu-idle: poll (the default) holds the idle CPUs polling
while the tool runs, as npm run bench does; os leaves them as they are.
`;

const { values } = toolArgs(usage, {
  options: {
    rounds: { type: 'string', default: '3' },
    levels: { type: 'string', default: floorLevels.join(',') },
    connections: { type: 'string', default: '64' },
    duration: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '6' },
    'no-raw': { type: 'boolean' },
    'no-odock': { type: 'boolean' },
    variant: { type: 'string', multiple: true },
    'port-base': { type: 'string', default: '18600' },
    out: { type: 'string' },
    'cpu-idle': { type: 'string', default: 'poll' },
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
let variants: GatewayVariant[];
try {
  levels =
    values.levels === 'none'
      ? []
      : values.levels.split(',').map((level) => floorLevelOption(level.trim(), '--levels'));
  variants = (values.variant ?? []).map(parseGatewayVariant);
} catch (error) {
  fail(usage, (error as Error).message);
}

/** One system of every round: what runs, under which name, with which environment. */
interface Cell {
  label: string;
  target: Extract<ToolTarget, 'raw' | 'bare' | `floor-${FloorLevel}` | 'odock-notel' | 'odock'>;
  variant?: GatewayVariant;
}
const bareCell: Cell = { label: 'bare proxy', target: 'bare' };
const cells: Cell[] = [
  ...(values['no-raw'] ? [] : [{ label: 'raw-socket proxy (no HTTP library)', target: 'raw' } as const]),
  bareCell,
  ...levels.map(
    (level): Cell => ({ label: `floor ${level}: ${floorLevelNames[level]}`, target: `floor-${level}` }),
  ),
  ...(values['no-odock']
    ? []
    : [
        { label: 'odock-server, telemetry off', target: 'odock-notel' } as const,
        { label: 'odock-server', target: 'odock' } as const,
      ]),
  ...variants.map((variant): Cell => ({ label: `odock-server, ${variant.name}`, target: 'odock', variant })),
];
const duplicate = cells.find(
  (cell, index) => cells.findIndex((other) => other.label === cell.label) !== index,
);
if (duplicate !== undefined) fail(usage, `--variant: two systems would be named "${duplicate.label}"`);

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
const cpuIdle = holdCpuIdle(cpuIdleArgument(usage, values['cpu-idle']));
const services: Service[] = [];
try {
  services.push(await startMock(environment, 'twenty'));
  services.push(await startOtlpReceiverProcess(environment));
  for (let round = 1; round <= rounds; round += 1) {
    for (const cell of rotate(cells, round - 1)) {
      const { variant } = cell;
      const service = await startTarget(
        variant?.gatewayRoot === undefined
          ? environment
          : { ...environment, gatewayRoot: variant.gatewayRoot },
        cell.target,
        { env: variant?.env ?? {} },
      );
      try {
        const request = targetRequest(environment, cell.target, 'twenty');
        await runClosedLoop({ request, connections, durationS: warmupS, cpu: environment.loadCpu });
        const own = [...services, service].map((running) => running.pid);
        await waitForQuiet(own, { maxMs: 60_000, windowMs: 2_000, threshold: 0.1 });
        const machineBefore = await cpuSnapshot(own);
        const before = await processCpuSeconds(service.pid);
        const result = await runClosedLoop({ request, connections, durationS, cpu: environment.loadCpu });
        const cpuUs = (((await processCpuSeconds(service.pid)) - before) * 1e6) / result.requests;
        const { foreign } = foreignLoad(machineBefore, await cpuSnapshot(own));
        if (result.errors > 0 || result.requests === 0)
          throw new Error(`${cell.label}: ${result.errors} errors in ${result.requests} requests`);
        measured.get(cell)!.push(cpuUs);
        if (foreign > disturbed) disturbedCells.add(`${cell.label} ${round}`);
        process.stderr.write(
          `round ${round} ${cell.label}: ${Math.round(result.rps)} requests/s, ${cpuUs.toFixed(1)} µs of CPU per request, ` +
            `other processes ${foreign.toFixed(2)} CPUs\n`,
        );
      } finally {
        await service.stop();
      }
    }
  }
} finally {
  for (const service of services.reverse()) await service.stop().catch(() => {});
  cpuIdle.release();
}

const bareMedian = median(measured.get(bareCell)!);
const roundHeads = Array.from({ length: rounds }, (_, index) => `round ${index + 1}`);
const lines = [
  `CPU per request (µs, all threads of the process, from /proc) at ${connections} connections of the 20 ms mock, ` +
    `${durationS} s after ${warmupS} s of warm-up, each system pinned to CPU ${environment.systemCpu}; ` +
    "share of the bare proxy's capacity = the bare proxy's median over the system's. Each measurement waits " +
    `for the machine's other processes to fall under 0.1 CPU (at most a minute); ⚠: they used more than ${disturbed} CPU during it. ` +
    `Idle CPUs: ${cpuIdle.description}.`,
  '',
  `| system | ${roundHeads.join(' | ')} | median | share of the bare proxy's capacity |`,
  `| --- | ${roundHeads.map(() => '---:').join(' | ')} | ---: | ---: |`,
  ...cells.map((cell) => {
    const values = measured.get(cell)!;
    const middle = median(values);
    const rounds = values.map(
      (value, index) => `${value.toFixed(1)}${disturbedCells.has(`${cell.label} ${index + 1}`) ? ' ⚠' : ''}`,
    );
    return `| ${cell.label} | ${rounds.join(' | ')} | ${middle.toFixed(1)} | ${Math.round(
      (bareMedian / middle) * 100,
    )} % |`;
  }),
];
const table = `${lines.join('\n')}\n`;
process.stdout.write(table);
if (values.out !== undefined) await writeFile(values.out, table);
