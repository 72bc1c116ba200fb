/**
 * Server-Sent Events codec shared by every provider family.
 *
 * The decoder follows the WHATWG HTML Standard, section 9.2.6 "Interpreting an event stream":
 * the stream is UTF-8 (a leading BOM is dropped), lines end in CRLF, LF or CR, a line starting
 * with ":" is a comment, `field: value` loses one leading space from the value, `data` lines
 * accumulate joined by LF, a blank line dispatches, and the last-event-ID persists across events.
 * It is incremental: network chunks may split anywhere, including inside a multi-byte UTF-8
 * sequence or between the CR and LF of one line ending.
 */
import type { SseEvent } from './types.ts';

const lineFeed = 10;
const byteOrderMark = '\uFEFF';
const lineBreak = /[\r\n]/g;

export class SseDecoder {
  #textDecoder = new TextDecoder('utf-8');
  /** Text of a line whose terminator has not arrived yet. */
  #partialLine = '';
  /** The previous chunk ended in CR: an LF opening the next chunk belongs to that line ending. */
  #skipLeadingLineFeed = false;
  #atStreamStart = true;
  #data = '';
  #hasData = false;
  #eventType = '';
  #lastEventId = '';

  /** Feeds one network chunk; returns the events it completed, in order. */
  push(chunk: Uint8Array | string): SseEvent[] {
    let text: string;
    if (typeof chunk === 'string') {
      // TextDecoder strips a leading BOM from bytes; a text stream needs it done here.
      text = this.#atStreamStart && chunk.startsWith(byteOrderMark) ? chunk.slice(1) : chunk;
    } else {
      text = this.#textDecoder.decode(chunk, { stream: true });
    }
    const events: SseEvent[] = [];
    this.#consume(text, events);
    return events;
  }

  /**
   * Ends the stream. A multi-byte sequence cut short becomes U+FFFD, as the spec's UTF-8 decode
   * requires. Per the spec, "if the file ends in the middle of an event, before the final empty
   * line, the incomplete event is not dispatched", so pending lines and data are dropped.
   */
  end(): SseEvent[] {
    const events: SseEvent[] = [];
    this.#consume(this.#textDecoder.decode(), events);
    this.#partialLine = '';
    this.#skipLeadingLineFeed = false;
    this.#atStreamStart = true;
    this.#resetEvent();
    this.#lastEventId = '';
    return events;
  }

  #consume(text: string, events: SseEvent[]): void {
    if (text === '') return;
    this.#atStreamStart = false;
    let input = text;
    if (this.#skipLeadingLineFeed) {
      this.#skipLeadingLineFeed = false;
      if (input.charCodeAt(0) === lineFeed) input = input.slice(1);
    }
    const buffer = this.#partialLine === '' ? input : this.#partialLine + input;
    let position = 0;
    lineBreak.lastIndex = 0;
    for (let match = lineBreak.exec(buffer); match !== null; match = lineBreak.exec(buffer)) {
      const end = match.index;
      let next = end + 1;
      if (match[0] === '\r') {
        if (next === buffer.length) this.#skipLeadingLineFeed = true;
        else if (buffer.charCodeAt(next) === lineFeed) next += 1;
      }
      this.#processLine(buffer.slice(position, end), events);
      position = next;
      lineBreak.lastIndex = next;
    }
    this.#partialLine = position === 0 ? buffer : buffer.slice(position);
  }

  #processLine(line: string, events: SseEvent[]): void {
    if (line === '') {
      this.#dispatch(events);
      return;
    }
    if (line.charCodeAt(0) === 58 /* ":" */) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32 /* " " */) value = value.slice(1);
    switch (field) {
      case 'data':
        this.#data = this.#hasData ? `${this.#data}\n${value}` : value;
        this.#hasData = true;
        break;
      case 'event':
        this.#eventType = value;
        break;
      case 'id':
        // The spec ignores an id containing NULL so it cannot poison Last-Event-ID.
        if (!value.includes('\u0000')) this.#lastEventId = value;
        break;
      default:
        // `retry` only steers browser reconnection; unknown fields are ignored by the spec.
        break;
    }
  }

  #dispatch(events: SseEvent[]): void {
    if (this.#hasData) {
      events.push({
        event: this.#eventType === '' ? undefined : this.#eventType,
        data: this.#data,
        id: this.#lastEventId === '' ? undefined : this.#lastEventId,
      });
    }
    this.#resetEvent();
  }

  #resetEvent(): void {
    this.#data = '';
    this.#hasData = false;
    this.#eventType = '';
  }
}

/** Decodes a whole body at once (tests, recorded fixtures, buffered upstream answers). */
export function decodeSseBody(body: Uint8Array | string): SseEvent[] {
  const decoder = new SseDecoder();
  return [...decoder.push(body), ...decoder.end()];
}

const lineTerminators = /\r\n|\r|\n/;
const needsSplitting = /[\r\n]/;

/**
 * Encodes one event. Data-only events without line breaks — every OpenAI chunk — take the fast
 * path of one template literal; otherwise each data line gets its own `data:` field, which the
 * receiving decoder rejoins with LF.
 */
export function encodeSseEvent(event: { event?: string; id?: string; data: string }): string {
  if (event.event === undefined && event.id === undefined && !needsSplitting.test(event.data)) {
    return `data: ${event.data}\n\n`;
  }
  let encoded = '';
  if (event.event !== undefined) encoded += `event: ${singleLine(event.event, 'event')}\n`;
  if (event.id !== undefined) encoded += `id: ${singleLine(event.id, 'id')}\n`;
  for (const line of event.data.split(lineTerminators)) encoded += `data: ${line}\n`;
  return `${encoded}\n`;
}

/** A comment line; proxies and load balancers see traffic, EventSource clients ignore it. */
export function encodeSseComment(text: string): string {
  return `: ${singleLine(text, 'comment')}\n\n`;
}

function singleLine(value: string, field: string): string {
  if (needsSplitting.test(value)) throw new TypeError(`SSE ${field} must not contain a line break`);
  return value;
}
