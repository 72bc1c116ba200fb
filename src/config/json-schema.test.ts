import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import {
  configSchemaPath,
  exampleConfigPath,
  generateConfigJsonSchema,
  renderConfigJsonSchema,
  runConfigCli,
} from './json-schema.ts';
import { ConfigError, parseConfig } from './load.ts';
import { tokenPriceClasses } from './schema.ts';

type Schema = Record<string, unknown>;

// Keywords that only annotate; they never make a document invalid.
const annotations = new Set(['$schema', '$id', 'title', 'description', 'default', 'format']);

/**
 * A deliberately small JSON Schema checker for the keywords the generator emits (no validator
 * dependency is available). It throws on any other keyword, so a change in zod's output makes this
 * test fail loudly instead of passing because a constraint was silently ignored.
 */
function validate(schema: Schema, value: unknown, path = '(root)'): string[] {
  const errors: string[] = [];
  const keywords = Object.keys(schema).filter((keyword) => !annotations.has(keyword));
  for (const keyword of keywords) {
    const rule = schema[keyword];
    switch (keyword) {
      case 'type':
        if (!hasType(value, rule as string)) errors.push(`${path}: expected ${rule as string}`);
        break;
      case 'enum':
        if (!(rule as unknown[]).includes(value)) errors.push(`${path}: not one of ${JSON.stringify(rule)}`);
        break;
      case 'const':
        if (value !== rule) errors.push(`${path}: expected ${JSON.stringify(rule)}`);
        break;
      case 'pattern':
        if (typeof value === 'string' && !new RegExp(rule as string, 'u').test(value))
          errors.push(`${path}: does not match ${rule as string}`);
        break;
      case 'minLength':
        if (typeof value === 'string' && [...value].length < (rule as number))
          errors.push(`${path}: too short`);
        break;
      case 'minimum':
        if (typeof value === 'number' && value < (rule as number)) errors.push(`${path}: below ${rule}`);
        break;
      case 'exclusiveMinimum':
        if (typeof value === 'number' && value <= (rule as number)) errors.push(`${path}: not above ${rule}`);
        break;
      case 'maximum':
        if (typeof value === 'number' && value > (rule as number)) errors.push(`${path}: above ${rule}`);
        break;
      case 'minItems':
        if (Array.isArray(value) && value.length < (rule as number)) errors.push(`${path}: too few items`);
        break;
      case 'items':
        if (Array.isArray(value))
          for (const [index, item] of value.entries())
            errors.push(...validate(rule as Schema, item, `${path}.${index}`));
        break;
      case 'required':
        if (isObject(value))
          for (const name of rule as string[])
            if (!(name in value)) errors.push(`${path}: missing required "${name}"`);
        break;
      case 'properties':
        if (isObject(value))
          for (const [name, child] of Object.entries(rule as Record<string, Schema>))
            if (name in value) errors.push(...validate(child, value[name], `${path}.${name}`));
        break;
      case 'additionalProperties':
        if (isObject(value)) {
          const declared = Object.keys((schema['properties'] as Schema | undefined) ?? {});
          for (const [name, child] of Object.entries(value)) {
            if (declared.includes(name)) continue;
            if (rule === false) errors.push(`${path}: unknown property "${name}"`);
            else errors.push(...validate(rule as Schema, child, `${path}.${name}`));
          }
        }
        break;
      case 'propertyNames':
        if (isObject(value))
          for (const name of Object.keys(value))
            errors.push(...validate(rule as Schema, name, `${path}.${name}`));
        break;
      case 'anyOf':
      case 'oneOf': {
        const matches = (rule as Schema[]).filter(
          (option) => validate(option, value, path).length === 0,
        ).length;
        if (keyword === 'anyOf' ? matches === 0 : matches !== 1)
          errors.push(`${path}: ${keyword} matched ${matches} alternatives`);
        break;
      }
      default:
        throw new Error(`the test validator does not understand "${keyword}" at ${path}; teach it`);
    }
  }
  return errors;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasType(value: unknown, type: string): boolean {
  if (type === 'object') return isObject(value);
  if (type === 'array') return Array.isArray(value);
  if (type === 'integer') return Number.isInteger(value);
  return typeof value === type;
}

const schema = generateConfigJsonSchema();
const exampleText = await readFile(exampleConfigPath, 'utf8');
const example = (): Record<string, unknown> & { [section: string]: Record<string, unknown>[] } =>
  parse(exampleText);

function rejectedByLoader(document: unknown): string[] {
  try {
    parseConfig(stringify(document), 'test.yaml', {});
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

describe('config JSON Schema', () => {
  it('the committed config/odock.schema.json is what the generator produces', async () => {
    const committed = await readFile(configSchemaPath, 'utf8');
    assert.equal(
      committed,
      renderConfigJsonSchema(),
      'config/odock.schema.json is stale: run `npm run config:schema`',
    );
  });

  it('names itself and keeps the field descriptions', () => {
    assert.equal(schema['$schema'], 'https://json-schema.org/draft/2020-12/schema');
    assert.equal(schema['$id'], 'urn:odock-server:config');
    assert.equal(typeof schema['title'], 'string');
    assert.match(renderConfigJsonSchema(), /"description": "the model name clients send in `model`"/);
    assert.ok(renderConfigJsonSchema().endsWith('}\n'));
  });

  it('the shipped example is valid for both the JSON Schema and the loader', () => {
    assert.deepEqual(validate(schema, example()), []);
    assert.deepEqual(rejectedByLoader(example()), []);
  });

  it('accepts the "*" grant, builtin-mock, string prices and a key taken from the environment', () => {
    const document = example();
    document['api_keys']!.push({ id: 'ops', organization: 'demo', secret_env: 'OPS_KEY', models: ['*'] });
    document['models']![0]!['pricing'] = { input: '0.000000001', output: 15.5 };
    assert.deepEqual(validate(schema, document), []);
    assert.deepEqual(rejectedByLoader(document), []);
  });

  const invalid: { name: string; change: (document: ReturnType<typeof example>) => void; expect: RegExp }[] =
    [
      {
        name: 'a model without upstream_model (required)',
        change: (document) => delete document['models']![0]!['upstream_model'],
        expect: /models\.0: missing required "upstream_model"/,
      },
      {
        name: 'an unknown provider type (enum)',
        change: (document) => (document['providers']![0]!['type'] = 'azure'),
        expect: /providers\.0\.type: not one of/,
      },
      {
        name: 'an unknown top-level section (additionalProperties)',
        change: (document) => (document['routes'] = []),
        expect: /\(root\): unknown property "routes"/,
      },
      {
        name: 'an unknown field in a model (additionalProperties)',
        change: (document) => (document['models']![1]!['temperature'] = 0.2),
        expect: /models\.1: unknown property "temperature"/,
      },
      {
        name: 'an unknown pricing class (propertyNames)',
        change: (document) => (document['models']![0]!['pricing'] = { prompt: 1 }),
        expect: /models\.0\.pricing\.prompt: not one of/,
      },
      {
        name: 'a negative price (minimum)',
        change: (document) => (document['models']![0]!['pricing'] = { input: -1 }),
        expect: /models\.0\.pricing\.input: anyOf matched 0/,
      },
      {
        name: 'a key with both secret_sha256 and secret_env (oneOf)',
        change: (document) => (document['api_keys']![0]!['secret_env'] = 'DEMO_KEY'),
        expect: /api_keys\.0: oneOf matched 2/,
      },
      {
        name: 'a key with neither secret (oneOf)',
        change: (document) => delete document['api_keys']![0]!['secret_sha256'],
        expect: /api_keys\.0: oneOf matched 0/,
      },
      {
        name: 'a key granting no model (minItems)',
        change: (document) => (document['api_keys']![0]!['models'] = []),
        expect: /api_keys\.0\.models: too few items/,
      },
      {
        name: 'a zero timeout (exclusiveMinimum)',
        change: (document) => (document['models']![0]!['timeout_ms'] = 0),
        expect: /models\.0\.timeout_ms: not above 0/,
      },
    ];
  for (const { name, change, expect } of invalid) {
    it(`rejects ${name}, as the loader does`, () => {
      const document = example();
      change(document);
      const errors = validate(schema, document);
      assert.ok(
        errors.some((error) => expect.test(error)),
        `JSON Schema errors: ${JSON.stringify(errors)}`,
      );
      assert.notDeepEqual(rejectedByLoader(document), [], 'the loader accepted it');
    });
  }

  it('the test validator refuses keywords it does not know, so it cannot pass vacuously', () => {
    assert.throws(() => validate({ maxLength: 3 }, 'abcd'), /does not understand "maxLength"/);
  });
});

describe('docs/configuration.md', () => {
  it('describes every field of every section and every pricing class', async () => {
    const documentation = await readFile(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const sections = schema['properties'] as Record<
      string,
      { items: { properties: Record<string, unknown> } }
    >;
    const missing: string[] = [];
    for (const [section, definition] of Object.entries(sections)) {
      if (!documentation.includes(`### \`${section}\``)) missing.push(`section ${section}`);
      for (const field of Object.keys(definition.items.properties))
        if (!documentation.includes(`| \`${field}\` |`)) missing.push(`${section}.${field}`);
    }
    for (const tokenClass of tokenPriceClasses)
      if (!documentation.includes(`| \`${tokenClass}\` |`)) missing.push(`pricing.${tokenClass}`);
    assert.deepEqual(missing, [], 'fields without a table row in docs/configuration.md');
  });
});

describe('runConfigCli', () => {
  const capture = () => {
    const streams = { stdout: '', stderr: '' };
    return {
      streams,
      io: {
        stdout: (text: string) => {
          streams.stdout += text;
        },
        stderr: (text: string) => {
          streams.stderr += text;
        },
        env: {},
      },
    };
  };

  it('config schema prints the generated schema', async () => {
    const { streams, io } = capture();
    assert.equal(await runConfigCli(['config', 'schema'], io), 0);
    assert.equal(streams.stdout, renderConfigJsonSchema());
  });

  it('config schema --write writes the file', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'odock-schema-'));
    try {
      const schemaPath = join(directory, 'odock.schema.json');
      const { io } = capture();
      assert.equal(await runConfigCli(['schema', '--write'], { ...io, schemaPath }), 0);
      assert.equal(await readFile(schemaPath, 'utf8'), renderConfigJsonSchema());
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('config check summarises a valid file and notes unset provider credentials', async () => {
    const { streams, io } = capture();
    assert.equal(
      await runConfigCli(['check', exampleConfigPath], { ...io, env: { OPENAI_API_KEY: 'sk-test' } }),
      0,
    );
    assert.match(
      streams.stdout,
      /^ok: .*odock\.example\.yaml: 1 organization, 1 team, 0 users, 5 providers, 7 models, 1 api key\n/,
    );
    assert.match(streams.stdout, /ANTHROPIC_API_KEY is unset/);
    assert.doesNotMatch(streams.stdout, /OPENAI_API_KEY is unset/);
  });

  it('config check defaults to $ODOCK_CONFIG', async () => {
    const { streams, io } = capture();
    assert.equal(
      await runConfigCli(['check'], { ...io, env: { ODOCK_CONFIG: '/nonexistent/odock.yaml' } }),
      1,
    );
    assert.match(
      streams.stderr,
      /invalid configuration in \/nonexistent\/odock\.yaml:\n {2}- cannot read file/,
    );
  });

  it('config check reports every problem and exits 1', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'odock-check-'));
    try {
      const path = join(directory, 'bad.yaml');
      await writeFile(path, 'models:\n  - { name: m, provider: nope, upstream_model: x }\nextra: 1\n');
      const { streams, io } = capture();
      assert.equal(await runConfigCli(['check', path], io), 1);
      assert.equal(streams.stdout, '');
      assert.match(streams.stderr, /- \(root\): Unrecognized key: "extra"/);
      assert.match(streams.stderr, /- models\.0\.provider: unknown provider "nope"/);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('an unknown subcommand or stray argument prints usage and exits 2', async () => {
    for (const argv of [[], ['lint'], ['schema', '--force'], ['check', 'a.yaml', 'b.yaml']]) {
      const { streams, io } = capture();
      assert.equal(await runConfigCli(argv, io), 2, argv.join(' '));
      assert.match(streams.stderr, /^usage:/);
    }
  });
});
