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
import { Agent, type Dispatcher } from 'undici';
import { listen, type ProxyOptions, readWholeBody, runProxy } from './http-server.ts';

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

export function startBareProxy(options: ProxyOptions) {
  // The keep-alive settings of src/upstream/upstream-client.ts, but no cap on connections per
  // origin: the ceiling has no artificial limit (the gateway's 256 queues the 257th stream).
  const agent = new Agent({
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    pipelining: 1,
  });

  // `Agent.dispatch` with a handler that writes each chunk straight to the client, as the
  // gateway's upstream client does (src/upstream/upstream-client.ts): no Readable per answer.
  const relay = (request: IncomingMessage, response: ServerResponse, body: Buffer | null): void => {
    const named = request.headers[upstreamHeader];
    const origin = typeof named === 'string' ? named : options.upstream;
    if (origin === undefined) {
      response.writeHead(400).end('no upstream');
      return;
    }
    let controller: Dispatcher.DispatchController | null = null;
    response.once('close', () => {
      if (!response.writableFinished) controller?.abort(new Error('the client went away'));
    });
    agent.dispatch(
      {
        origin,
        path: request.url ?? '/',
        method: request.method as 'POST',
        headers: forwardable(request.headers),
        body,
      },
      {
        onRequestStart(started) {
          controller = started;
        },
        onResponseStart(_controller, statusCode, headers) {
          if (statusCode >= 200) response.writeHead(statusCode, forwardable(headers));
        },
        onResponseData(started, chunk) {
          if (!response.write(chunk)) {
            started.pause();
            response.once('drain', () => started.resume());
          }
        },
        onResponseEnd() {
          response.end();
        },
        onResponseError() {
          if (!response.headersSent) response.writeHead(502).end();
          else response.destroy();
        },
      },
    );
  };

  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (request, response) =>
    readWholeBody(request, (body) => relay(request, response, body.length === 0 ? null : body)),
  );
  return listen(server, options.host, options.port).then((url) => ({
    url,
    close: async () => {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
      await agent.close();
    },
  }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runProxy('bare proxy', startBareProxy);
