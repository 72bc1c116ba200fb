/**
 * Renders a run's results (bench/results/*.json) as the markdown table of
 * bench/results/*.md and docs/performance.md. Re-render a stored run with
 *
 *   node bench/report.ts bench/results/latest.json
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { LatencySummary } from './load-result.ts';
import { pauseCostSummary } from './pause-cost.ts';
import {
  type Added,
  addedLatency,
  addedOpenLoop,
  addedTimeToFirstToken,
  addedTimeToFirstTokenInterval,
  type BenchResults,
  capacity,
  capacityRatios,
  checkTargets,
  cpuCellOf,
  cpuPerRequest,
  errorRate,
  instructionRatios,
  intervalEnd,
  type Measurement,
  type Ratios,
  ratios,
  saturationRatios,
} from './results.ts';
import { mockLabel, type SystemId, targetLabels } from './systems.ts';
import { fail } from './tool-args.ts';

const number = (value: number | undefined, digits = 2): string =>
  value === undefined || !Number.isFinite(value) ? 'n/a' : value.toFixed(digits);
const signed = (value: number | undefined): string =>
  value === undefined || !Number.isFinite(value) ? 'n/a' : `${value >= 0 ? '+' : ''}${value.toFixed(2)}`;
const triple = (added: Added | undefined): string =>
  added === undefined ? 'n/a' : `${signed(added.p50)} / ${signed(added.p99)} / ${signed(added.p999)}`;
const percent = (value: number | undefined, digits = 0): string =>
  value === undefined || !Number.isFinite(value) ? 'n/a' : `${(value * 100).toFixed(digits)} %`;
const integer = (value: number | undefined): string =>
  value === undefined || !Number.isFinite(value) ? 'n/a' : Math.round(value).toLocaleString('en-US');

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function latencies(summary: LatencySummary): string[] {
  return [number(summary.p50), number(summary.p99), number(summary.p999), number(summary.max)];
}

/**
 * The error rate, the requests among them left unanswered, and the handshakes the kernel could
 * not take during the measurement (machine-wide, so any listener's), when there were any.
 */
function errorsOf(measurement: Measurement): string {
  const { result } = measurement;
  const rate = percent(errorRate(result), 2);
  const notes = [
    result.unanswered ? `${integer(result.unanswered)} unanswered` : '',
    measurement.listenOverflows ? `${integer(measurement.listenOverflows)} listen-queue overflows` : '',
    measurement.synRetransmits ? `${integer(measurement.synRetransmits)} SYN retransmissions` : '',
  ].filter((note) => note !== '');
  return notes.length > 0 ? `${rate} (${notes.join(', ')})` : rate;
}

function measurementRow(label: string, measurement: Measurement, added: Added | undefined): string[] {
  const { result } = measurement;
  return [
    label,
    targetLabels[measurement.target],
    integer(result.rps),
    ...latencies(result.latencyMs),
    triple(added),
    errorsOf(measurement),
    number(measurement.cpuMsPerRequest, 3),
    cores(measurement),
  ];
}

/** Core utilisation, and the CPU other processes of the machine took meanwhile (⚠ above a quarter CPU). */
function cores(measurement: Measurement): string {
  const foreign = measurement.foreignLoad;
  const flag = foreign !== undefined && foreign > disturbedLoad ? ' ⚠' : '';
  return `${percent(measurement.systemCoreBusy)} / ${percent(measurement.loadCoreBusy)} / ${number(
    measurement.datastoreLoad,
  )} / ${number(foreign)}${flag}${measurement.retried ? ' (retried)' : ''}`;
}

const disturbedLoad = 0.25;
const coresHeader = 'CPU: system core / load core / PG+Redis / others (CPUs)';

const sumOf = (measurements: readonly Measurement[], key: 'listenOverflows' | 'synRetransmits'): number =>
  measurements.reduce((sum, measurement) => sum + (measurement[key] ?? 0), 0);

/**
 * The machine's cost of a pause, in one sentence (empty for results from before stop 31): the
 * cells at one connection of the 20 ms mock and before a stream's first token run at the slower
 * of the two speeds.
 */
