/**
 * The gateway's sampler decides as the SDK's `ParentBasedSampler({ root:
 * TraceIdRatioBasedSampler(ratio) })` does, for root spans (by trace id) and for spans with a
 * local or remote parent, sampled or not.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ROOT_CONTEXT, SpanKind, TraceFlags, trace } from '@opentelemetry/api';
import { ParentBasedSampler, RandomIdGenerator, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace';
import { ParentBasedRatioSampler } from './trace-sampler.ts';

const ids = new RandomIdGenerator();
const traceIds = [
  ...Array.from({ length: 4_000 }, () => ids.generateTraceId()),
  'ffffffffffffffffffffffffffffffff',
  '00000000000000000000000000000001',
  '00000000000000000000000000000000',
];

function decisions(sampler: { shouldSample: ParentBasedSampler['shouldSample'] }, context = ROOT_CONTEXT) {
  return traceIds.map(
    (traceId) => sampler.shouldSample(context, traceId, 'span', SpanKind.SERVER, {}, []).decision,
  );
}

describe('ParentBasedRatioSampler', () => {
  for (const ratio of [0, 0.1, 0.5, 0.999, 1, 7, -1, Number.NaN]) {
    test(`roots sampled at ratio ${ratio} are the SDK's`, () => {
      const expected = decisions(new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }));
      const actual = decisions(new ParentBasedRatioSampler(ratio));
      assert.deepEqual(actual, expected);
      if (ratio === 0.1) {
        const share = actual.filter((decision) => decision !== 0).length / actual.length;
        assert.ok(share > 0.07 && share < 0.13, `about a tenth sampled (${share})`);
      }
    });
  }

  test("a valid parent's flag decides, remote or local; an invalid parent is no parent", () => {
    const parents = [
      { isRemote: false, traceFlags: TraceFlags.SAMPLED },
      { isRemote: false, traceFlags: TraceFlags.NONE },
      { isRemote: true, traceFlags: TraceFlags.SAMPLED },
      { isRemote: true, traceFlags: TraceFlags.NONE },
    ];
    for (const { isRemote, traceFlags } of parents) {
      for (const spanContext of [
        { traceId: ids.generateTraceId(), spanId: ids.generateSpanId(), traceFlags, isRemote },
        { traceId: '00000000000000000000000000000000', spanId: ids.generateSpanId(), traceFlags, isRemote },
        { traceId: ids.generateTraceId(), spanId: '0000000000000000', traceFlags, isRemote },
      ]) {
        const context = trace.setSpanContext(ROOT_CONTEXT, spanContext);
        const expected = decisions(
          new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0.1) }),
          context,
        );
        assert.deepEqual(decisions(new ParentBasedRatioSampler(0.1), context), expected);
      }
    }
  });

  test('describes itself as the SDK pair does', () => {
    assert.equal(new ParentBasedRatioSampler(0.25).toString(), 'ParentBased{root=TraceIdRatioBased{0.25}}');
  });
});
