/** Costs as exact decimal strings, and CSV fields quoted as RFC 4180 says. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { csvColumns, csvHeader, nanosToUsd, toCsvLine, type UsageRow } from './usage-view.ts';

test('nano-USD become exact USD strings without trailing zeros', () => {
  assert.equal(nanosToUsd(0n), '0');
  assert.equal(nanosToUsd(13_500n), '0.0000135');
  assert.equal(nanosToUsd(1_000_000_000n), '1');
  assert.equal(nanosToUsd(12_345_678_901_234_567_891n), '12345678901.234567891');
  assert.equal(nanosToUsd(-5n), '-0.000000005');
});

test('CSV fields with commas, quotes or line breaks are quoted, inner quotes doubled', () => {
  const row = {
    id: 'a',
    request_id: 'x,"y"\nz',
    requested_at: new Date('2026-01-01T00:00:00Z'),
    cost_nanos: 7n,
    attempts: [{}, {}],
    trace_id: null,
  } as unknown as UsageRow;
  const fields = toCsvLine(row);
  assert.ok(fields.endsWith('\r\n'));
  assert.ok(fields.startsWith('a,"x,""y""\nz",,2026-01-01T00:00:00.000Z,'));
  assert.ok(fields.includes(',7,0.000000007,'));
  assert.ok(fields.trimEnd().endsWith(',2'), 'attempt_count');
  assert.equal(csvHeader().trimEnd().split(',').length, csvColumns.length);
});
