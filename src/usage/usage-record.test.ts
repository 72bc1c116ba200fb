/**
 * The provider usage kept on a usage record: a plain JSON object is kept without being
 * serialised when an upper bound of its text length shows it fits, and measured otherwise, with
 * the same outcome either way.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chatCompletionsContext } from '../gateway/request-context-fixture.ts';
// The mock upstream's seeded generator (mulberry32), so a failure names a reproducible case.
import { createSeededRandom } from '../mock-upstream/fault-plan.ts';
import { boundedJson, jsonLengthBound, toUsageRecord } from './usage-record.ts';

const awkwardCharacters = ['a', '"', '\\', '\n', '\u0001', '\u2028', 'é', '🚀', '\ud800', '\u0000'];
const awkwardNumbers = [
  0,
  -0,
  1,
  -1.5,
  0.1 + 0.2,
  1e21,
  -2.2250738585072014e-308,
  1.7976931348623157e308,
  Number.NaN,
  Number.POSITIVE_INFINITY,
];

function jsonValue(next: () => number, depth: number): unknown {
  const kind = Math.floor(next() * (depth > 3 ? 4 : 6));
  const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)]!;
  switch (kind) {
    case 0:
      return pick([true, false, null]);
    case 1:
      return pick(awkwardNumbers);
    case 2:
    case 3:
      return Array.from({ length: Math.floor(next() * 12) }, () => pick(awkwardCharacters)).join('');
    case 4:
      return Array.from({ length: Math.floor(next() * 5) }, () => jsonValue(next, depth + 1));
    default: {
      const object: Record<string, unknown> = {};
      for (let index = Math.floor(next() * 6); index > 0; index -= 1)
        object[Array.from({ length: 1 + Math.floor(next() * 8) }, () => pick(awkwardCharacters)).join('')] =
          jsonValue(next, depth + 1);
      return object;
    }
  }
}

describe('provider usage on a usage record', () => {
  test('the length bound is never below the JSON text length', () => {
    const next = createSeededRandom(20261201);
    for (let run = 0; run < 5_000; run += 1) {
      const value = jsonValue(next, 0);
      const length = JSON.stringify(value).length;
      const left = jsonLengthBound(value, 1_000_000, 0);
      assert.ok(left >= 0, `bounded: ${JSON.stringify(value)}`);
      assert.ok(
        1_000_000 - left >= length,
        `bound ${1_000_000 - left} under length ${length}: ${JSON.stringify(value)}`,
      );
    }
  });

  test('values that are not plain JSON data have no bound', () => {
    class Counters {
      input = 1;
    }
    for (const value of [
      undefined,
      () => 1,
      1n,
      Symbol('s'),
      new Counters(),
      new Date(0),
      { toJSON: () => 'x' },
      [1, undefined],
    ])
      assert.equal(jsonLengthBound(value, 1_000_000, 0), -1, String(typeof value));
    let nested: unknown = 1;
    for (let depth = 0; depth < 20; depth += 1) nested = [nested];
    assert.equal(jsonLengthBound(nested, 1_000_000, 0), -1, 'deeper than 16');
  });

  test('a usage object is kept, one over the limit becomes a note of its size, whichever way it was decided', () => {
    const usage = { prompt_tokens: 11, completion_tokens: 8, prompt_tokens_details: { cached_tokens: 0 } };
    assert.equal(boundedJson(usage), usage);
    // Near the limit the bound says "measure": 8,192 characters of text fit, 8,193 do not.
    const fits = { note: 'x'.repeat(8_192 - '{"note":""}'.length) };
    assert.equal(JSON.stringify(fits).length, 8_192);
    assert.equal(boundedJson(fits), fits);
    const over = { note: 'x'.repeat(8_193 - '{"note":""}'.length) };
    assert.deepEqual(boundedJson(over), { truncated: true, bytes: 8_193 });
    assert.deepEqual(boundedJson({ when: new Date(0), big: 'x'.repeat(9_000) }), {
      truncated: true,
      bytes: 9_044,
    });
    assert.equal(boundedJson(undefined), null);
    assert.equal(boundedJson(null), null);
    assert.equal(
      boundedJson(() => 1),
      null,
    );
  });
});

describe('text from outside the gateway on a usage record', () => {
  test('arrives without NUL and well-formed, a lone surrogate as U+FFFD', () => {
    const context = chatCompletionsContext('req-text');
    context.outcome.status = 200;
    context.requestedModel = 'gpt\u0000-4 lone \ud800 pair 🚀';
    // Cut at the limit in the middle of a pair: the high half alone is left.
    context.outcome.providerRequestId = `${'x'.repeat(127)}🚀`;
    const record = toUsageRecord(context, performance.now());
    assert.equal(record.requestedModel, 'gpt-4 lone \ufffd pair 🚀');
    assert.ok(record.providerRequestId!.isWellFormed());
    assert.equal(record.providerRequestId, `${'x'.repeat(127)}\ufffd`);
  });
});
