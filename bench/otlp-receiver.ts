/**
 * A stand-in OTel Collector for the benchmark: accepts OTLP/HTTP exports (`/v1/traces`,
 * `/v1/metrics`, `/v1/logs`, JSON or protobuf), counts them and throws them away, and answers
 * `GET /stats` with the counts, so the harness can tell whether the gateway exported anything.
 * Spans are counted in JSON payloads only (without decoding them); protobuf payloads are counted
 * by request and byte.
 *
 *   node bench/otlp-receiver.ts --port 18110
 */
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { closeOnSignals, listen, readWholeBody } from './http-server.ts';

export interface OtlpSignalCount {
  requests: number;
  bytes: number;
  /** Spans (traces) or data points are not decoded: only JSON trace payloads are counted. */
  spans: number;
}

export type OtlpStats = Record<'traces' | 'metrics' | 'logs' | 'other', OtlpSignalCount>;

const spanIdKey = Buffer.from('"spanId":');

/**
 * Spans in an OTLP/JSON trace payload, counted by scanning the bytes for `"spanId":` (the key
 * of every span; a span link has one too, and the gateway makes no links) rather than decoding
 * it. The receiver shares its core with the load generator and the mock upstreams: decoding a
 * 512-span batch (about 250 KB) costs milliseconds of that core, the scan a small fraction of it.
 * The count is the same (553-554 bytes per span in a full run decoded and a smoke run scanned).
 */
function countSpans(body: Buffer): number {
  let spans = 0;
  for (let at = body.indexOf(spanIdKey); at !== -1; at = body.indexOf(spanIdKey, at + spanIdKey.length))
    spans += 1;
  return spans;
}

export function startOtlpReceiver(options: { host: string; port: number }) {
  const empty = (): OtlpSignalCount => ({ requests: 0, bytes: 0, spans: 0 });
  const stats: OtlpStats = { traces: empty(), metrics: empty(), logs: empty(), other: empty() };
  const server = createServer((request, response) => {
    if (request.method === 'GET' && request.url === '/stats') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
      return;
    }
    const signal =
      request.url === '/v1/traces'
        ? 'traces'
        : request.url === '/v1/metrics'
          ? 'metrics'
          : request.url === '/v1/logs'
            ? 'logs'
            : 'other';
    readWholeBody(request, (body) => {
      const count = stats[signal];
      count.requests += 1;
      count.bytes += body.length;
      const json = (request.headers['content-type'] ?? '').includes('json');
      if (signal === 'traces' && json) count.spans += countSpans(body);
      // An empty Export*ServiceResponse: `{}` in JSON, zero bytes in protobuf (OTLP/HTTP spec).
      response.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      response.end(json ? '{}' : undefined);
    });
  });
  return listen(server, options.host, options.port).then((url) => ({
    url,
    close: async () => {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    },
  }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '0' } },
  });
  const receiver = await startOtlpReceiver({ host: values.host, port: Number(values.port) });
  process.stdout.write(`otlp receiver listening on ${receiver.url}\n`);
  closeOnSignals(receiver.close);
}
