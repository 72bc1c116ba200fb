/**
 * The listen backlog (`ODOCK_LISTEN_BACKLOG`): the connections the kernel holds for the gateway
 * while its event loop is busy. Past it the kernel drops the handshake and the client tries
 * again a second later, so a burst of new connections during a pause of the loop becomes a
 * second of latency for the ones past the backlog.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { ConfigError } from '../src/config/load.ts';
import { loadSettings } from '../src/settings.ts';
import { startTestGateway } from './helpers/gateway-harness.ts';

const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));

/** The backlog of the listening socket on `port`, as the kernel reports it (`ss`: Send-Q of a LISTEN socket). */
function listenBacklog(port: number): number {
  const line = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' }).trim();
  return Number(line.split(/\s+/)[2]);
}

/**
 * Opens `count` connections while the event loop is held for `stallMs` (nothing is accepted
 * meanwhile), and answers how many of them were established within `withinMs` of the start.
 */
async function burstDuringStall(port: number, count: number, stallMs: number, withinMs: number) {
  const started = performance.now();
  const sockets: Socket[] = [];
  const times: number[] = [];
  for (let index = 0; index < count; index += 1) {
    const socket = connect(port, '127.0.0.1');
    socket.on('connect', () => times.push(performance.now() - started));
    socket.on('error', () => {});
    sockets.push(socket);
  }
  // The connect calls are made when the sockets are (the kernel sends the SYNs now); the loop
  // is then held, as a long collection or a slow handler would hold the gateway's.
  while (performance.now() - started < stallMs);
  await new Promise((resolve) => setTimeout(resolve, withinMs - stallMs));
  const early = times.filter((time) => time <= withinMs).length;
  for (const socket of sockets) socket.destroy();
  return early;
}

describe('ODOCK_LISTEN_BACKLOG', () => {
  it('defaults to 4096 and refuses a value that is not a positive integer, naming the variable', () => {
    assert.equal(loadSettings({}).listenBacklog, 4096);
    assert.equal(loadSettings({ ODOCK_LISTEN_BACKLOG: '1024' }).listenBacklog, 1024);
    for (const value of ['0', '-5', '12.5', 'many'])
      assert.throws(
        () => loadSettings({ ODOCK_LISTEN_BACKLOG: value }),
        (error: unknown) => error instanceof ConfigError && error.message.includes('ODOCK_LISTEN_BACKLOG'),
        value,
      );
  });

  it('is the backlog of the socket the gateway listens on (the kernel caps it at somaxconn)', async () => {
    for (const [env, expected] of [
      [{}, Math.min(4096, somaxconn)],
      [{ ODOCK_LISTEN_BACKLOG: '777' }, Math.min(777, somaxconn)],
    ] as const) {
      const harness = await startTestGateway({ env });
      try {
        assert.equal(listenBacklog(Number(new URL(harness.url).port)), expected);
      } finally {
        await harness.close();
      }
    }
  });

  it('holds a burst of connections that arrives while the event loop is busy, up to the backlog', async () => {
    // 200 connections during a 300 ms pause: a backlog of 256 holds them all; with 16 the
    // kernel drops the handshakes past it and those clients retry a second later.
    const results: Record<string, number> = {};
    for (const backlog of ['256', '16']) {
      const harness = await startTestGateway({ env: { ODOCK_LISTEN_BACKLOG: backlog } });
      try {
        results[backlog] = await burstDuringStall(Number(new URL(harness.url).port), 200, 300, 700);
      } finally {
        await harness.close();
      }
    }
    assert.equal(results['256'], 200, 'every connection established without a retry');
    assert.ok(
      results['16']! < 100,
      `past a backlog of 16 the handshakes wait for a retry (${results['16']} early)`,
    );
  });
});
