import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fixtureBytes } from './recorded-fixtures.ts';
import { decodeSseBody, encodeSseComment, encodeSseEvent, SseDecoder } from './sse.ts';
import type { ProviderFamily, SseEvent } from './types.ts';

const encoder = new TextEncoder();

function decodeInPieces(pieces: (Uint8Array | string)[]): SseEvent[] {
  const decoder = new SseDecoder();
  const events = pieces.flatMap((piece) => decoder.push(piece));
  return [...events, ...decoder.end()];
}

const recordedStreams: [ProviderFamily, string][] = [
  ['openai', 'chat-tools-stream.sse'],
  ['anthropic', 'chat-tools-stream.sse'],
  ['gemini', 'chat-stream.sse'],
];

describe('SseDecoder on recorded streams', () => {
  it('decodes the OpenAI stream into its 51 data-only events ending in [DONE]', () => {
    const events = decodeSseBody(fixtureBytes('openai', 'chat-stream.sse'));
    assert.equal(events.length, 51);
    assert.deepEqual(events.at(-1), { event: undefined, data: '[DONE]', id: undefined });
    assert.ok(events.every((event) => event.event === undefined && event.id === undefined));
  });

  it('keeps the Anthropic event names', () => {
    const events = decodeSseBody(fixtureBytes('anthropic', 'chat-tools-stream.sse'));
    assert.equal(events.length, 30);
    assert.equal(events[0]?.event, 'message_start');
    assert.equal(events[2]?.event, 'ping');
    assert.deepEqual(events.at(-1), {
      event: 'message_stop',
      data: '{"type":"message_stop"}',
      id: undefined,
    });
  });

  it('splits the CRLF-framed Gemini stream into its three JSON events', () => {
    const events = decodeSseBody(fixtureBytes('gemini', 'chat-stream.sse'));
    assert.equal(events.length, 3);
    for (const event of events) assert.equal(typeof JSON.parse(event.data), 'object');
  });

  for (const [family, name] of recordedStreams) {
    it(`yields identical events for a ${family} stream split at every byte offset`, () => {
      const bytes = fixtureBytes(family, name);
      const whole = decodeSseBody(bytes);
      for (let offset = 1; offset < bytes.length; offset += 1) {
        const split = decodeInPieces([bytes.subarray(0, offset), bytes.subarray(offset)]);
        assert.deepEqual(split, whole, `split at byte ${offset}`);
      }
    });

    it(`yields identical events for a ${family} stream fed one byte at a time`, () => {
      const bytes = fixtureBytes(family, name);
      const pieces = Array.from({ length: bytes.length }, (_, index) => bytes.subarray(index, index + 1));
      assert.deepEqual(decodeInPieces(pieces), decodeSseBody(bytes));
    });
  }
});

describe('SseDecoder line endings and fields (WHATWG HTML 9.2.6)', () => {
  it('accepts CRLF, CR and LF, mixed in one stream', () => {
    const events = decodeSseBody('data: a\r\n\r\ndata: b\r\rdata: c\n\ndata: d\r\n\n');
    assert.deepEqual(
      events.map((event) => event.data),
      ['a', 'b', 'c', 'd'],
    );
  });

  it('treats a CR ending one chunk and an LF opening the next as one line ending', () => {
    const events = decodeInPieces(['data: a\r', '\ndata: b\r', '\n\r', '\n']);
    assert.deepEqual(events, [{ event: undefined, data: 'a\nb', id: undefined }]);
  });

  it('ignores comment lines, including keep-alives between events', () => {
    const events = decodeSseBody(': keep-alive\n\ndata: x\n: inside an event\ndata: y\n\n:\n\n');
    assert.deepEqual(events, [{ event: undefined, data: 'x\ny', id: undefined }]);
  });

  it('joins multi-line data with LF and removes exactly one leading space', () => {
    const events = decodeSseBody('data:no-space\ndata:  two spaces\ndata\ndata: last\n\n');
    assert.equal(events[0]?.data, 'no-space\n two spaces\n\nlast');
  });

  it('reads event and id fields; the last event id persists across events', () => {
    const events = decodeSseBody('event: first\nid: 7\ndata: 1\n\ndata: 2\n\nid\ndata: 3\n\n');
    assert.deepEqual(events, [
      { event: 'first', data: '1', id: '7' },
      { event: undefined, data: '2', id: '7' },
      { event: undefined, data: '3', id: undefined },
    ]);
  });

  it('ignores an id containing NULL and unknown fields', () => {
    const events = decodeSseBody('id: 1\n\nid: a\u0000b\nretry: 10\nfoo: bar\ndata: x\n\n');
    assert.deepEqual(events, [{ event: undefined, data: 'x', id: '1' }]);
  });

  it('dispatches nothing for a block without data, but dispatches an empty data field', () => {
    assert.deepEqual(decodeSseBody('event: lonely\n\n'), []);
    assert.deepEqual(decodeSseBody('data\n\n'), [{ event: undefined, data: '', id: undefined }]);
  });

  it('drops a leading byte order mark, from bytes and from text', () => {
    const expected = [{ event: undefined, data: 'x', id: undefined }];
    assert.deepEqual(decodeSseBody(encoder.encode('\uFEFFdata: x\n\n')), expected);
    assert.deepEqual(decodeSseBody('\uFEFFdata: x\n\n'), expected);
  });

  it('discards an event the stream ends in the middle of', () => {
    assert.deepEqual(decodeSseBody('data: complete\n\ndata: cut off\n'), [
      { event: undefined, data: 'complete', id: undefined },
    ]);
    assert.deepEqual(decodeSseBody('data: no line ending'), []);
  });
});

