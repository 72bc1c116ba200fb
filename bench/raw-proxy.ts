/**
 * The floor under the HTTP stack: a reverse proxy on raw TCP sockets, with no HTTP library on
 * either side. It answers one question of `bench/floor.ts` and `bench/profile.ts --system raw`:
 * what the bare proxy's exchange (the same reads and writes of the same bytes, kept-alive
 * connections on both sides, the upstream named by `x-upstream`) costs without `node:http`'s
 * server and undici's client, so that the share of the bare proxy's CPU that is those two
 * libraries' own work can be told apart from the kernel's.
 *
 * It is a measuring instrument, not an HTTP implementation anything should ship: bodies are
 * framed by Content-Length only, both ways (a request with Transfer-Encoding is answered 501,
 * an answer without a length 502, so the mock's streams cannot pass); one request at a time per
 * client connection (a pipelined request waits for the answer before it); no timeouts; header
 * fields are forwarded as received, without validation beyond the framing.
 *
 *   node bench/raw-proxy.ts --port 18231 [--upstream http://127.0.0.1:18101]
 */
import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { upstreamHeader } from './bare-proxy.ts';
import { listen, type ProxyOptions, runProxy } from './http-server.ts';

/** A whole HTTP/1.1 message: its start line and header lines (latin1) and its body. */
export interface RawMessage {
  startLine: string;
  headerLines: string[];
  body: Buffer;
}

/** A message the framer cannot read, with the status the proxy answers it with. */
export class FramingError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const headEnd = Buffer.from('\r\n\r\n');
const maxHeadBytes = 64 * 1024;

/** Cuts a byte stream into Content-Length-framed messages, one at a time. */
export class MessageFramer {
  #pending: Buffer | undefined;
  readonly #unframedStatus: number;

  /** `unframedStatus`: the answer to a message framed otherwise (501 for requests, 502 for answers). */
  constructor(unframedStatus: number) {
    this.#unframedStatus = unframedStatus;
  }

  push(data: Buffer): void {
    this.#pending = this.#pending === undefined ? data : Buffer.concat([this.#pending, data]);
  }

