/**
 * The pieces the benchmark's own servers share (the bare proxy, the floor proxy, the OTLP
 * receiver): reading a whole request body, listening, and stopping on a signal.
 */
import type { IncomingMessage, Server } from 'node:http';
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