export function pauseCostSentence(results: BenchResults): string {
  const cost = results.pauseCost;
  if (cost === undefined) return '';
  const cpu = cost.cpu === null ? 'an unpinned CPU' : `CPU ${cost.cpu}`;
  return ` Work after a pause (bench/pause-cost.ts, on ${cpu}): ${pauseCostSummary(cost)}.`;
}

export function renderMarkdown(results: BenchResults): string {
  const systems = results.setup.systems;
  const header = ['', ...systems.map((system) => targetLabels[system])];
  const row = (label: string, cell: (system: SystemId) => string): string[] => [label, ...systems.map(cell)];
  const { machine, versions } = results;
  const sections: string[] = [];

  sections.push(
    `Run \`${results.preset}\` of ${results.startedAt} (${Math.round(results.elapsedS)} s). ` +
      `Machine: ${machine.cpuModel}, ${machine.logicalCpus} logical CPUs at ${machine.cpuMHz} MHz, ` +
      `${machine.memoryGiB} GiB, ${machine.platform}, kernel ${machine.kernel}. ` +
      (results.setup.systemCpu === null
        ? 'Processes not pinned.'
        : `Systems under test pinned to CPU ${results.setup.systemCpu}; load generator and mock upstreams on CPU ${results.setup.loadCpu}; PostgreSQL and Redis unpinned.`) +
      (results.setup.cpuIdle === undefined ? '' : ` Idle CPUs: ${results.setup.cpuIdle}.`) +
      pauseCostSentence(results),
    `Versions: Node ${versions.node}, undici ${versions.undici}, ${versions.wrk}, @portkey-ai/gateway ${versions.portkeyGateway} ` +
      `(@hono/node-server ${versions.honoNodeServer}), PostgreSQL ${versions.postgres}, Redis ${versions.redis}, ` +
      `odock-server ${versions.gatewayCommit}${
        versions.gatewayDirty
          ? ` with uncommitted changes under src/ (source digest ${versions.gatewaySourceDigest})`
          : ''
      }.`,
  );
  const gatewayEnv = Object.entries(results.setup.gatewayEnv ?? {});
  if (gatewayEnv.length > 0)
    sections.push(
      `odock-server ran with ${gatewayEnv.map(([name, value]) => `\`${name}=${value}\``).join(', ')} ` +
        "(`--gateway-env`) beyond the benchmark's environment: not as shipped.",
    );
  if (!results.telemetry.active && systems.includes('odock'))
    sections.push(
      '**Telemetry was not active in this build** (no span reached the OTLP receiver and `GET /metrics` did not answer 200): ' +
        'the "odock-server" and "telemetry off" columns ran the same code, so their ratio only shows the noise of the run.',
    );

  const all = [
    ...results.latency,
    ...results.search.map((step) => step.measurement),
    ...results.openLoop,
    ...results.streams,
    ...Object.values(results.memory).flatMap((entry) => (entry?.streams ? [entry.streams] : [])),
  ];
  const disturbed = all.filter((measurement) => (measurement.foreignLoad ?? 0) > disturbedLoad).length;
  const retried = all.filter((measurement) => measurement.retried).length;
  if (all.length > 0)
    sections.push(
      `Other processes of the machine used ${number(
        all.reduce((sum, measurement) => sum + (measurement.foreignLoad ?? 0), 0) / all.length,
      )} CPUs on average during the measurements. ${disturbed} of ${all.length} measurements kept ran while they used more than ${disturbedLoad} CPU (⚠ in the tables below); ` +
        `${retried} needed a second attempt because the first saw more than half a CPU of other load (the less disturbed attempt is kept, "retried").` +
        // Runs before stop 21 did not read the counters: say nothing rather than zero.
        (all.some((measurement) => measurement.listenOverflows !== undefined)
          ? ` The kernel counted ${integer(sumOf(all, 'listenOverflows'))} listen-queue overflows and ${integer(
              sumOf(all, 'synRetransmits'),
            )} SYN retransmissions during the measurements (any listener of the machine; per cell in the errors columns when there were any).`
          : ''),
    );

  const lat = (mock: 'zero' | 'twenty', concurrency: number) =>
    row(`added latency p50 / p99 / p99.9, c=${concurrency}, ${mockLabel(mock)} (ms)`, (system) =>
      triple(addedLatency(results, system, mock, concurrency)),
    );
  const summaryRows: string[][] = [];
  if (results.latency.length > 0) {
    for (const concurrency of new Set(
      results.latency.filter((m) => m.mock === 'zero').map((m) => m.concurrency!),
    ))
      summaryRows.push(lat('zero', concurrency));
    for (const concurrency of new Set(
      results.latency.filter((m) => m.mock === 'twenty').map((m) => m.concurrency!),
    ))
      summaryRows.push(lat('twenty', concurrency));
  }
  if (results.search.length > 0) {
    summaryRows.push(
      row('max requests/s at added p99 ≤ 5 ms, < 0.1 % errors (closed loop, 20 ms mock)', (system) => {
        const found = results.maxThroughput[system];
        return found ? `${integer(found.rps)} (c=${found.concurrency})` : 'none passed';
      }),
    );
    summaryRows.push(
      row('saturation: most requests/s reached in the search, any latency', (system) =>
        integer(results.saturationThroughput?.[system]),
      ),
    );
    summaryRows.push(
      row('open loop at that rate: added p50 / p99 / p99.9 (ms), errors', (system) => {
        const found = results.maxThroughput[system];
        const rate = found ? Math.max(50, Math.floor(found.rps / 50) * 50) : undefined;
        const run = results.openLoop.find((m) => m.target === system && m.rate === rate);
        return run ? `${triple(addedOpenLoop(results, run))}, ${errorsOf(run)}` : 'n/a';
      }),
    );
    summaryRows.push(
      row(
        `open loop at ${results.setup.targetRate} requests/s: added p50 / p99 / p99.9 (ms), errors`,
        (system) => {
          const run = results.openLoop.find(
            (m) => m.target === system && m.rate === results.setup.targetRate,
          );
          return run ? `${triple(addedOpenLoop(results, run))}, ${errorsOf(run)}` : 'n/a';
        },
      ),
    );
  }
  for (const concurrency of new Set(results.streams.map((m) => m.concurrency!))) {
    const inTurns = results.streams.some(
      (m) => m.concurrency === concurrency && m.streamsPerTurn !== undefined,
    );
    summaryRows.push(
      row(
        `streaming: added time to first token p50 / p99 / p99.9, c=${concurrency}${inTurns ? ', targets taking turns' : ''} (ms)`,
        (system) => triple(addedTimeToFirstToken(results, system, concurrency)),
      ),
    );
    if (systems.some((system) => addedTimeToFirstTokenInterval(results, system, concurrency) !== undefined))
      summaryRows.push(
        row(
          `streaming: interval of the added time to first token's p99, c=${concurrency} (ms, at least 90 % confidence; bench/quantile-interval.ts)`,
          (system) => {
            const interval = addedTimeToFirstTokenInterval(results, system, concurrency);
            if (interval === undefined) return 'n/a';
            return `${intervalEnd(interval.lower)} to ${intervalEnd(interval.upper)}`;
          },
        ),
      );
  }
  const cpuCell = cpuCellOf(results);
  const where =
    cpuCell === undefined ? 'c=64, 20 ms mock' : `c=${cpuCell.concurrency}, ${mockLabel(cpuCell.mock)}`;
  if (cpuCell !== undefined) {
    const runs = Math.max(0, ...systems.map((system) => cpuPerRequest(results, system)?.values.length ?? 0));
    summaryRows.push(
      row(
        runs > 1
          ? `CPU per request (ms), ${where}: median of ${runs} interleaved runs (lowest-highest)`
          : `CPU per request (ms), ${where}`,
        (system) => {
          const perRequest = cpuPerRequest(results, system);
          if (perRequest === undefined) return 'n/a';
          const { median, values } = perRequest;
          return values.length > 1
            ? `${number(median, 3)} (${number(Math.min(...values), 3)}-${number(Math.max(...values), 3)})`
            : number(median, 3);
        },
      ),
    );
    summaryRows.push(
      row(`CPU capacity per core: 1 / median CPU per request (${where}), requests/s`, (system) => {
        const value = capacity(results, system);
        return value === undefined ? 'n/a' : integer(value);
      }),
    );
  }
  const counts = Object.values(results.instructions ?? {}).find((count) => count !== undefined);
  if (counts !== undefined)
    summaryRows.push(
      row(
        `instructions per request without the collector and V8's compilers (callgrind; c=1, 0 ms mock, ${integer(counts.requests)} requests after ${integer(counts.warmup)})`,
        (system) => integer(results.instructions?.[system]?.withoutCollector),
      ),
    );
  summaryRows.push(
    row('peak RSS before the many-streams run (MiB)', (system) =>
      number(results.memory[system]?.runPeakMiB, 0),
    ),
  );
  const streamsCount = Object.values(results.memory).find(
    (entry) => entry?.concurrentStreams,
  )?.concurrentStreams;
  if (streamsCount !== undefined)
    summaryRows.push(
      row(`peak RSS at ${streamsCount} concurrent streams (MiB)`, (system) =>
        number(results.memory[system]?.streamsPeakMiB, 0),
      ),
    );
  sections.push(
    '### Summary (added = system minus direct-to-mock, same cell of the same run)',
    table(header, summaryRows),
  );

  const measures: Array<[string, Ratios]> = [
    ["max requests/s at added p99 ≤ 5 ms (the issue's measure)", ratios(results)],
    ['saturation requests/s (most reached in the search, any latency)', saturationRatios(results)],
    [`CPU capacity (1 / median CPU per request, ${where})`, capacityRatios(results)],
  ];
  if (counts !== undefined)
    measures.push([
      'instructions (1 / instructions per request, callgrind, c=1; leaves out the collector)',
      instructionRatios(results),
    ]);
  const asPercent = (value: number | undefined) => (value === undefined ? 'n/a' : percent(value));
  // The floor's two columns only in a run that measured it (runs before stop 32 did not).
  const withFloor = systems.includes('floor');
  sections.push(
    '### Ratios',
    table(
      [
        'measure',
        'odock-server / bare proxy',
        'odock-server / Portkey',
        `telemetry on / off${results.telemetry.active ? '' : ' (telemetry not active: same code)'}`,
        ...(withFloor ? ['floor of the features / bare proxy', 'odock-server / floor of the features'] : []),
      ],
      measures.map(([name, ratio]) => [
        name,
        asPercent(ratio.odockOverBare),
        ratio.odockOverPortkey === undefined ? 'n/a' : `${number(ratio.odockOverPortkey)}×`,
        asPercent(ratio.telemetryOnOverOff),
        ...(withFloor ? [asPercent(ratio.floorOverBare), asPercent(ratio.odockOverFloor)] : []),
      ]),
    ),
  );

  sections.push(
    '### Targets of the issue (odock-server, telemetry on)',
    table(
      ['target', 'goal', 'measured', 'held'],
      checkTargets(results).map((check) => [
        check.name,
        check.goal,
        check.value,
        check.held === undefined
          ? 'not measured'
          : check.held === 'mixed'
            ? 'mixed: the measures disagree'
            : check.held === 'unresolved'
              ? 'not resolved by this run'
              : check.held
                ? 'held'
                : '**missed**',
      ]),
    ),
  );

  const detailHeader = [
    'cell',
    'target',
    'req/s',
    'p50',
    'p99',
    'p99.9',
    'max',
    'added p50 / p99 / p99.9',
    'errors',
    'CPU ms/req',
    coresHeader,
  ];
  if (results.latency.length > 0)
    sections.push(
      '### Closed loop (wrk), latency in ms',
      table(
        detailHeader,
        results.latency.map((m) =>
          // A CPU round has no direct run of its own to subtract: its added latency is left out.
          measurementRow(
            `${mockLabel(m.mock)}, c=${m.concurrency}${m.round === undefined ? '' : `, CPU round ${m.round}`}`,
            m,
            m.target === 'direct' || m.round !== undefined
              ? undefined
              : addedLatency(results, m.target, m.mock, m.concurrency!),
          ),
        ),
      ),
    );
  if (results.search.length > 0)
    sections.push(
      '### Throughput search (closed loop, 20 ms mock); the baseline is the direct run of nearest throughput',
      table(
        ['c', 'target', 'req/s', 'p99', 'baseline p99', 'added p99', 'errors', coresHeader, 'pass'],
        results.search.map((step) => [
          String(step.concurrency),
          targetLabels[step.target],
          integer(step.measurement.result.rps),
          number(step.measurement.result.latencyMs.p99),
          number(step.baselineP99Ms),
          step.target === 'direct' ? '' : signed(step.addedP99Ms),
          percent(step.errorRate, 2),
          cores(step.measurement),
          step.target === 'direct' ? '' : step.pass ? 'yes' : 'no',
        ]),
      ),
    );
  if (results.openLoop.length > 0)
    sections.push(
      '### Open loop (fixed rate, latency from the scheduled send time), latency in ms',
      table(
        [...detailHeader, 'send lag p99'],
        results.openLoop.map((m) => [
          ...measurementRow(
            `${m.rate} req/s`,
            m,
            m.target === 'direct' ? undefined : addedOpenLoop(results, m),
          ),
          number(m.result.sendLagMs?.p99),
        ]),
      ),
    );
  if (results.streams.length > 0)
    sections.push(
      `### Streams (${results.setup.stream.chunks} chunks, ${results.setup.stream.chunkIntervalMs} ms apart, first token at ${results.setup.stream.timeToFirstTokenMs} ms), time to first token in ms`,
      table(
        [
          'c',
          'target',
          'streams',
          'TTFT p50',
          'TTFT p99',
          'TTFT p99.9',
          'added p50 / p99 / p99.9',
          'stream p50',
          'errors',
          'CPU ms/stream',
          coresHeader,
        ],
        results.streams.map((m) => {
          const stream = m.result.stream!;
          return [
            String(m.concurrency),
            targetLabels[m.target],
            m.streamsPerTurn === undefined
              ? String(stream.completed)
              : `${stream.completed} (turns of ${m.streamsPerTurn})`,
            number(stream.ttftMs.p50),
            number(stream.ttftMs.p99),
            number(stream.ttftMs.p999),
            m.target === 'direct' ? '' : triple(addedTimeToFirstToken(results, m.target, m.concurrency!)),
            number(stream.totalMs.p50, 0),
            percent(errorRate(m.result), 2),
            // Taking turns, a system's CPU over the cell is mostly its idle work (measurer.ts).
            m.streamsPerTurn === undefined ? number(m.cpuMsPerRequest, 3) : 'n/a',
            cores(m),
          ];
        }),
      ),
    );
  const memoryRows = systems
    .map((system) => [system, results.memory[system]] as const)
    .filter(([, entry]) => entry?.streams !== undefined)
    .map(([system, entry]) => {
      const stream = entry!.streams!.result.stream!;
      return [
        targetLabels[system],
        String(entry!.concurrentStreams),
        number(entry!.streamsPeakMiB, 0),
        String(stream.completed),
        number(stream.ttftMs.p50),
        number(stream.ttftMs.p99),
        number(stream.totalMs.p50, 0),
        percent(errorRate(entry!.streams!.result), 2),
        cores(entry!.streams!),
      ];
    });
  if (memoryRows.length > 0)
    sections.push(
      '### Many concurrent streams (peak RSS reset before the run)',
      table(
        [
          'system',
          'streams',
          'peak RSS MiB',
          'completed',
          'TTFT p50',
          'TTFT p99',
          'stream p50 ms',
          'errors',
          coresHeader,
        ],
        memoryRows,
      ),
    );
  if (results.notes.length > 0)
    sections.push('### Notes', results.notes.map((note) => `- ${note}`).join('\n'));
  return `${sections.join('\n\n')}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const usage = 'node bench/report.ts RESULTS.json   (a latest.json, quick.json, ... of bench/results)';
  const path = process.argv[2];
  if (path === undefined || path === '--help') fail(usage, 'the results file to render is missing');
  let results: BenchResults;
  try {
    results = JSON.parse(await readFile(path, 'utf8')) as BenchResults;
  } catch (error) {
    fail(usage, `${path}: ${(error as Error).message}`);
  }
  process.stdout.write(renderMarkdown(results));
}