describe('SseDecoder UTF-8', () => {
  const text = 'data: {"text":"héllo wörld — 日本語 🙂"}\n\n';
  const bytes = encoder.encode(text);

  it('reassembles multi-byte characters split at every byte offset', () => {
    for (let offset = 1; offset < bytes.length; offset += 1) {
      const events = decodeInPieces([bytes.subarray(0, offset), bytes.subarray(offset)]);
      assert.deepEqual(events, [
        { event: undefined, data: '{"text":"héllo wörld — 日本語 🙂"}', id: undefined },
      ]);
    }
  });

  it('turns a sequence cut short by the end of the stream into U+FFFD', () => {
    const emoji = encoder.encode('🙂');
    const decoder = new SseDecoder();
    assert.deepEqual(decoder.push(encoder.encode('data: a')), []);
    assert.deepEqual(decoder.push(emoji.subarray(0, 2)), []);
    // The spec drops the unterminated event; the point is that end() does not throw or hang.
    assert.deepEqual(decoder.end(), []);
    assert.deepEqual(decodeSseBody(new Uint8Array([...encoder.encode('data: '), 0xf0, 0x9f, 10, 10])), [
      { event: undefined, data: '\uFFFD', id: undefined },
    ]);
  });

  it('can be reused after end()', () => {
    const decoder = new SseDecoder();
    decoder.push('id: 1\ndata: half');
    decoder.end();
    assert.deepEqual(decoder.push('data: fresh\n\n'), [{ event: undefined, data: 'fresh', id: undefined }]);
  });
});

describe('encodeSseEvent', () => {
  it('writes a data-only single-line event on the fast path', () => {
    assert.equal(encodeSseEvent({ data: '{"a":1}' }), 'data: {"a":1}\n\n');
  });

  it('writes event and id fields and one data field per line', () => {
    assert.equal(
      encodeSseEvent({ event: 'message_stop', id: '42', data: 'one\ntwo\r\nthree' }),
      'event: message_stop\nid: 42\ndata: one\ndata: two\ndata: three\n\n',
    );
  });

  it('round-trips through the decoder, with line endings normalized to LF', () => {
    const original = { event: 'update', data: 'first\r\nsecond\rthird\n' };
    assert.deepEqual(decodeSseBody(encodeSseEvent(original)), [
      { event: 'update', data: 'first\nsecond\nthird\n', id: undefined },
    ]);
    assert.deepEqual(decodeSseBody(encodeSseEvent({ data: '' })), [
      { event: undefined, data: '', id: undefined },
    ]);
  });

  it('refuses an event name that would break the framing', () => {
    assert.throws(() => encodeSseEvent({ event: 'a\nb', data: 'x' }), TypeError);
  });

  it('writes comments that the decoder ignores', () => {
    assert.equal(encodeSseComment('ping'), ': ping\n\n');
    assert.deepEqual(decodeSseBody(encodeSseComment('ping')), []);
  });
});
