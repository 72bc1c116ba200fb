/**
 * The benchmark's baseline (a): a reverse proxy on the gateway's own HTTP stack (`node:http`
 * server, one undici `Agent` upstream) with no gateway logic at all, so the practical ceiling
 * of that stack on this machine. It forwards method, path, headers (minus hop-by-hop ones) and
 * body to the origin named by `x-upstream` (or `--upstream`), and relays status, headers and
 * body chunk by chunk, so SSE streams pass through as they arrive.
 *
 *   node bench/bare-proxy.ts --port 18200 [--upstream http://127.0.0.1:18101]
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent } from 'undici';

export const upstreamHeader = 'x-upstream';

// RFC 9110 section 7.6.1: connection-specific fields are not forwarded; undici refuses them anyway.
const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
  upstreamHeader,
]);

function forwardable(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const result: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined && !hopByHop.has(name)) result[name] = value;
  }
  return result;
}

export interface BareProxyOptions {
  host: string;
  port: number;
  /** Origin used when a request names none in `x-upstream`. */
  upstream: string | undefined;
}

export function startBareProxy(options: BareProxyOptions) {
  // The keep-alive settings of src/upstream/upstream-client.ts, but no cap on connections per
  // origin: the ceiling has no artificial limit (the gateway's 256 queues the 257th stream).
  const agent = new Agent({
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    pipelining: 1,
  });

  const relay = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const named = request.headers[upstreamHeader];
    const origin = typeof named === 'string' ? named : options.upstream;
    if (origin === undefined) {
      response.writeHead(400).end('no upstream');
      request.resume();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
    const upstream = await agent.request({
      origin,
      path: request.url ?? '/',
      method: request.method as 'POST',
      headers: forwardable(request.headers),
      body: chunks.length === 0 ? null : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks),
    });
    response.writeHead(upstream.statusCode, forwardable(upstream.headers));
    for await (const chunk of upstream.body as AsyncIterable<Buffer>) {
      if (!response.write(chunk)) await new Promise((resolve) => response.once('drain', resolve));
    }
    response.end();
  };

  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (request, response) => {
    relay(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(502).end();
      else response.destroy();
    });
  });
  return new Promise<{ url: string; close: () => Promise<void> }>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : options.port;
      resolve({
        url: `http://${options.host}:${port}`,
        close: async () => {
          server.closeAllConnections();
          await new Promise((done) => server.close(done));
          await agent.close();
        },
      });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      upstream: { type: 'string' },
    },
  });
  const proxy = await startBareProxy({
    host: values.host,
    port: Number(values.port),
    upstream: values.upstream,
  });
  process.stdout.write(`bare proxy listening on ${proxy.url}\n`);
  const stop = () => {
    proxy.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
