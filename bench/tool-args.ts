/**
 * Command-line arguments of the bench tools: `--help` prints the tool's usage, and an unknown
 * or malformed option prints what was wrong and the usage, then exits with 2, instead of a
 * stack trace from `parseArgs`.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { type CpuIdleMode, cpuIdleOption } from './cpu-idle.ts';

export function toolArgs<T extends ParseArgsConfig>(
  usage: string,
  config: T,
): ReturnType<typeof parseArgs<T>> {
  if (process.argv.slice(2).includes('--help')) {
    process.stdout.write(`${usage.trim()}\n`);
    process.exit(0);
  }
  try {
    return parseArgs(config);
  } catch (error) {
    return fail(usage, (error as Error).message);
  }
}

/**
 * `--gateway-env KEY=VALUE` options (repeatable) as an environment for odock-server beyond the
 * benchmark's own: settings its configuration does not vary, such as
 * `OBSERVABILITY_SAMPLE_RATE=0` or `ODOCK_MEMORY_LIMIT_MB=224`. Throws on a malformed one.
 */
export function parseGatewayEnvironment(
  assignments: readonly string[] | undefined,
  option = '--gateway-env',
): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const assignment of assignments ?? []) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(assignment);
    if (match === null) throw new Error(`${option}: expected KEY=VALUE, got "${assignment}"`);
    environment[match[1]!] = match[2]!;
  }
  return environment;
}

/** An odock-server measured beside the others under a name of its own (`--variant`). */
export interface GatewayVariant {
  name: string;
  /** Another checkout of the gateway (`@DIR`); the tool's own gateway when absent. */
  gatewayRoot?: string;
  /** Environment beyond the benchmark's, as `--gateway-env` gives it. */
  env: Record<string, string>;
}

/**
 * `--variant 'NAME[@DIR][:KEY=VALUE,KEY=VALUE...]'`: odock-server under NAME, from the checkout
 * in DIR when given, with the variables given (a value cannot hold a comma). At least one of
 * DIR and a variable: a variant without either is the gateway as shipped. Throws when malformed.
 */
export function parseGatewayVariant(text: string): GatewayVariant {
  const match = /^([^@:]+)(?:@([^:]+))?(?::(.*))?$/s.exec(text);
  const name = match?.[1]?.trim();
  if (
    match === null ||
    name === undefined ||
    name === '' ||
    (match[2] === undefined && match[3] === undefined)
  )
    throw new Error(
      `--variant: expected NAME[@DIR][:KEY=VALUE,...] with a directory or a variable, got "${text}"`,
    );
  const env =
    match[3] === undefined
      ? {}
      : parseGatewayEnvironment(
          match[3].split(',').map((assignment) => assignment.trim()),
          '--variant',
        );
  return { name, ...(match[2] === undefined ? {} : { gatewayRoot: match[2] }), env };
}

/** `parseGatewayEnvironment` for a tool: a malformed assignment fails with the usage. */
export function gatewayEnvironment(
  usage: string,
  assignments: readonly string[] | undefined,
): Record<string, string> {
  try {
    return parseGatewayEnvironment(assignments);
  } catch (error) {
    return fail(usage, (error as Error).message);
  }
}

/** Prints what was wrong and the usage; exits with 2. */
export function fail(usage: string, message: string): never {
  process.stderr.write(`${message}\n\n${usage.trim()}\n`);
  process.exit(2);
}

/** `--cpu-idle poll|os` of a tool (bench/cpu-idle.ts); anything else prints the usage and exits with 2. */
export function cpuIdleArgument(usage: string, text: string | undefined): CpuIdleMode {
  try {
    return cpuIdleOption(text);
  } catch (error) {
    return fail(usage, (error as Error).message);
  }
}
