/**
 * The gateway image (Dockerfile, .dockerignore). No Docker engine runs here, so the build is
 * proven by reading: a multi-stage build on an exact Node 24 image, production dependencies only,
 * an unprivileged user, a healthcheck on /readyz, a compile cache filled at build, and, following
 * the imports from the entry point (bin/odock-server.js), every module the gateway loads is
 * inside what the build context sends and the Dockerfile copies, and every package it imports is
 * a production dependency.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { gatewayNodeFlags } from '../../src/node-flags.ts';
import { readText, repositoryPath, repositoryRoot } from './stack-files.ts';

interface Instruction {
  readonly keyword: string;
  readonly argument: string;
}

function dockerfileInstructions(): Instruction[] {
  const logical = readText('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  return logical.map((line) => {
    const [keyword = '', ...rest] = line.split(/\s+/);
    return { keyword: keyword.toUpperCase(), argument: rest.join(' ') };
  });
}

/** .dockerignore patterns as regular expressions over paths relative to the context root. */
function dockerignorePatterns(): RegExp[] {
  return readText('.dockerignore')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#') && !line.startsWith('!'))
    .map((pattern) => {
      const source = pattern
        .replace(/^\/+|\/+$/g, '')
        .split('**/')
        .map((part) =>
          part
            .replace(/[.+^${}()|[\]\\]/g, '\\$&')
            .replace(/\*/g, '[^/]*')
            .replace(/\?/g, '[^/]'),
        )
        .join('(?:.*/)?');
      return new RegExp(`^${source}$`);
    });
}

/** Whether the build context leaves this path out (the path itself or one of its directories). */
function ignored(path: string, patterns: readonly RegExp[]): boolean {
  const segments = path.split('/');
  for (let length = 1; length <= segments.length; length++) {
    const prefix = segments.slice(0, length).join('/');
    if (patterns.some((pattern) => pattern.test(prefix))) return true;
  }
  return false;
}

const instructions = dockerfileInstructions();
const stages = instructions.filter((instruction) => instruction.keyword === 'FROM');
const finalStage = instructions.slice(instructions.lastIndexOf(stages.at(-1)!));
const lastOf = (keyword: string) =>
  finalStage.filter((instruction) => instruction.keyword === keyword).at(-1);

describe('Dockerfile', () => {
  test('builds in several stages from an exact Node 24 image', () => {
    assert.ok(stages.length >= 2, 'multi-stage');
    const nodeImage = instructions.find((instruction) => instruction.argument.startsWith('NODE_IMAGE='));
    assert.match(nodeImage?.argument ?? '', /^NODE_IMAGE=node:24\.\d+\.\d+-[a-z0-9.]+$/);
    for (const stage of stages) assert.match(stage.argument, /^\$\{NODE_IMAGE\} AS [a-z-]+$/);
    const engines = JSON.parse(readText('package.json')).engines.node as string;
    assert.match(engines, /^>=2[2-4]\./, 'the image Node satisfies package.json engines');
  });

  test('installs production dependencies only, from the lockfile', () => {
    const install = instructions.find((instruction) => instruction.argument.includes('npm ci'));
    assert.match(install?.argument ?? '', /npm ci --omit=dev/);
  });

  test('runs as an unprivileged user', () => {
    const user = lastOf('USER')?.argument;
    assert.ok(user && !['root', '0', '0:0'].includes(user), `USER ${user}`);
    const userIndex = finalStage.indexOf(lastOf('USER')!);
    assert.ok(userIndex < finalStage.indexOf(lastOf('ENTRYPOINT')!), 'USER comes before ENTRYPOINT');
  });

  test('listens on all interfaces on the port its healthcheck probes, /readyz', () => {
    const environment = finalStage
      .filter((instruction) => instruction.keyword === 'ENV')
      .map((instruction) => instruction.argument)
      .join(' ');
    assert.match(environment, /HOST=0\.0\.0\.0/);
    const port = /PORT=(\d+)/.exec(environment)?.[1];
    assert.equal(port, '8080');
    const healthcheck = lastOf('HEALTHCHECK')?.argument ?? '';
    assert.match(healthcheck, new RegExp(`http://127\\.0\\.0\\.1:${port}/readyz`));
    assert.match(lastOf('EXPOSE')?.argument ?? '', new RegExp(`^${port}$`));
  });

  test('starts `node <gateway Node flags> bin/odock-server.js serve`, as `npm start` does', () => {
    assert.deepEqual(JSON.parse(lastOf('ENTRYPOINT')!.argument), [
      'node',
      ...gatewayNodeFlags,
      'bin/odock-server.js',
    ]);
    assert.deepEqual(JSON.parse(lastOf('CMD')!.argument), ['serve']);
    const manifest = JSON.parse(readText('package.json'));
    assert.equal(
      manifest.scripts.start,
      ['node', ...gatewayNodeFlags, 'bin/odock-server.js', 'serve'].join(' '),
    );
  });

  test('fills the compile cache at build, as the runtime user, in a directory that user owns', () => {
    const finalStage = instructions.slice(
      instructions.findLastIndex((instruction) => instruction.keyword === 'FROM'),
    );
    const environment = finalStage
      .filter((instruction) => instruction.keyword === 'ENV')
      .map((instruction) => instruction.argument)
      .join(' ');
    const cacheDirectory = /NODE_COMPILE_CACHE=(\S+)/.exec(environment)?.[1];
    assert.ok(cacheDirectory?.startsWith('/'), 'NODE_COMPILE_CACHE is an absolute path of the image');
    const prepare = finalStage.findIndex(
      (instruction) =>
        instruction.keyword === 'RUN' && instruction.argument === 'node bin/odock-server.js prepare',
    );
    assert.ok(prepare > 0, 'RUN node bin/odock-server.js prepare');
    const user = finalStage.findIndex((instruction) => instruction.keyword === 'USER');
    assert.ok(user >= 0 && user < prepare, 'prepare runs as the user the gateway runs as');
    assert.equal(finalStage[user]!.argument, 'node');
    const lastCopy = finalStage.findLastIndex((instruction) => instruction.keyword === 'COPY');
    assert.ok(lastCopy < prepare, 'prepare runs after every source is copied');
    const owned = finalStage
      .filter((instruction, index) => instruction.keyword === 'RUN' && index < user)
      .flatMap((instruction) => /chown node:node (.+)$/.exec(instruction.argument)?.[1]?.split(/\s+/) ?? []);
    assert.ok(
      owned.some((directory) => cacheDirectory === directory || cacheDirectory!.startsWith(`${directory}/`)),
      `the runtime user owns no directory holding ${cacheDirectory} (chown: ${owned.join(', ')})`,
    );
  });

  test('copies only paths that exist and that the build context sends', () => {
    const patterns = dockerignorePatterns();
    for (const instruction of instructions.filter(
      (i) => i.keyword === 'COPY' && !i.argument.includes('--from'),
    )) {
      const sources = instruction.argument.split(/\s+/).slice(0, -1);
      for (const source of sources) {
        assert.ok(existsSync(repositoryPath(source)), `COPY ${source}: no such path`);
        assert.ok(!ignored(source, patterns), `COPY ${source}: excluded by .dockerignore`);
      }
    }
  });
});

