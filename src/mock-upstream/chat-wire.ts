/**
 * The contract between the mock server (timing, faults, sockets) and each provider family's
 * wire format (byte-exact bodies and events). A family module only formats strings; the server
 * decides when, and whether, they are written.
 */
import { randomBytes } from 'node:crypto';
import type { Reply, TextTally } from './conversation.ts';

export const errorKinds = {
  badRequest: 'bad-request',
  notFound: 'not-found',
  rateLimited: 'rate-limited',
  serverError: 'server-error',
} as const;

export type ErrorKind = (typeof errorKinds)[keyof typeof errorKinds];

export const errorStatus: Readonly<Record<ErrorKind, number>> = {
  'bad-request': 400,
  'not-found': 404,
  'rate-limited': 429,
  'server-error': 500,
};

/** What the mock needs from a chat request body. */
export interface ChatReading {
  model: string;
  stream: boolean;
  /** OpenAI `stream_options.include_usage`. */
  includeUsage: boolean;
  tally: TextTally;
}

/** A request the real provider would reject with a 400, and the field at fault. */
export interface RequestProblem {
  problem: string;
  param?: string;
}

/** Everything a family needs to format one answer. */
export interface ChatTurn {
  /** JSON string literal of the model to echo. */
  modelLiteral: string;
  /** Provider response id (`chatcmpl-…`, `msg_…`, Gemini `responseId`). */
  responseId: string;
  /** Unix seconds. */
  created: number;
  inputTokens: number;
  outputTokens: number;
  includeUsage: boolean;
  reply: Reply;
}

/** One stream's frames, each already in its final SSE (or JSON array) framing. */
export interface StreamFrames {
  readonly contentType: string;
  /** Written with the headers: role chunk, message_start…; may be empty. */
  readonly preamble: string;
  content(pieceLiteral: string, index: number, last: boolean): string;
  /** Finish, usage and end-of-stream frames. */
  readonly epilogue: string;
  /** The provider's in-stream error, after which the provider ends the stream. */
  readonly error: string;
}

export interface ChatWire {
  readonly family: 'openai' | 'anthropic' | 'gemini';
  /** Response header carrying the provider request id, when the provider sends one. */
  readonly requestIdHeader: string | undefined;
  newRequestId(): string;
  newResponseId(): string;
  /** `pathModel` is the model named in the URL (Gemini). */
  read(body: unknown, pathModel: string | undefined): ChatReading | RequestProblem;
  unaryBody(turn: ChatTurn): string;
  /** `query` is the URL's search string (Gemini's `alt=sse` selects the framing). */
  streamFrames(turn: ChatTurn, query: string): StreamFrames;
  errorBody(kind: ErrorKind, message: string, requestId: string, param?: string): string;
  /** The message the real provider sends for this kind of failure. */
  defaultErrorMessage(kind: ErrorKind): string;
}

export function isRequestProblem<Reading extends object>(
  value: Reading | RequestProblem,
): value is RequestProblem {
  return 'problem' in value;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const base62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * Unique ids without per-request randomness: a random per-process prefix plus a counter, so
 * ids differ across restarts and never repeat within one process.
 */
export class IdentifierSource {
  readonly #prefix: string;
  #counter = 0;

  constructor() {
    const bytes = randomBytes(10);
    this.#prefix = Array.from(bytes, (byte) => base62[byte % 62]).join('');
  }

  /** `length` characters of [0-9A-Za-z]. */
  next(length: number): string {
    this.#counter++;
    const suffix = this.#counter.toString(36);
    return (this.#prefix + suffix.padStart(Math.max(0, length - this.#prefix.length), '0')).slice(-length);
  }

  /** `length` lowercase hex characters. */
  nextHex(length: number): string {
    this.#counter++;
    const prefixHex = Buffer.from(this.#prefix, 'latin1').toString('hex');
    return (prefixHex + this.#counter.toString(16).padStart(12, '0')).slice(-length);
  }
}
