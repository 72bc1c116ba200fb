/**
 * The handshake counters the benchmark records per measurement (bench/machine.ts): read from
 * /proc/net/netstat by name, since the kernel's column order is not fixed, and moved by a real
 * listen-queue overflow.
 */
import assert from 'node:assert/strict';
import { createConnection, createServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { handshakeCounters, parseHandshakeCounters } from '../bench/machine.ts';

const netstat = [
  'TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops TCPSynRetrans',
  'TcpExt: 0 0 183 183 7',
  'IpExt: InNoRoutes InTruncatedPkts',
  'IpExt: 0 0',
  '',
].join('\n');

describe('handshake counters', () => {
  it('reads ListenOverflows and TCPSynRetrans by name from the TcpExt lines', () => {
    assert.deepEqual(parseHandshakeCounters(netstat), { listenOverflows: 183, synRetransmits: 7 });
  });

  it('refuses a file without the counters instead of reading zero', () => {
    assert.throws(
      () => parseHandshakeCounters(netstat.replace('TCPSynRetrans', 'TCPOther')),
      /no TcpExt TCPSynRetrans counter/,
    );
    assert.throws(() => parseHandshakeCounters('IpExt: A\nIpExt: 1\n'), /no TcpExt ListenOverflows counter/);
  });

  it('counts a connection the listener had no room for', async () => {
    // A listener with a backlog of 1, and 16 connections opened in one synchronous burst: on
    // loopback each handshake completes inside its connect call, before the event loop can
    // accept any, so past the first two the kernel has no room and counts an overflow.
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, resolve));
    const { port } = server.address() as { port: number };
    const before = await handshakeCounters();
    const sockets: Socket[] = [];
    for (let index = 0; index < 16; index += 1)
      sockets.push(createConnection({ host: '127.0.0.1', port }).on('error', () => {}));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const after = await handshakeCounters();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
    assert.ok(
      after.listenOverflows > before.listenOverflows,
      `overflows ${before.listenOverflows} -> ${after.listenOverflows}`,
    );
  });
});
