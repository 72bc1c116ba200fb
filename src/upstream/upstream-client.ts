/**
 * All provider traffic goes through one undici Agent (connection pooling, keep-alive), with a
 * deadline on every call and the client's AbortSignal passed down, so a client that goes away
 * cancels the upstream request and nobody is billed for tokens nobody reads.
 */

import type { Dispatcher } from 'undici';
import { Agent, errors as undiciErrors } from 'undici';
import { GatewayError } from '../errors.ts';

export interface UpstreamCall {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** Deadline for the response headers, and for every silence between body chunks. */
  timeoutMs: number;
  /** For unary calls: the whole exchange must finish within `timeoutMs`. */
  totalDeadline: boolean;
  signal: AbortSignal;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
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

/** URLs are provider base URL + endpoint path: a bounded set, each parsed once. */
const maximumCachedTargets = 1_024;

export class UpstreamClient {
  readonly #agent: Agent;
  readonly #targets = new Map<string, Target>();

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
   * Sends the call. The client's signal goes to undici as it is (no composite signal per call).
   * A unary call's whole-exchange deadline is undici's headers timeout until the answer starts,
   * then one timer for the time that is left, cleared as soon as the body closes: nothing of a
   * finished call stays alive (an `AbortSignal.timeout` per call kept a timer and a signal for
   * the model's whole timeout, tens of thousands at a few thousand calls per second).
   */
  async send(call: UpstreamCall): Promise<UpstreamResponse> {
    const target = this.#targetOf(call.url);
    const started = performance.now();
    let response: Dispatcher.ResponseData;
    try {
      response = await this.#agent.request({
        origin: target.origin,
        path: target.path,
        method: 'POST',
        headers: call.headers,
        body: call.body,
        signal: call.signal,
        headersTimeout: call.timeoutMs,
        bodyTimeout: call.timeoutMs,
      });
    } catch (error) {
      throw classifyFailure(error, call.signal);
    }
    if (call.totalDeadline) enforceDeadline(response.body, call.timeoutMs - (performance.now() - started));
    return { status: response.statusCode, headers: response.headers, body: response.body };
  }

  #targetOf(url: string): Target {
    let target = this.#targets.get(url);
    if (target === undefined) {
      const parsed = new URL(url);
      target = { origin: parsed.origin, path: parsed.pathname + parsed.search };
      if (this.#targets.size >= maximumCachedTargets) this.#targets.clear();
      this.#targets.set(url, target);
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

/** Destroys `body` with a timeout failure unless it has closed within `remainingMs`. */
function enforceDeadline(body: Dispatcher.ResponseData['body'], remainingMs: number): void {
  const expire = () =>
    body.destroy(new UpstreamFailure('timeout', new Error('the upstream deadline passed')));
  if (remainingMs <= 0) {
    expire();
    return;
  }
  const timer = setTimeout(expire, remainingMs);
  body.once('close', () => clearTimeout(timer));
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
