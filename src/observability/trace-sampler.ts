/**
 * The gateway's sampler: what `ParentBasedSampler({ root: TraceIdRatioBasedSampler(ratio) })`
 * of the OpenTelemetry JS SDK decides, decision for decision (a span with a valid parent follows
 * the parent's sampled flag, remote or local; a root span is sampled when the XOR of its trace
 * id's four 32-bit words is below `ratio` of 2^32), so a trace keeps one decision across this
 * gateway and services sampling with the SDK's sampler at the same ratio.
 *
 * Why not the SDK's pair: every request's root span asks the sampler, and theirs validates the
 * trace id as hex twice (`isValidTraceId`, `isSpanContextValid`) and reads it a character at a
 * time through a property lookup V8 could not inline: 15,000 of the 670,000 instructions a
 * request costs (`node bench/instructions.ts`). The ids it is given are the SDK's own or ones
 * the W3C propagator parsed as valid, so here the ids are only compared with the all-zero ids.
 */
import {
  type Context,
  INVALID_TRACEID,
  SamplingDecision,
  type SamplingResult,
  TraceFlags,
  trace,
} from '@opentelemetry/api';
import type { Sampler } from '@opentelemetry/sdk-trace';
import { validSpanContext } from './spans.ts';

const sampled: SamplingResult = Object.freeze({ decision: SamplingDecision.RECORD_AND_SAMPLED });
const dropped: SamplingResult = Object.freeze({ decision: SamplingDecision.NOT_RECORD });

export class ParentBasedRatioSampler implements Sampler {
  readonly #ratio: number;
  readonly #upperBound: number;

  constructor(ratio: number) {
    // The SDK's normalisation and bound, so the same ratio samples the same trace ids.
    this.#ratio = Number.isNaN(ratio) ? 0 : Math.min(1, Math.max(0, ratio));
    this.#upperBound = this.#ratio === 1 ? 2 ** 32 : Math.floor(this.#ratio * (2 ** 32 - 1));
  }

  shouldSample(context: Context, traceId: string): SamplingResult {
    const parent = validSpanContext(trace.getSpan(context));
    if (parent !== undefined) return (parent.traceFlags & TraceFlags.SAMPLED) !== 0 ? sampled : dropped;
    return traceId !== INVALID_TRACEID && accumulate(traceId) < this.#upperBound ? sampled : dropped;
  }

  toString(): string {
    return `ParentBased{root=TraceIdRatioBased{${this.#ratio}}}`;
  }
}

/**
 * XOR of the trace id's four 32-bit words. Read a character at a time as the SDK does:
 * `parseInt(slice, 16)` leaves optimised code for V8's runtime on every call.
 */
function accumulate(traceId: string): number {
  let accumulation = 0;
  for (let word = 0; word < 32; word += 8) {
    let value = 0;
    for (let index = word; index < word + 8; index += 1) {
      const code = traceId.charCodeAt(index);
      // '0'-'9' are 48-57, 'A'-'F' 65-70, 'a'-'f' 97-102.
      value = (value << 4) | (code < 58 ? code - 48 : code < 71 ? code - 55 : code - 87);
    }
    accumulation = (accumulation ^ value) >>> 0;
  }
  return accumulation;
}
