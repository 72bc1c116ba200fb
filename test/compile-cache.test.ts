/**
 * The compile cache (bin/odock-server.js, `odock-server prepare`): with it warm, a gateway start
 * strips no TypeScript, so Node never loads its TypeScript compiler (about 18 MiB of resident
 * memory for the process's whole life). Observed from inside each process: a preloaded script
 * reports at exit whether Node's TypeScript compiler module was ever loaded.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startServeProcess } from './helpers/serve-process.ts';

const bin = new URL('../bin/odock-server.js', import.meta.url).pathname;
const marker = /typescript-compiler-loaded: (true|false)/;

describe('the compile cache', () => {
  let directory: string;
  let probe: string;
  let env: Record<string, string>;

  before(async () => {
    directory = await mkdtemp(join(os.tmpdir(), 'odock-compile-cache-'));
    probe = join(directory, 'probe.cjs');
    await writeFile(
      probe,
      "process.on('exit', () => process.stderr.write('typescript-compiler-loaded: ' + process.moduleLoadList.some((name) => name.includes('amaro')) + '\\n'));\n",
    );
    env = { ...process.env, NODE_COMPILE_CACHE: join(directory, 'cache') } as Record<string, string>;
    delete env.NODE_DISABLE_COMPILE_CACHE;
  });
  after(() => rm(directory, { recursive: true, force: true }));

  const prepare = (extra: Record<string, string> = {}) =>
    spawnSync(process.execPath, ['--require', probe, bin, 'prepare'], {
      env: { ...env, ...extra },
      encoding: 'utf8',
      timeout: 60_000,
    });

  test('prepare fills it; the next process loads no TypeScript compiler', async () => {
    const cold = prepare();
    assert.equal(cold.status, 0, cold.stderr);
    assert.match(cold.stdout, new RegExp(`compile cache ready in ${join(directory, 'cache')}`));
    assert.equal(marker.exec(cold.stderr)?.[1], 'true', 'a cold cache strips the sources');
    assert.ok((await readdir(join(directory, 'cache'))).length > 0);

    const warm = prepare();
    assert.equal(warm.status, 0, warm.stderr);
    assert.equal(marker.exec(warm.stderr)?.[1], 'false', 'a warm cache strips nothing');
  });

  test('a gateway started through the bin on a warm cache serves without the compiler', async () => {
    const data = await mkdtemp(join(directory, 'data-'));
    const gateway = await startServeProcess(
      { NODE_COMPILE_CACHE: env.NODE_COMPILE_CACHE!, ODOCK_DATA_DIR: data },
      { viaBin: true, nodeArgs: ['--require', probe] },
    );
    const health = await fetch(`${gateway.url}/healthz`);
    assert.equal(health.status, 200);
    gateway.child.kill('SIGTERM');
    await once(gateway.child, 'exit');
    assert.equal(marker.exec(gateway.output())?.[1], 'false', gateway.output().slice(-2_000));
  });

  test('prepare says so when the cache is disabled', () => {
    const disabled = prepare({ NODE_DISABLE_COMPILE_CACHE: '1' });
    assert.equal(disabled.status, 1);
    assert.match(
      disabled.stderr,
      /prepare: the compile cache could not be enabled: .*NODE_DISABLE_COMPILE_CACHE/,
    );
  });
});
