/**
 * All provider traffic goes through one undici Agent (connection pooling, keep-alive), with a
 * deadline on every call and the client's AbortSignal honoured, so a client that goes away
 * cancels the upstream request and nobody is billed for tokens nobody reads.
 *
 * Calls go through `Agent.dispatch` with the handler below rather than `Agent.request`: the
 * answer's chunks land in a small queue (`UpstreamBody`) instead of a `Readable` stream with an
 * async resource per call, which cost about 30 µs of CPU per call (bench/results: a bare proxy
 * A/B, 128-137 µs per request with `request`, 93-109 µs with `dispatch`). undici still owns
 * the connection pool, HTTP parsing, keep-alive and the headers and body timeouts.
 */

import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import { Agent, errors as undiciErrors } from 'undici';
import { GatewayError } from '../errors.ts';

export interface UpstreamCall {
  /** The provider's base URL (`https://api.openai.com/v1`); the request goes to `baseUrl + path`. */
  baseUrl: string;
  /** The endpoint's path after the base URL (`/chat/completions`). */
  path: string;
  headers: Record<string, string>;
  body: string;
  /** Deadline for the response headers, and for every silence between body chunks. */
  timeoutMs: number;
  /** For unary calls: the whole exchange must finish within `timeoutMs`. */
  totalDeadline: boolean;
  signal: AbortSignal;
}

/** The answer's body, read once: whole (`bytes`, `text`) or chunk by chunk as the socket delivers them (`forEachChunk`). */
export interface UpstreamBody {
  bytes(): Promise<Buffer>;
  text(): Promise<string>;
  /**
   * Calls `onChunk` with each chunk as it arrives, in the socket's read (the chunks already
   * received first): no promise and no turn of the microtask queue per chunk, which is what a
   * stream relay does thousands of times a second. `onChunk` returning false pauses the body
   * until `resume()`; chunks then wait here and undici stops reading the socket. Resolves when
   * the body has ended and every chunk was handed over; rejects when it fails (or is destroyed,
   * from `onChunk` too), and with what `onChunk` throws, which stops the call.
   */
  forEachChunk(onChunk: (chunk: Buffer) => boolean): Promise<void>;
  /** Hands over the chunks that waited while `onChunk` had paused the body, and reads on. */
  resume(): void;
  /** Stops the call (nothing more is read); a no-op once the body has ended. */
  destroy(error?: Error): void;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: UpstreamBody;
}

/** Why an upstream call did not produce a response. */
export type UpstreamFailureKind = 'timeout' | 'aborted' | 'network';

export class UpstreamFailure extends Error {
  readonly kind: UpstreamFailureKind;
  constructor(kind: UpstreamFailureKind, cause: unknown) {
    super(`upstream ${kind}`, { cause });
    this.name = 'UpstreamFailure';
    this.kind = kind;
  }

  toGatewayError(): GatewayError {
    return new GatewayError(this.kind === 'timeout' ? 'upstream_timeout' : 'upstream_error', undefined, {
      cause: this,
    });
  }
}

export interface UpstreamClientOptions {
  connectTimeoutMs: number;
  /** Connections per origin at most; undefined: no cap. */
  connections?: number | undefined;
}

interface Target {
  origin: string;
  path: string;
}

/**
 * Targets are provider base URL + endpoint path: a bounded set, each parsed once. They are found
 * by the two strings as the call gives them (both long-lived: configuration and the adapters'
 * paths), not by their concatenation, which is a new string on every call that the lookup has
 * to flatten and hash again (about 1,800 instructions a call under callgrind).
 */
const maximumCachedTargets = 1_024;

export class UpstreamClient {
  readonly #agent: Agent;
  readonly #targets = new Map<string, Map<string, Target>>();
  #targetCount = 0;

