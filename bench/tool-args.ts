/**
 * Command-line arguments of the bench tools: `--help` prints the tool's usage, and an unknown
 * or malformed option prints what was wrong and the usage, then exits with 2, instead of a
 * stack trace from `parseArgs`.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';

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

/** Prints what was wrong and the usage; exits with 2. */
export function fail(usage: string, message: string): never {
  process.stderr.write(`${message}\n\n${usage.trim()}\n`);
  process.exit(2);
}
