import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MockUpstreamUsageError, parseMockUpstreamArguments, runMockUpstreamCli } from './cli.ts';
import { resolveMockUpstreamOptions } from './options.ts';

describe('parseMockUpstreamArguments', () => {
  it('maps every flag to its option', () => {
    assert.deepEqual(
      parseMockUpstreamArguments([
        '--host',
        '0.0.0.0',
        '--port',
        '8089',
        '--latency-ms',
        '12.5',
        '--ttft-ms',
        '40',
        '--chunk-interval-ms',
        '3',
        '--chunks',
        '16',
        '--output-tokens',
        '20',
        '--no-echo',
        '--error-rate',
        '0.1',
        '--rate-limit-rate',
        '0.05',
        '--timeout-rate',
        '0.01',
        '--reset-rate',
        '0.02',
        '--mid-stream-error-rate',
        '0.03',
        '--seed',
        '7',
        '--retry-after-seconds',
        '2',
      ]),
      {
        host: '0.0.0.0',
        echo: false,
        port: 8089,
        latencyMs: 12.5,
        timeToFirstTokenMs: 40,
        chunkIntervalMs: 3,
        streamChunks: 16,
        outputTokens: 20,
        errorRate: 0.1,
        rateLimitRate: 0.05,
        timeoutRate: 0.01,
        resetRate: 0.02,
        midStreamErrorRate: 0.03,
        seed: 7,
        retryAfterSeconds: 2,
      },
    );
    assert.deepEqual(parseMockUpstreamArguments([]), {});
    assert.equal(parseMockUpstreamArguments(['--help']), 'help');
  });

  it('rejects bad numbers, naming the flag and the value', () => {
    const cases: [string[], RegExp][] = [
      [['--port', 'abc'], /--port must be a finite number, got "abc"/],
      [['--port', '70000'], /--port must be between 0 and 65535, got "70000"/],
      [['--port', ''], /--port must be a finite number, got ""/],
      [['--chunks', '2.5'], /--chunks must be an integer, got "2.5"/],
      [['--chunks', '0'], /--chunks must be between 1 and/],
      [['--latency-ms=-5'], /--latency-ms must be between 0 and/],
      [['--error-rate', '1.2'], /--error-rate must be between 0 and 1, got "1.2"/],
      [['--seed', 'NaN'], /--seed must be a finite number/],
      [['--error-rate', '0.6', '--timeout-rate', '0.6'], /fault rates must add up to at most 1/],
      [['--bogus'], /Unknown option '--bogus'/],
      [['positional'], /positional/],
    ];
    for (const [argv, message] of cases) {
      assert.throws(() => parseMockUpstreamArguments(argv), message, argv.join(' '));
      assert.throws(() => parseMockUpstreamArguments(argv), MockUpstreamUsageError);
    }
  });

  it('rejects before starting anything', async () => {
    await assert.rejects(runMockUpstreamCli(['--ttft-ms', 'soon']), MockUpstreamUsageError);
  });
});

describe('resolveMockUpstreamOptions', () => {
  it('fills the documented defaults', () => {
    const { seed, ...rest } = resolveMockUpstreamOptions({});
    assert.equal(typeof seed, 'number');
    assert.deepEqual(rest, {
      host: '127.0.0.1',
      port: 0,
      latencyMs: 0,
      timeToFirstTokenMs: undefined,
      chunkIntervalMs: 0,
      streamChunks: 8,
      outputTokens: 8,
      echo: true,
      errorRate: 0,
      rateLimitRate: 0,
      timeoutRate: 0,
      resetRate: 0,
      midStreamErrorRate: 0,
      retryAfterSeconds: 1,
    });
    assert.equal(resolveMockUpstreamOptions({ streamChunks: 3 }).outputTokens, 3);
  });
});

describe('runMockUpstreamCli as a process', () => {
  it('prints the listening line, serves, and exits cleanly on SIGTERM', async () => {
    const cliPath = fileURLToPath(new URL('./cli.ts', import.meta.url));
    const script = `import { runMockUpstreamCli } from ${JSON.stringify(cliPath)}; await runMockUpstreamCli(process.argv.slice(1));`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, '--', '--chunks', '2'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let output = '';
      child.stdout.setEncoding('utf8');
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: string) => {
          output += chunk;
          if (output.includes('\n')) resolve(output);
        });
        child.once('exit', (code) => reject(new Error(`exited early with ${code}: ${output}`)));
      });
      const match = /^mock upstream listening on (http:\/\/127\.0\.0\.1:\d+)\n$/.exec(line);
      assert.ok(match, line);
      const health = await fetch(`${match[1]}/healthz`, { headers: { connection: 'close' } });
      assert.deepEqual(await health.json(), { status: 'ok' });
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
