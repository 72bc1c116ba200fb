/**
 * What the mock "reads" from a request and what it "writes" back: the deterministic token
 * count and the reply text split into stream chunks.
 *
 * Token rule (tests assert costs with it): input tokens = max(1, ceil(characters / 4)), where
 * characters is the total length in UTF-16 code units (JavaScript `string.length`) of every
 * text content of the request: all messages whatever their role, the Anthropic `system` and
 * `tool_result` texts, the Gemini `systemInstruction`. Tool definitions, tool-call arguments,
 * images and other non-text parts count nothing. Output tokens are the `outputTokens` option,
 * whatever the reply text.
 */

/** An echoed reply keeps at most this many UTF-16 code units of the last user message. */
export const maximumEchoLength = 256;

export function countTokens(characters: number): number {
  return Math.max(1, Math.ceil(characters / 4));
}

/** Sums text lengths and remembers the last user text while a wire module walks a request. */
export class TextTally {
  characters = 0;
  lastUserText: string | undefined = undefined;

  add(text: unknown): void {
    if (typeof text === 'string') this.characters += text.length;
  }

  /** A user turn: counted, and a candidate for the echo (the later one wins). */
  addUserTurn(texts: readonly string[]): void {
    let joined = '';
    for (const text of texts) {
      this.characters += text.length;
      joined = joined.length === 0 ? text : `${joined}\n${text}`;
    }
    if (joined.length > 0) this.lastUserText = joined;
  }
}

export interface Reply {
  /** JSON string literals (quotes included) of each stream chunk's text. */
  readonly pieceLiterals: readonly string[];
  /** JSON string literal of the whole reply. */
  readonly textLiteral: string;
}

// The fixed reply cycles through these words, one word per chunk, so any chunk count works.
const fixedWords = ['Mock', 'reply', 'from', 'the', 'odock', 'mock', 'upstream.'] as const;

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** Splits into at most `count` non-empty pieces of near-equal length, never inside a surrogate pair. */
export function splitIntoPieces(text: string, count: number): string[] {
  const pieceCount = Math.max(1, Math.min(count, text.length));
  const pieces: string[] = [];
  let start = 0;
  for (let index = 1; index <= pieceCount; index++) {
    let end = index === pieceCount ? text.length : Math.round((text.length * index) / pieceCount);
    if (end < text.length && isHighSurrogate(text.charCodeAt(end - 1))) end++;
    if (end > start) pieces.push(text.slice(start, end));
    start = Math.max(start, end);
  }
  return pieces;
}

export function truncateEcho(text: string): string {
  if (text.length <= maximumEchoLength) return text;
  const end = isHighSurrogate(text.charCodeAt(maximumEchoLength - 1))
    ? maximumEchoLength - 1
    : maximumEchoLength;
  return text.slice(0, end);
}

function literals(pieces: readonly string[]): Reply {
  return {
    pieceLiterals: pieces.map((piece) => JSON.stringify(piece)),
    textLiteral: JSON.stringify(pieces.join('')),
  };
}

export class ReplyWriter {
  readonly #echo: boolean;
  readonly #streamChunks: number;
  /** Built once: with echo off every request serves these very strings. */
  readonly #fixed: Reply;

  constructor(echo: boolean, streamChunks: number) {
    this.#echo = echo;
    this.#streamChunks = streamChunks;
    const words = Array.from(
      { length: streamChunks },
      (_, index) => `${index === 0 ? '' : ' '}${fixedWords[index % fixedWords.length]}`,
    );
    this.#fixed = literals(words);
  }

  get fixedReply(): Reply {
    return this.#fixed;
  }

  /** The echo of `lastUserText` (truncated), or the fixed reply when echo is off or nothing was said. */
  reply(lastUserText: string | undefined): Reply {
    if (!this.#echo || lastUserText === undefined || lastUserText.length === 0) return this.#fixed;
    return literals(splitIntoPieces(truncateEcho(lastUserText), this.#streamChunks));
  }
}