describe('.dockerignore', () => {
  const patterns = dockerignorePatterns();

  test('keeps repository state, secrets and tests out of the context', () => {
    for (const path of ['.git', 'node_modules', '.data', '.env', 'test/lifecycle.test.ts', 'observability'])
      assert.ok(ignored(path, patterns), `${path} reaches the build context`);
    assert.ok(ignored('src/errors.test.ts', patterns), 'unit tests beside the code reach the image');
  });

  test('the gateway loads only modules the image contains, and only production packages', () => {
    const copied = instructions
      .filter((i) => i.keyword === 'COPY' && !i.argument.includes('--from'))
      .flatMap((i) => i.argument.split(/\s+/).slice(0, -1));
    const packageJson = JSON.parse(readText('package.json'));
    const dependencies = new Set(Object.keys(packageJson.dependencies ?? {}));
    const builtins = new Set(builtinModules);
    const visited = new Set<string>();
    const pending = ['bin/odock-server.js'];
    while (pending.length > 0) {
      const file = pending.pop()!;
      if (visited.has(file)) continue;
      visited.add(file);
      assert.ok(
        copied.some((source) => file === source || file.startsWith(`${source.replace(/\/$/, '')}/`)),
        `${file} is not copied into the image`,
      );
      assert.ok(!ignored(file, patterns), `${file} is excluded by .dockerignore but loaded at run time`);
      const text = readFileSync(join(repositoryRoot, file), 'utf8');
      // Type-only imports are erased when Node strips the types: they load nothing.
      const specifiers = [
        ...text.matchAll(/^\s*(?:import|export)\s(?!type\s)(?:[^'";]*?\sfrom\s)?['"]([^'"]+)['"]/gm),
        ...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
      ].map((match) => match[1]!);
      for (const specifier of specifiers) {
        if (specifier.startsWith('.')) {
          const target = relative(repositoryRoot, join(repositoryRoot, dirname(file), specifier));
          assert.ok(existsSync(join(repositoryRoot, target)), `${file} imports missing ${specifier}`);
          pending.push(target);
        } else if (!specifier.startsWith('node:') && !builtins.has(specifier)) {
          const name = specifier.startsWith('@')
            ? specifier.split('/').slice(0, 2).join('/')
            : specifier.split('/')[0]!;
          assert.ok(dependencies.has(name), `${file} imports ${name}, which npm ci --omit=dev leaves out`);
        }
      }
    }
    assert.ok(visited.size > 20, `only ${visited.size} modules reached from bin/odock-server.js`);
  });
});
