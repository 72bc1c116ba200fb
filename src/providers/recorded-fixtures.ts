/**
 * Test support: loads the recorded provider payloads of `test/fixtures/providers/` (their origin
 * is documented in that folder's README) and runs them through an adapter's stream parser.
 */
import { readFileSync } from 'node:fs';
import { decodeSseBody } from './sse.ts';
import type { ProviderAdapter, ProviderFamily, StreamDelta } from './types.ts';

const fixtureRoot = new URL('../../test/fixtures/providers/', import.meta.url);

export function fixtureBytes(family: ProviderFamily, name: string): Uint8Array {
  return readFileSync(new URL(`${family}/${name}`, fixtureRoot));
}

export function fixtureText(family: ProviderFamily, name: string): string {
  return readFileSync(new URL(`${family}/${name}`, fixtureRoot), 'utf8');
}

export function fixtureJson(family: ProviderFamily, name: string): unknown {
  return JSON.parse(fixtureText(family, name));
}

/** Every delta a fresh parser of `adapter` produces for a recorded SSE body. */
export function parseFixtureStream(adapter: ProviderAdapter, name: string): StreamDelta[] {
  const parser = adapter.createStreamParser();
  return decodeSseBody(fixtureBytes(adapter.family, name)).flatMap((event) => parser.parse(event));
}

export function textOf(deltas: StreamDelta[]): string {
  let text = '';
  for (const delta of deltas) if (delta.type === 'text') text += delta.text;
  return text;
}

export function deltasOfType<Type extends StreamDelta['type']>(
  deltas: StreamDelta[],
  type: Type,
): Extract<StreamDelta, { type: Type }>[] {
  return deltas.filter((delta): delta is Extract<StreamDelta, { type: Type }> => delta.type === type);
}
