/**
 * The PostgreSQL adapter against a scripted server speaking just enough of the wire protocol:
 * a backend terminated in the very read that brings its start-up greeting (a failover, an
 * administrator's pg_terminate_backend) fails the statement that wanted the connection; it
 * does not crash the process with an 'error' event nobody listens to.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { openPostgresDatabase } from './postgres-database.ts';

/** One protocol message: type byte, Int32 length (itself included), body. */
function message(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

const authenticationOk = message('R', Buffer.from([0, 0, 0, 0]));
const readyForQuery = message('Z', Buffer.from('I'));
const emptyQuery = message('I');
function errorResponse(severity: string, code: string, text: string): Buffer {
  const fields = [`S${severity}`, `V${severity}`, `C${code}`, `M${text}`].map((field) => `${field}\0`);
  return message('E', Buffer.from(`${fields.join('')}\0`));
}

test('a backend terminated as it starts fails the statement, not the process', async () => {
  let connections = 0;
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    connections += 1;
    const first = connections === 1;
    let startedUp = false;
    let statements = 0;
    socket.on('data', () => {
      if (!startedUp) {
        startedUp = true;
        if (first) socket.write(Buffer.concat([authenticationOk, readyForQuery]));
        else {
          // The greeting and the termination in ONE write, so the client reads them together.
          socket.end(
            Buffer.concat([
              authenticationOk,
              readyForQuery,
              errorResponse('FATAL', '57P01', 'terminating connection due to administrator command'),
            ]),
          );
        }
        return;
      }
      // The first connection answers the adapter's SELECT 1 with an empty result, and refuses
      // what comes after (the COPY) as a missing table.
      statements += 1;
      socket.write(
        Buffer.concat([
          statements === 1 ? emptyQuery : errorResponse('ERROR', '42P01', 'no such table'),
          readyForQuery,
        ]),
      );
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const errors: Error[] = [];
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);
  process.prependListener('uncaughtException', onUncaught);
  const database = await openPostgresDatabase({
    connectionString: `postgres://odock@127.0.0.1:${port}/odock`,
    max: 2,
    onError: (error) => errors.push(error),
  });
  try {
    // Two at once: the first takes the pooled connection, the second makes the new one.
    const results = await Promise.allSettled([
      database.copyFrom('usage_records (id)', 'x\n'),
      database.copyFrom('usage_records (id)', 'y\n'),
    ]);
    assert.equal(connections, 2, 'the second write opened a connection');
    assert.deepEqual(
      results.map((result) => result.status),
      ['rejected', 'rejected'],
    );
    assert.deepEqual(uncaught, [], 'no error escaped to the process');
    assert.ok(
      errors.some((error) => (error as { code?: string }).code === '57P01'),
      `the termination is reported (${errors.map((error) => error.message).join('; ')})`,
    );
  } finally {
    process.removeListener('uncaughtException', onUncaught);
    for (const socket of sockets) socket.destroy();
    await database.close().catch(() => {});
    server.close();
  }
});
