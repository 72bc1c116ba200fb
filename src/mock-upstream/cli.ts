/**
 * `odock-server mock-upstream`: runs the mock upstream as its own process (benchmarks, demos
 * against a separate gateway). Resolves once the server listens, like `serve`; SIGINT or
 * SIGTERM closes it, after which the process exits on its own.
 */
import { parseArgs } from 'node:util';
import {
  type MockUpstreamOptions,
  type NumericOptionName,
  numericOptionProblem,
  numericOptionRules,
  resolveMockUpstreamOptions,
} from './options.ts';
import { startMockUpstream } from './server.ts';

export const mockUpstreamUsage = `usage: odock-server mock-upstream [options]

  --host H                    interface to listen on (default 127.0.0.1)
  --port N                    port (default 0: an ephemeral port, printed at start)
  --latency-ms MS             delay before response headers / first byte (default 0)
  --ttft-ms MS                streams: delay before the first content chunk (default: latency)
  --chunk-interval-ms MS      streams: delay between content chunks (default 0)
  --chunks N                  streams: number of content chunks (default 8)
  --output-tokens N           completion tokens reported in usage (default: chunks)
  --no-echo                   fixed pre-built reply instead of echoing the last user message
  --error-rate P              probability (0..1) of a 500
  --rate-limit-rate P         probability of a 429 with Retry-After
  --timeout-rate P            probability of never answering
  --reset-rate P              probability of a connection reset before answering
  --mid-stream-error-rate P   probability that a stream fails halfway
  --seed N                    seed of the fault PRNG (default: random)
  --retry-after-seconds N     Retry-After of 429 answers (default 1)

Per request: header x-mock-scenario (error-500, error-429, error-400, timeout, reset,
mid-stream-error, mid-stream-reset, slow) and x-mock-latency-ms, x-mock-ttft-ms,
x-mock-chunk-interval-ms.
`;

/** A command-line mistake: the message names the flag and is meant to be shown as is. */
export class MockUpstreamUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MockUpstreamUsageError';
  }
}

const flagOptions = Object.fromEntries(
  Object.values(numericOptionRules).map((rule) => [rule.flag, { type: 'string' as const }]),
);

/** Turns argv into options; throws MockUpstreamUsageError naming the bad flag. */
export function parseMockUpstreamArguments(argv: string[]): MockUpstreamOptions | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        ...flagOptions,
        host: { type: 'string' },
        'no-echo': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new MockUpstreamUsageError(`mock-upstream: ${(error as Error).message}\n\n${mockUpstreamUsage}`);
  }
  if (values['help'] === true) return 'help';
  const options: MockUpstreamOptions = {};
  if (typeof values['host'] === 'string') options.host = values['host'];
  if (values['no-echo'] === true) options.echo = false;
  for (const [name, rule] of Object.entries(numericOptionRules) as [NumericOptionName, { flag: string }][]) {
    const text = values[rule.flag];
    if (typeof text !== 'string') continue;
    // Number('') is 0 and Number(' 5 ') is 5: only plain decimal notation is accepted.
    const value = /^\s*$/.test(text) ? Number.NaN : Number(text);
    const problem = numericOptionProblem(name, value);
    if (problem !== undefined) {
      throw new MockUpstreamUsageError(
        `mock-upstream: --${rule.flag} ${problem.replace(/, got .*$/, '')}, got "${text}"`,
      );
    }
    options[name] = value;
  }
  try {
    resolveMockUpstreamOptions(options);
  } catch (error) {
    throw new MockUpstreamUsageError(`mock-upstream: ${(error as Error).message}`);
  }
  return options;
}

export async function runMockUpstreamCli(argv: string[]): Promise<void> {
  const options = parseMockUpstreamArguments(argv);
  if (options === 'help') {
    process.stdout.write(mockUpstreamUsage);
    return;
  }
  const mock = await startMockUpstream(options);
  process.stdout.write(`mock upstream listening on ${mock.url}\n`);
  const stop = (): void => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    mock.close().then(
      () => undefined,
      (error: unknown) => {
        process.stderr.write(`mock upstream: close failed: ${(error as Error).message}\n`);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
