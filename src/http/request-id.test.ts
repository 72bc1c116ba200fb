import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { uuidV7, uuidV7Time } from './request-id.ts';

const shape = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('request ids (UUIDv7)', () => {
  test('have the version 7 and variant bits and carry their millisecond', () => {
    for (const now of [0, 1, 0xffff_ffff, 0x1_0000_0000, Date.UTC(2026, 11, 6, 3, 50), 2 ** 48 - 1]) {
      const id = uuidV7(now);
      assert.match(id, shape, id);
      assert.equal(uuidV7Time(id), now, id);
    }
    // 2026-12-06T00:00:00Z is 1,796,515,200,000 ms: 0x01a248a67c00.
    assert.equal(uuidV7(Date.UTC(2026, 11, 6)).slice(0, 13), '01a248a6-7c00');
    const before = Date.now();
    const id = uuidV7();
    assert.ok(uuidV7Time(id) >= before && uuidV7Time(id) <= Date.now());
  });

  test('sort by time, and differ within one millisecond', () => {
    const ids = Array.from({ length: 100_000 }, (_, index) =>
      uuidV7(1_765_000_000_000 + Math.floor(index / 10)),
    );
    assert.equal(new Set(ids).size, ids.length, 'no repeat among 100,000 (ten per millisecond)');
    for (let index = 10; index < ids.length; index += 10) assert.ok(ids[index - 1]! < ids[index]!);
    // The random part takes every value: each hex digit of the last group, and all four variants.
    for (let position = 24; position < 36; position += 1)
      assert.equal(new Set(ids.map((id) => id[position])).size, 16, `position ${position}`);
    assert.deepEqual([...new Set(ids.map((id) => id[19]))].sort(), ['8', '9', 'a', 'b']);
  });
});
