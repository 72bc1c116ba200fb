/**
 * Runs the real `odock-server serve` process, as an operator would, and resolves with the URL it
 * logs once listening. Telemetry export is off unless the caller's env turns it on.
 */
import { type ChildProcess, spawn } from 'node:child_process';

const cli = new URL('../../src/cli.ts', import.meta.url).pathname;
/** The package bin: the entry point `npm start` and the Docker image use. */
const bin = new URL('../../bin/odock-server.js', import.meta.url).pathname;

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  /** Everything the process wrote so far, stdout and stderr. */
  output: () => string;
}

export interface ServeProcessOptions {
  /** Start through the package bin (as `npm start` does) rather than src/cli.ts. */
  viaBin?: boolean;
  /** Node flags before the entry point. */
  nodeArgs?: readonly string[];
}

export async function startServeProcess(
  env: Record<string, string>,
  options: ServeProcessOptions = {},
): Promise<ServeProcess> {
  const entry = options.viaBin ? bin : cli;
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), entry, 'serve'], {
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', OBSERVABILITY_OTEL_EXPORTER: 'none', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr!.on('data', (chunk) => {
    output += chunk;
  });
  const url = await new Promise<string>((resolve, reject) => {
    // Generous: PGlite's first boot takes seconds, more on a loaded 2-core machine.
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${output}`)), 90_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk;
      const match = /"url":"(http:[^"]+)"/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}:\n${output}`));
    });
  });
  return { child, url, output: () => output };
}
