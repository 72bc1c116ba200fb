/**
 * One request/response pair of the mock upstream and the timed writes made on it. Every delay
 * goes through `after`, so a client abort (the response closing early) cancels the pending
 * timer and nothing more is written to a dead socket.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** A frame written `delayMs` after the previous one. */
export interface TimedFrame {
  delayMs: number;
  text: string;
}

/** Pause between the last bytes of a failing response and its reset (see `play`). */
export const resetGraceMs = 20;

export const streamEndings = {
  /** End the response normally. */
  end: 'end',
  /** Reset the connection (TCP RST) once the written frames have reached the kernel. */
  reset: 'reset',
} as const;

export type StreamEnding = (typeof streamEndings)[keyof typeof streamEndings];

export class Exchange {
  readonly response: ServerResponse;
  #timer: NodeJS.Timeout | undefined = undefined;
  #closed = false;
  /** True when the mock itself cut the connection, so the close is not a client abort. */
  #endedByServer = false;

  constructor(response: ServerResponse) {
    this.response = response;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get endedByServer(): boolean {
    return this.#endedByServer;
  }

  /** Called once when the response closes, finished or not. */
  markClosed(): void {
    this.#closed = true;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Runs `action` after `delayMs` (synchronously when 0), unless the exchange closes first. */
  after(delayMs: number, action: () => void): void {
    if (this.#closed) return;
    if (delayMs <= 0) {
      action();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed) action();
    }, delayMs);
  }

  sendBody(status: number, headers: OutgoingHttpHeaders, body: string): void {
    if (this.#closed) return;
    headers['content-length'] = Buffer.byteLength(body);
    this.response.writeHead(status, headers);
    this.response.end(body);
  }

  /** Sends a TCP RST: clients see ECONNRESET rather than a clean end of stream. */
  reset(): void {
    if (this.#closed) return;
    this.#endedByServer = true;
    const socket = this.response.socket;
    if (socket === null) return;
    socket.resetAndDestroy();
  }

  /**
   * Writes the frames with their delays. Consecutive frames with no delay between them are
   * joined into one write, so an unthrottled stream costs a single syscall.
   */
  play(
    status: number,
    headers: OutgoingHttpHeaders,
    frames: readonly TimedFrame[],
    ending: StreamEnding,
  ): void {
    const writeFrom = (start: number): void => {
      if (this.#closed) return;
      let text = '';
      let index = start;
      do {
        text += frames[index]?.text ?? '';
        index++;
      } while (index < frames.length && (frames[index]?.delayMs ?? 0) <= 0);
      if (!this.response.headersSent) this.response.writeHead(status, headers);
      if (index < frames.length) {
        if (text.length > 0) this.response.write(text);
        this.after(frames[index]?.delayMs ?? 0, () => writeFrom(index));
      } else if (ending === streamEndings.end) {
        this.response.end(text);
      } else {
        this.#endedByServer = true;
        // An RST makes the peer's kernel drop data its process has not read yet, so the reset
        // waits until the bytes are sent and the client has had a moment to read them.
        this.response.write(text, () => {
          this.#timer = setTimeout(() => this.reset(), resetGraceMs);
        });
      }
    };
    if (frames.length === 0) {
      this.after(0, () => (ending === streamEndings.end ? this.response.end() : this.reset()));
      return;
    }
    this.after(frames[0]?.delayMs ?? 0, () => writeFrom(0));
  }
}