  /** The next whole message, or `undefined` until more bytes come; a `FramingError` for bad framing. */
  next(): RawMessage | undefined {
    const pending = this.#pending;
    if (pending === undefined) return undefined;
    const end = pending.indexOf(headEnd);
    if (end === -1) {
      if (pending.length > maxHeadBytes) throw new FramingError(431, 'header section over 64 KiB');
      return undefined;
    }
    const lines = pending.toString('latin1', 0, end).split('\r\n');
    const startLine = lines[0]!;
    const headerLines = lines.slice(1);
    let length: number | undefined;
    for (const line of headerLines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      if (name === 'transfer-encoding')
        throw new FramingError(this.#unframedStatus, 'only Content-Length bodies are relayed');
      if (name === 'content-length') {
        const value = line.slice(colon + 1).trim();
        if (!/^\d{1,15}$/.test(value)) throw new FramingError(400, `bad Content-Length: ${value}`);
        length = Number(value);
      }
    }
    if (length === undefined) {
      if (startLine.startsWith('HTTP/'))
        throw new FramingError(this.#unframedStatus, 'an answer without Content-Length');
      length = 0;
    }
    const bodyStart = end + headEnd.length;
    if (pending.length < bodyStart + length) return undefined;
    this.#pending = pending.length === bodyStart + length ? undefined : pending.subarray(bodyStart + length);
    return { startLine, headerLines, body: pending.subarray(bodyStart, bodyStart + length) };
  }
}

// Connection-specific fields (RFC 9110 section 7.6.1) and the proxy's own are not forwarded.
const notForwarded = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade']);
const notForwardedUpstream = new Set([...notForwarded, 'host', upstreamHeader]);

const fieldName = (line: string) => line.slice(0, line.indexOf(':')).toLowerCase();

function serialise(startLine: string, headerLines: readonly string[], body: Buffer): Buffer {
  const head = `${startLine}\r\n${headerLines.map((line) => `${line}\r\n`).join('')}\r\n`;
  return body.length === 0 ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

type Answer = (error: Error | undefined, message?: RawMessage) => void;

/** One kept-alive connection to an origin, carrying one exchange at a time. */
class UpstreamConnection {
  readonly #socket: Socket;
  readonly #framer = new MessageFramer(502);
  #answer: Answer | undefined;

  constructor(
    host: string,
    port: number,
    onIdle: (connection: UpstreamConnection) => void,
    onGone: () => void,
  ) {
    this.#socket = tcpConnect({ host, port, noDelay: true });
    this.#socket.on('data', (data: Buffer) => {
      this.#framer.push(data);
      let message: RawMessage | undefined;
      try {
        message = this.#framer.next();
      } catch (error) {
        this.#socket.destroy(error as Error);
        return;
      }
      if (message === undefined) return;
      const answer = this.#answer;
      this.#answer = undefined;
      onIdle(this);
      answer?.(undefined, message);
    });
    this.#socket.on('error', () => {});
    this.#socket.on('close', () => {
      onGone();
      this.#answer?.(new Error('the upstream connection closed'));
      this.#answer = undefined;
    });
  }

  send(bytes: Buffer, answer: Answer): void {
    this.#answer = answer;
    this.#socket.write(bytes);
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

/** The connections to one origin: idle ones are reused, most recent first. */
class Origin {
  readonly host: string;
  readonly #hostname: string;
  readonly #port: number;
  readonly #idle: UpstreamConnection[] = [];
  readonly #all = new Set<UpstreamConnection>();

  constructor(url: URL) {
    this.host = url.host;
    this.#port = Number(url.port || 80);
    this.#hostname = url.hostname;
  }

  send(bytes: Buffer, answer: Answer): void {
    let connection = this.#idle.pop();
    if (connection === undefined) {
      const made: UpstreamConnection = new UpstreamConnection(
        this.#hostname,
        this.#port,
        (idle) => this.#idle.push(idle),
        () => {
          this.#all.delete(made);
          const index = this.#idle.indexOf(made);
          if (index !== -1) this.#idle.splice(index, 1);
        },
      );
      this.#all.add(made);
      connection = made;
    }
    connection.send(bytes, answer);
  }

  close(): void {
    for (const connection of this.#all) connection.destroy();
  }
}

export function startRawProxy(options: ProxyOptions): Promise<{ url: string; close: () => Promise<void> }> {
  const origins = new Map<string, Origin>();
  const clients = new Set<Socket>();

  const originOf = (name: string): Origin | undefined => {
    let origin = origins.get(name);
    if (origin === undefined) {
      let url: URL;
      try {
        url = new URL(name);
      } catch {
        return undefined;
      }
      if (url.protocol !== 'http:') return undefined;
      origin = new Origin(url);
      origins.set(name, origin);
    }
    return origin;
  };

  const refuse = (client: Socket, status: number, text: string, close: boolean) => {
    const body = Buffer.from(`${text}\n`);
    client.write(
      serialise(
        `HTTP/1.1 ${status} ${status === 502 ? 'Bad Gateway' : 'Refused'}`,
        [
          'content-type: text/plain',
          `content-length: ${body.length}`,
          ...(close ? ['connection: close'] : []),
        ],
        body,
      ),
    );
    if (close) client.end();
  };

  const serve = (client: Socket) => {
    clients.add(client);
    client.on('close', () => clients.delete(client));
    client.on('error', () => {});
    const framer = new MessageFramer(501);
    let busy = false;
    const next = () => {
      let request: RawMessage | undefined;
      try {
        request = framer.next();
      } catch (error) {
        const framing = error as FramingError;
        refuse(client, framing.status, framing.message, true);
        return;
      }
      if (request === undefined) return;
      const [method, target] = request.startLine.split(' ');
      const named = request.headerLines.find((line) => fieldName(line) === upstreamHeader);
      const origin = originOf(
        named === undefined ? (options.upstream ?? '') : named.slice(named.indexOf(':') + 1).trim(),
      );
      if (origin === undefined || method === undefined || target === undefined) {
        refuse(client, 400, 'no upstream', false);
        next();
        return;
      }
      busy = true;
      const forwarded = request.headerLines.filter((line) => !notForwardedUpstream.has(fieldName(line)));
      origin.send(
        serialise(`${method} ${target} HTTP/1.1`, [`host: ${origin.host}`, ...forwarded], request.body),
        (error, answer) => {
          busy = false;
          if (error !== undefined || answer === undefined) refuse(client, 502, 'upstream failed', false);
          else
            client.write(
              serialise(
                answer.startLine,
                answer.headerLines.filter((line) => !notForwarded.has(fieldName(line))),
                answer.body,
              ),
            );
          next();
        },
      );
    };
    client.on('data', (data: Buffer) => {
      framer.push(data);
      if (!busy) next();
    });
  };

  const server = createServer({ noDelay: true }, serve);
  return listen(server, options.host, options.port).then((url) => ({
    url,
    close: async () => {
      for (const client of clients) client.destroy();
      for (const origin of origins.values()) origin.close();
      await new Promise((done) => server.close(done));
    },
  }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runProxy('raw-socket proxy', startRawProxy);
