/**
 * The pieces the benchmark's own servers share (the bare, floor and raw-socket proxies, the
 * OTLP receiver): reading a whole request body, listening, stopping on a signal, and a proxy's
 * command line.
 */
import type { IncomingMessage } from 'node:http';
import type { Server } from 'node:net';
import { parseArgs } from 'node:util';
import { defaultListenBacklog } from '../src/http/listen-backlog.ts';

/** Calls `onBody` with the request's whole body (empty when it has none), the one chunk without a copy. */
export function readWholeBody(request: IncomingMessage, onBody: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => onBody(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
}

/**
 * Listens on `host:port` (0: a free port) and resolves to the server's URL. The backlog is the
 * gateway's default (`ODOCK_LISTEN_BACKLOG`), so the bare and floor proxies queue a burst of new
 * connections as the gateway does.
 */
export function listen(server: Server, host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: defaultListenBacklog }, () => {
      const address = server.address();
      resolve(`http://${host}:${typeof address === 'object' && address !== null ? address.port : port}`);
    });
  });
}

/** A server run as a program: `close` on SIGTERM or SIGINT, then exit. */
export function closeOnSignals(close: () => Promise<void>): void {
  const stop = () => {
    close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

/** Where a proxy of the benchmark listens, and where it sends a request that names no origin. */
export interface ProxyOptions {
  host: string;
  port: number;
  /** Origin used when a request names none in `x-upstream`. */
  upstream: string | undefined;
}

/**
 * A proxy run as a program (`--host`, `--port`, `--upstream`): started, its URL printed as
 * "NAME listening on URL", closed on a signal.
 */
export async function runProxy(
  name: string,
  start: (options: ProxyOptions) => Promise<{ url: string; close: () => Promise<void> }>,
): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      upstream: { type: 'string' },
    },
  });
  const proxy = await start({ host: values.host, port: Number(values.port), upstream: values.upstream });
  process.stdout.write(`${name} listening on ${proxy.url}\n`);
  closeOnSignals(proxy.close);
}
