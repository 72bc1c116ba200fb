/**
 * Shared access to the stack's files for the tests of test/stack/: the repository root, YAML
 * loading, the compose file (as written and as `docker-compose config` resolves it), running
 * Debian's tools with a deadline, and free loopback ports for the binaries the tests start.
 */
import { execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));
export const observabilityDirectory = join(repositoryRoot, 'observability');

export function repositoryPath(...segments: string[]): string {
  return join(repositoryRoot, ...segments);
}

export function readText(...segments: string[]): string {
  return readFileSync(repositoryPath(...segments), 'utf8');
}

/** YAML with merge keys (`<<: *anchor`), as docker-compose reads it. */
export function readYaml<T = unknown>(...segments: string[]): T {
  return parse(readText(...segments), { merge: true }) as T;
}

/** Every file under a directory (recursively), as paths relative to the repository root. */
export function listFiles(directory: string, suffix = ''): string[] {
  const found: string[] = [];
  const walk = (absolute: string) => {
    for (const entry of readdirSync(absolute, { withFileTypes: true })) {
      const child = join(absolute, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (entry.name.endsWith(suffix)) found.push(relative(repositoryRoot, child));
    }
  };
  walk(repositoryPath(directory));
  return found.sort();
}

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion (never throws on a non-zero exit; the caller asserts the code). */
export function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd ?? repositoryRoot,
        env: options.env ?? process.env,
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 32 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(new Error(`${command} ${args.join(' ')}: ${error.message}\n${stderr}`));
          return;
        }
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
      },
    );
  });
}

/** A loopback port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

export interface BackgroundProcess {
  readonly output: () => string;
  stop(): Promise<void>;
}

/** Starts a long-running binary; `stop` ends exactly that process (by its pid) and waits for it. */
export function start(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): BackgroundProcess {
  const child = spawn(command, args, { env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null) resolve();
    child.once('exit', () => resolve());
  });
  return {
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls a URL until it answers 2xx, or fails with what the process printed. */
export async function waitForHttp(
  url: string,
  process: BackgroundProcess,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return;
      lastError = `HTTP ${response.status}`;
    } catch (error) {
      lastError = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new Error(`${url} did not answer in ${timeoutMs} ms (${lastError}); output:\n${process.output()}`);
}

// ------------------------------------------------------------------------------------ compose

export interface ComposeHealthcheck {
  readonly test?: string | string[];
}

export interface ComposeService {
  readonly image?: string;
  readonly build?: unknown;
  readonly profiles?: string[];
  readonly command?: string | string[];
  readonly entrypoint?: string | string[];
  readonly environment?: Record<string, string | number | boolean | null>;
  readonly ports?: string[];
  readonly expose?: string[];
  readonly volumes?: string[];
  readonly healthcheck?: ComposeHealthcheck;
  readonly depends_on?: Record<string, { condition: string }>;
  readonly restart?: string;
  readonly user?: string;
}

export interface ComposeFile {
  readonly services: Record<string, ComposeService>;
  readonly volumes?: Record<string, unknown>;
}

/** A value for every variable compose requires, so `config` can resolve the file. */
export const requiredComposeEnvironment = { GRAFANA_ADMIN_PASSWORD: 'test-only-password' } as const;

/** The environment to run docker-compose with: this process's, minus any variable of the file. */
export function composeEnvironment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const names = new Set(composeVariables().map((variable) => variable.name));
  const environment: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!names.has(name)) environment[name] = value;
  return { ...environment, ...extra };
}

export interface ComposeVariable {
  readonly name: string;
  /** `:-default` value, `undefined` for `:?` (required). */
  readonly defaultValue: string | undefined;
  readonly required: boolean;
}

/** Every `${NAME...}` interpolation of docker-compose.yml, one entry per occurrence. */
export function composeVariables(): ComposeVariable[] {
  const text = readText('docker-compose.yml');
  const found: ComposeVariable[] = [];
  for (const match of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}/g)) {
    const [, name, operator, rest] = match;
    found.push({
      name: name!,
      defaultValue: operator === ':-' ? rest : undefined,
      required: operator === ':?',
    });
  }
  return found;
}

const resolvedByProfiles = new Map<string, Promise<ComposeFile>>();

/** docker-compose.yml resolved by Debian's docker-compose (v1) for the given profiles (memoized). */
export function resolvedCompose(profiles: readonly string[]): Promise<ComposeFile> {
  const key = profiles.join(',');
  let resolved = resolvedByProfiles.get(key);
  if (resolved === undefined) {
    resolved = (async () => {
      const args = [...profiles.flatMap((profile) => ['--profile', profile]), 'config'];
      const result = await run('docker-compose', args, {
        env: composeEnvironment(requiredComposeEnvironment),
      });
      if (result.code !== 0) throw new Error(`docker-compose ${args.join(' ')} failed:\n${result.stderr}`);
      return parse(result.stdout) as ComposeFile;
    })();
    resolvedByProfiles.set(key, resolved);
  }
  return resolved;
}

/** Services compose starts for a set of active profiles (no `profiles` = always). */
export function enabledServices(compose: ComposeFile, profiles: readonly string[]): string[] {
  return Object.entries(compose.services)
    .filter(
      ([, service]) => !service.profiles || service.profiles.some((profile) => profiles.includes(profile)),
    )
    .map(([name]) => name)
    .sort();
}

export function asArray(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}