  constructor(options: UpstreamClientOptions) {
    this.#agent = new Agent({
      connect: { timeout: options.connectTimeoutMs },
      ...(options.connections === undefined ? {} : { connections: options.connections }),
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 600_000,
      pipelining: 1,
    });
  }

  /**
   * Sends the call; resolves when the answer's status and headers arrive. A unary call's
   * whole-exchange deadline is one timer started with the call, cleared as soon as the body ends:
   * nothing of a finished call stays alive (an `AbortSignal.timeout` per call kept a timer and a
   * signal for the model's whole timeout, tens of thousands at a few thousand calls per second).
   * Its duration is the model's timeout itself, the same for every call of the model: Node keeps
   * one timer list per duration, so each call's timer is appended to a list that exists. Started
   * at the answer with the time that was left (a fraction of a millisecond different for every
   * call), each timer made a list of its own, pushed into and taken out of the lists' heap.
   */
  send(call: UpstreamCall): Promise<UpstreamResponse> {
    if (call.signal.aborted) return Promise.reject(new UpstreamFailure('aborted', call.signal.reason));
    const target = this.#targetOf(call.baseUrl, call.path);
    return new Promise((resolve, reject) => {
      // undici reports every failure, a synchronous one included, to the handler.
      this.#agent.dispatch(
        {
          origin: target.origin,
          path: target.path,
          method: 'POST',
          headers: call.headers,
          body: call.body,
          headersTimeout: call.timeoutMs,
          bodyTimeout: call.timeoutMs,
        },
        new Exchange(call, resolve, reject),
      );
    });
  }

  #targetOf(baseUrl: string, path: string): Target {
    let byPath = this.#targets.get(baseUrl);
    let target = byPath?.get(path);
    if (target === undefined) {
      const parsed = new URL(baseUrl + path);
      target = { origin: parsed.origin, path: parsed.pathname + parsed.search };
      if (this.#targetCount >= maximumCachedTargets) {
        this.#targets.clear();
        this.#targetCount = 0;
        byPath = undefined;
      }
      if (byPath === undefined) {
        byPath = new Map();
        this.#targets.set(baseUrl, byPath);
      }
      byPath.set(path, target);
      this.#targetCount += 1;
    }
    return target;
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }

  /** Ends open upstream sockets at once (shutdown past its deadline). */
  async destroy(): Promise<void> {
    await this.#agent.destroy();
  }
}

type Controller = Dispatcher.DispatchController;

/** Bytes held for a body nobody reads yet before undici is asked to stop reading the socket. */
const pauseAboveBytes = 64 * 1024;

/**
 * One call: undici's handler (new handler API) and the answer's body at once. Before the
 * answer starts, a failure rejects `send`; after, it fails the body's reader.
 */
class Exchange implements Dispatcher.DispatchHandler, UpstreamBody {
  // Not the call itself: its body (the whole prompt) must not live as long as a stream does.
  readonly #signal: AbortSignal;
  #resolve: ((response: UpstreamResponse) => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;
  #controller: Controller | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #onAbort: (() => void) | undefined;
  /** Received and not yet read. */
  #chunks: Buffer[] = [];
  #queuedBytes = 0;
  #ended = false;
  #error: unknown;
  #consumed = false;
  /** `bytes`: the reader waiting for the whole body. */
  #waiting: { resolve: (body: Buffer) => void; reject: (error: unknown) => void } | undefined;
  /** `forEachChunk`: the chunks' consumer, whether it paused, and its promise's settlers. */
  #sink: ((chunk: Buffer) => boolean) | undefined;
  #sinkPaused = false;
  #sinkDone: { resolve: () => void; reject: (error: unknown) => void } | undefined;

