/**
 * An exclusive lock on a PGlite data directory. PGlite has no postmaster to refuse a second
 * process: two processes opening one directory (a running server and `odock-server keys
 * create`, say) each run their own Postgres over the same files and silently lose each other's
 * writes. The lock is a sibling file `<dir>.lock` holding the owner's pid.
 *
 * A lock whose owner is gone (crash, kill -9) is stale and taken over. Liveness is checked by
 * pid, so it protects processes of one host and pid namespace; containers sharing a volume
 * across pid namespaces are not detected.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';

export class DataDirectoryLockedError extends Error {
  readonly ownerPid: number;
  constructor(directory: string, ownerPid: number) {
    super(
      `the data directory ${directory} is in use by process ${ownerPid}; stop it first, or set DATABASE_URL ` +
        'to share a PostgreSQL between processes',
    );
    this.name = 'DataDirectoryLockedError';
    this.ownerPid = ownerPid;
  }
}

/** Lock files this process holds: its own pid in a lock file is otherwise a previous incarnation. */
const heldLocks = new Set<string>();

/** Takes the lock or throws DataDirectoryLockedError; resolves to the function releasing it. */
export async function lockDataDirectory(directory: string): Promise<() => Promise<void>> {
  const absolute = resolve(directory);
  const lockPath = `${absolute}.lock`;
  if (heldLocks.has(lockPath)) throw new DataDirectoryLockedError(absolute, process.pid);
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      // 'wx' fails when the file exists: creation is the atomic test-and-set.
      await writeFile(lockPath, `${process.pid}\n`, { flag: 'wx' });
      heldLocks.add(lockPath);
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        heldLocks.delete(lockPath);
        await rm(lockPath, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
    // In a container the server is often pid 1 on every start, so our own pid in the file
    // (not held by us, checked above) is a crashed previous run, not a live owner.
    if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
      throw new DataDirectoryLockedError(absolute, owner);
    }
    await rm(lockPath, { force: true });
  }
  throw new Error(`could not lock the data directory ${absolute}: its lock file keeps reappearing`);
}

function isAlive(pid: number): boolean {
  try {
    // Signal 0 checks existence without delivering anything.
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
