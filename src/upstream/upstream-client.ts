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
  connections?: number;
}

export class UpstreamClient {
  readonly #agent: Agent;

  constructor(options: UpstreamClientOptions) {
    this.#agent = new Agent({
      connect: { timeout: options.connectTimeoutMs },
      connections: options.connections ?? 256,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 600_000,
      pipelining: 1,
    });
  }

  async send(call: UpstreamCall): Promise<UpstreamResponse> {
    const deadline = call.totalDeadline ? AbortSignal.timeout(call.timeoutMs) : undefined;
    const signal = deadline === undefined ? call.signal : AbortSignal.any([call.signal, deadline]);
    try {
      const response = await this.#agent.request({
        origin: new URL(call.url).origin,
        path: pathOf(call.url),
        method: 'POST',
        headers: call.headers,
        body: call.body,
        signal,
        headersTimeout: call.timeoutMs,
        bodyTimeout: call.timeoutMs,
      });
      return { status: response.statusCode, headers: response.headers, body: response.body };
    } catch (error) {
      throw classifyFailure(error, call.signal, deadline);
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }

  /** Ends open upstream sockets at once (shutdown past its deadline). */
  async destroy(): Promise<void> {
    await this.#agent.destroy();
  }
}

export function classifyFailure(
  error: unknown,
  clientSignal: AbortSignal,
  deadline?: AbortSignal,
): UpstreamFailure {
  if (error instanceof UpstreamFailure) return error;
  if (deadline?.aborted) return new UpstreamFailure('timeout', error);
  if (clientSignal.aborted) return new UpstreamFailure('aborted', error);
  if (
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError ||
    error instanceof undiciErrors.ConnectTimeoutError
  )
    return new UpstreamFailure('timeout', error);
  return new UpstreamFailure('network', error);
}

function pathOf(url: string): string {
  const parsed = new URL(url);
  return parsed.pathname + parsed.search;
}
