/**
 * A minimal HTTP/1.1 keep-alive client for the open-loop generator: one pre-encoded request,
 * sent over a pool of plain `net` sockets, answers parsed only as far as status, length and
 * end (Content-Length or chunked). On this project's machine undici costs about 150 µs of CPU
 * per request and the load generator shares its core with the mock upstream; this costs a
 * fraction of that, so the generator is not what saturates at the rates being measured.
 */
import { connect, type Socket } from 'node:net';

export type Completion = (status: number) => void;

const crlfcrlf = Buffer.from('\r\n\r\n');

/** Parses responses off one socket; calls `onResponse` once per complete response. */
class ResponseParser {
  #head: Buffer | undefined;
  #status = 0;
  #remaining = 0;
  #chunked = false;
  #inBody = false;
  /** Chunked bodies: bytes of the current chunk still to skip, then its CRLF. */
  #chunkLeft = 0;
  #pending: Buffer | undefined;
  #closeAfter = false;
  readonly #onResponse: (status: number, close: boolean) => void;

  constructor(onResponse: (status: number, close: boolean) => void) {
    this.#onResponse = onResponse;
  }

  push(data: Buffer): void {
    let buffer = this.#pending === undefined ? data : Buffer.concat([this.#pending, data]);
    this.#pending = undefined;
    while (buffer.length > 0) {
      if (!this.#inBody) {
        const joined = this.#head === undefined ? buffer : Buffer.concat([this.#head, buffer]);
        const end = joined.indexOf(crlfcrlf);
        if (end === -1) {
          this.#head = joined;
          return;
        }
        this.#head = undefined;
        this.#startBody(joined.toString('latin1', 0, end));
        buffer = joined.subarray(end + 4);
        if (!this.#chunked && this.#remaining === 0) this.#complete();
        continue;
      }
      if (!this.#chunked) {
        const take = Math.min(this.#remaining, buffer.length);
        this.#remaining -= take;
        buffer = buffer.subarray(take);
        if (this.#remaining === 0) this.#complete();
        continue;
      }
      if (this.#chunkLeft > 0) {
        const take = Math.min(this.#chunkLeft, buffer.length);
        this.#chunkLeft -= take;
        buffer = buffer.subarray(take);
        continue;
      }
      // A chunk-size line (RFC 9112 section 7.1), or the CRLF closing the previous chunk.
      const lineEnd = buffer.indexOf('\r\n');
      if (lineEnd === -1) {
        this.#pending = buffer;
        return;
      }
      const line = buffer.toString('latin1', 0, lineEnd);
      buffer = buffer.subarray(lineEnd + 2);
      if (line.length === 0) continue;
      const size = Number.parseInt(line, 16);
      if (size === 0) {
        // The last chunk; its trailer section ends with an empty line.
        const trailerEnd = buffer.indexOf('\r\n');
        if (trailerEnd === -1) {
          this.#pending = Buffer.concat([Buffer.from('0\r\n'), buffer]);
          return;
        }
        buffer = buffer.subarray(trailerEnd + 2);
        this.#complete();
      } else {
        this.#chunkLeft = size;
      }
    }
  }

  #startBody(head: string): void {
    this.#status = Number(head.slice(9, 12));
    const lower = head.toLowerCase();
    const length = /\r\ncontent-length:\s*(\d+)/.exec(lower);
    this.#chunked = length === null && /\r\ntransfer-encoding:[^\r]*chunked/.test(lower);
    this.#remaining = length === null ? 0 : Number(length[1]);
    this.#closeAfter = /\r\nconnection:\s*close/.test(lower);
    this.#inBody = true;
  }

  #complete(): void {
    this.#inBody = false;
    this.#chunkLeft = 0;
    this.#onResponse(this.#status, this.#closeAfter);
  }
}

interface Connection {
  socket: Socket;
  busy: Completion | undefined;
}

export class Http1Pool {
  readonly #host: string;
  readonly #port: number;
  readonly #request: Buffer;
  readonly #maxConnections: number;
  readonly #idle: Connection[] = [];
  readonly #waiting: Completion[] = [];
  #open = 0;

  constructor(url: URL, headers: Record<string, string>, body: string, maxConnections: number) {
    this.#host = url.hostname;
    this.#port = Number(url.port || 80);
    this.#maxConnections = maxConnections;
    const lines = [
      `POST ${url.pathname}${url.search} HTTP/1.1`,
      `host: ${url.host}`,
      'connection: keep-alive',
      `content-length: ${Buffer.byteLength(body)}`,
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    ];
    this.#request = Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`);
  }

  /** Sends the request; `done` gets the status, or 0 when the connection failed. */
  send(done: Completion): void {
    const connection = this.#idle.pop();
    if (connection !== undefined) this.#dispatch(connection, done);
    else if (this.#open < this.#maxConnections) this.#connect(done);
    else this.#waiting.push(done);
  }

  #dispatch(connection: Connection, done: Completion): void {
    connection.busy = done;
    connection.socket.write(this.#request);
  }

  #release(connection: Connection): void {
    const next = this.#waiting.shift();
    if (next !== undefined) this.#dispatch(connection, next);
    else this.#idle.push(connection);
  }

  #connect(first: Completion): void {
    this.#open++;
    const socket = connect({ host: this.#host, port: this.#port, noDelay: true });
    const connection: Connection = { socket, busy: undefined };
    const parser = new ResponseParser((status, close) => {
      const done = connection.busy;
      connection.busy = undefined;
      done?.(status);
      if (close) socket.destroy();
      else this.#release(connection);
    });
    socket.on('data', (data: Buffer) => parser.push(data));
    socket.once('close', () => {
      this.#open--;
      const index = this.#idle.indexOf(connection);
      if (index !== -1) this.#idle.splice(index, 1);
      const done = connection.busy;
      connection.busy = undefined;
      done?.(0);
      // Someone waits for a connection this one no longer provides.
      const next = this.#waiting.shift();
      if (next !== undefined) this.#connect(next);
    });
    socket.on('error', () => {});
    this.#dispatch(connection, first);
  }

  close(): void {
    for (const connection of this.#idle) connection.socket.destroy();
    this.#idle.length = 0;
  }
}