  constructor(
    call: UpstreamCall,
    resolve: (response: UpstreamResponse) => void,
    reject: (error: unknown) => void,
  ) {
    this.#signal = call.signal;
    this.#resolve = resolve;
    this.#reject = reject;
    if (call.totalDeadline) this.#deadline = setTimeout(() => this.#expire(), call.timeoutMs);
    const signal = call.signal;
    this.#onAbort = () => this.#abort(new UpstreamFailure('aborted', signal.reason));
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  onRequestStart(controller: Controller): void {
    // The client left while the call waited for a connection: it is never sent.
    if (this.#error !== undefined) {
      controller.abort(this.#error as Error);
      return;
    }
    this.#controller = controller;
  }

  onResponseStart(controller: Controller, statusCode: number, headers: IncomingHttpHeaders): void {
    // undici keeps the answer's raw header bytes on the controller for the call's whole life:
    // views of the socket read they arrived in, which they keep alive with them (about 2 KiB an
    // open stream). The parsed `headers` are all the gateway reads.
    controller.rawHeaders = null;
    if (statusCode < 200) return;
    const resolve = this.#resolve;
    this.#resolve = undefined;
    this.#reject = undefined;
    if (resolve === undefined) {
      controller.abort(new UpstreamFailure('aborted', undefined));
      return;
    }
    resolve({ status: statusCode, headers, body: this });
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.#sink !== undefined) {
      // Settled already: the consumer threw or destroyed the body, and the abort is on its way.
      if (this.#sinkDone === undefined) return;
      if (this.#sinkPaused) {
        this.#chunks.push(chunk);
        this.#queuedBytes += chunk.length;
      } else this.#deliver(chunk);
      return;
    }
    this.#chunks.push(chunk);
    this.#queuedBytes += chunk.length;
    if (this.#waiting === undefined && this.#queuedBytes > pauseAboveBytes) controller.pause();
  }

  onResponseEnd(): void {
    this.#ended = true;
    this.#cleanUp();
    if (this.#sink !== undefined) {
      if (!this.#sinkPaused) this.#settleSink();
      return;
    }
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.resolve(this.#take());
  }

  onResponseError(_controller: Controller | null, error: Error): void {
    this.#fail(error);
  }

  // UpstreamBody

  bytes(): Promise<Buffer> {
    this.#consume();
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve(this.#take());
    const whole = new Promise<Buffer>((resolve, reject) => {
      this.#waiting = { resolve, reject };
    });
    // After the reader is registered: resuming can hand over buffered chunks at once.
    this.#controller?.resume();
    return whole;
  }

  async text(): Promise<string> {
    return (await this.bytes()).toString('utf8');
  }

  forEachChunk(onChunk: (chunk: Buffer) => boolean): Promise<void> {
    this.#consume();
    return new Promise<void>((resolve, reject) => {
      this.#sink = onChunk;
      this.#sinkDone = { resolve, reject };
      this.#flushToSink();
    });
  }

  resume(): void {
    if (this.#sink === undefined || !this.#sinkPaused) return;
    this.#sinkPaused = false;
    this.#flushToSink();
  }

  destroy(error?: Error): void {
    const reason = error ?? new UpstreamFailure('aborted', undefined);
    if (!this.#ended && this.#error === undefined) {
      this.#abort(reason);
      // Failed now, not when undici reports the abort.
      this.#fail(reason);
    }
    // A consumer that destroys the body from `forEachChunk` is done with it, even when the
    // answer had already ended (its last chunks can be handed over after undici's end).
    this.#chunks = [];
    this.#queuedBytes = 0;
    this.#settleSink(reason);
  }

  /** Hands the waiting chunks to the sink until it pauses; then settles, or lets undici read on. */
  #flushToSink(): void {
    while (this.#chunks.length > 0) {
      if (this.#sinkDone === undefined) return;
      const chunk = this.#chunks.shift()!;
      this.#queuedBytes -= chunk.length;
      if (!this.#deliver(chunk)) return;
    }
    if (this.#error !== undefined || this.#ended) this.#settleSink();
    else this.#controller?.resume();
  }

  /** One chunk to the sink: false when it paused, or the body failed or was destroyed in it. */
  #deliver(chunk: Buffer): boolean {
    let more: boolean;
    try {
      more = this.#sink!(chunk);
    } catch (error) {
      this.#abort(error instanceof Error ? error : new Error(String(error)));
      this.#settleSink(error);
      return false;
    }
    if (this.#error !== undefined) return false;
    if (!more) {
      this.#sinkPaused = true;
      this.#controller?.pause();
    }
    return more;
  }

  /** Resolves or rejects `forEachChunk` once: with `thrown` when the sink threw, else the body's end or failure. */
  #settleSink(thrown?: unknown): void {
    const done = this.#sinkDone;
    if (done === undefined) return;
    this.#sinkDone = undefined;
    if (thrown !== undefined) done.reject(thrown);
    else if (this.#error !== undefined) done.reject(this.#error);
    else done.resolve();
  }

  #consume(): void {
    if (this.#consumed) throw new TypeError('the upstream body was already read');
    this.#consumed = true;
  }

  #take(): Buffer {
    const chunks = this.#chunks;
    this.#chunks = [];
    const total = this.#queuedBytes;
    this.#queuedBytes = 0;
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
  }

  #expire(): void {
    this.#deadline = undefined;
    this.#abort(new UpstreamFailure('timeout', new Error('the upstream deadline passed')));
  }

  /** Stops the call: undici's controller once the call has started, else a failure kept for it. */
  #abort(reason: Error): void {
    if (this.#controller !== undefined) this.#controller.abort(reason);
    else this.#fail(reason);
  }

  #fail(error: unknown): void {
    if (this.#ended || this.#error !== undefined) return;
    this.#error = error;
    this.#cleanUp();
    const reject = this.#reject;
    this.#resolve = undefined;
    this.#reject = undefined;
    if (reject !== undefined) {
      reject(classifyFailure(error, this.#signal));
      return;
    }
    if (this.#sink !== undefined) {
      // What waited for a paused consumer is dropped with the call.
      this.#chunks = [];
      this.#queuedBytes = 0;
      this.#settleSink();
      return;
    }
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.reject(error);
  }

  /**
   * The call is over: nothing of it is needed any more. undici's controller goes too, with the
   * request and the answer's raw header buffers it holds: this object can be kept after the call
   * (by the route, or by a dead object in the old generation until the next full collection), and
   * through the controller it kept them surviving young-generation collections and being
   * promoted (half of all promoted bytes at 32 connections, docs/performance-history.md).
   */
  #cleanUp(): void {
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
    this.#deadline = undefined;
    if (this.#onAbort !== undefined) this.#signal.removeEventListener('abort', this.#onAbort);
    this.#onAbort = undefined;
    this.#controller = undefined;
  }
}

export function classifyFailure(error: unknown, clientSignal: AbortSignal): UpstreamFailure {
  if (error instanceof UpstreamFailure) return error;
  if (clientSignal.aborted) return new UpstreamFailure('aborted', error);
  if (
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError ||
    error instanceof undiciErrors.ConnectTimeoutError
  )
    return new UpstreamFailure('timeout', error);
  return new UpstreamFailure('network', error);
}
