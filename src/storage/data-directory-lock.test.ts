import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DataDirectoryLockedError, lockDataDirectory } from './data-directory-lock.ts';

describe('lockDataDirectory', async () => {
  const root = await mkdtemp(join(tmpdir(), 'odock-lock-'));
  after(() => rm(root, { recursive: true, force: true }));

  it('is exclusive until released, then can be taken again', async () => {
    const directory = join(root, 'exclusive');
    const release = await lockDataDirectory(directory);
    assert.equal(await readFile(`${directory}.lock`, 'utf8'), `${process.pid}\n`);
    await assert.rejects(lockDataDirectory(directory), DataDirectoryLockedError);
    await release();
    await release();
    await assert.rejects(stat(`${directory}.lock`), { code: 'ENOENT' });
    await (await lockDataDirectory(directory))();
  });

  it('refuses a directory locked by another live process', async () => {
    const directory = join(root, 'parent-owned');
    // The parent of the test process is alive for as long as the test runs.
    await writeFile(`${directory}.lock`, `${process.ppid}\n`);
    await assert.rejects(lockDataDirectory(directory), (error: unknown) => {
      assert.ok(error instanceof DataDirectoryLockedError);
      assert.equal(error.ownerPid, process.ppid);
      return true;
    });
  });

  it('takes over the stale lock of a process that is gone, or of a previous run with our pid', async () => {
    const exited = spawnSync(process.execPath, ['-e', '']).pid;
    for (const [name, content] of [
      ['dead-owner', `${exited}\n`],
      ['own-pid', `${process.pid}\n`],
      ['garbage', 'not a pid'],
    ] as const) {
      const directory = join(root, name);
      await writeFile(`${directory}.lock`, content);
      const release = await lockDataDirectory(directory);
      assert.equal(await readFile(`${directory}.lock`, 'utf8'), `${process.pid}\n`);
      await release();
    }
  });
});
