/**
 * The JSON Schema of the configuration file, generated from the zod definition in `schema.ts` so the
 * validator and the editor completion can never disagree. The output is committed as
 * `config/odock.schema.json` (referenced by the `# yaml-language-server: $schema=` line of the YAML
 * files) and `json-schema.test.ts` fails when the committed file drifts from this generator.
 *
 * Also the `odock-server config ...` subcommands, which operate on the same two artifacts.
 */
import { writeFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ConfigError, loadConfigFile, type RuntimeConfig } from './load.ts';
import { gatewayConfigSchema } from './schema.ts';

export const configSchemaPath = fileURLToPath(new URL('../../config/odock.schema.json', import.meta.url));
export const exampleConfigPath = fileURLToPath(new URL('../../config/odock.example.yaml', import.meta.url));

export function generateConfigJsonSchema(): Record<string, unknown> {
  // io 'input': the schema describes what an operator may write, so fields with defaults are optional
  // and their defaults are shown; 'throw' makes a zod construct without a JSON equivalent fail here
  // instead of silently widening the editor schema.
  const { $schema, ...body } = z.toJSONSchema(gatewayConfigSchema, {
    io: 'input',
    target: 'draft-2020-12',
    unrepresentable: 'throw',
  });
  return {
    $schema,
    // A URN rather than an https URL: the project publishes no schema host, and editors find the
    // file through the relative `$schema=` comment anyway.
    $id: 'urn:odock-server:config',
    title: 'odock-server configuration',
    description:
      'The declarative gateway configuration named by ODOCK_CONFIG: organisations, teams, users, ' +
      'providers, models with pricing, and API keys. See docs/configuration.md.',
    ...body,
  };
}

/** Stable text: same input, same bytes, so the committed artifact diffs cleanly. */
export function renderConfigJsonSchema(): string {
  return `${JSON.stringify(generateConfigJsonSchema(), null, 2)}\n`;
}

export interface ConfigCliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  /** Where `config schema --write` writes; tests point it at a temporary file. */
  readonly schemaPath: string;
}

const usage = [
  'usage:',
  '  odock-server config schema [--write]   print the JSON Schema of the configuration file,',
  `                                         or write it to ${relative(process.cwd(), configSchemaPath)}`,
  '  odock-server config check [path]       validate a configuration file',
  '                                         (default: $ODOCK_CONFIG, else config/odock.example.yaml)',
  '',
].join('\n');

/**
 * Runs `odock-server config <subcommand>` and returns the process exit code: 0 success,
 * 1 invalid configuration, 2 usage error. `argv` holds the words after `config`; a leading
 * `config` is tolerated so the caller may hand over either slice of process.argv.
 */
export async function runConfigCli(argv: readonly string[], io: Partial<ConfigCliIo> = {}): Promise<number> {
  const output: ConfigCliIo = {
    stdout: io.stdout ?? ((text) => process.stdout.write(text)),
    stderr: io.stderr ?? ((text) => process.stderr.write(text)),
    env: io.env ?? process.env,
    schemaPath: io.schemaPath ?? configSchemaPath,
  };
  const [command, ...rest] = argv[0] === 'config' ? argv.slice(1) : argv;
  if (command === 'schema' && rest.length === 0) {
    output.stdout(renderConfigJsonSchema());
    return 0;
  }
  if (command === 'schema' && rest.length === 1 && rest[0] === '--write') {
    await writeFile(output.schemaPath, renderConfigJsonSchema());
    output.stdout(`wrote ${relative(process.cwd(), output.schemaPath)}\n`);
    return 0;
  }
  if (command === 'check' && rest.length <= 1 && !rest[0]?.startsWith('-')) {
    return checkConfig(rest[0] ?? (output.env['ODOCK_CONFIG'] || exampleConfigPath), output);
  }
  output.stderr(usage);
  return 2;
}

async function checkConfig(path: string, output: ConfigCliIo): Promise<number> {
  let config: RuntimeConfig;
  try {
    config = await loadConfigFile(path, output.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    output.stderr(`${error.message}\n`);
    return 1;
  }
  output.stdout(`ok: ${path}: ${summarize(config)}\n`);
  // Valid but inert parts: worth a line, since the operator otherwise learns of them from a 400 or a 401.
  for (const provider of config.providers.values()) {
    if (provider.apiKeyEnv !== undefined && provider.apiKey === undefined)
      output.stdout(
        `note: provider ${provider.name}: ${provider.apiKeyEnv} is unset; ` +
          'its models answer 400 provider_api_key_not_configured\n',
      );
  }
  config.document.api_keys.forEach((key, index) => {
    if (key.secret_env !== undefined && config.apiKeys[index]?.keyHash === undefined)
      output.stdout(`note: api key ${key.id}: ${key.secret_env} is unset; the key is not usable\n`);
  });
  return 0;
}

function summarize(config: RuntimeConfig): string {
  const { document } = config;
  const count = (amount: number, singular: string, plural: string) =>
    `${amount} ${amount === 1 ? singular : plural}`;
  return [
    count(document.organizations.length, 'organization', 'organizations'),
    count(document.teams.length, 'team', 'teams'),
    count(document.users.length, 'user', 'users'),
    count(document.providers.length, 'provider', 'providers'),
    count(document.models.length, 'model', 'models'),
    count(document.api_keys.length, 'api key', 'api keys'),
  ].join(', ');
}
