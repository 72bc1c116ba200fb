/**
 * Failures the adapters themselves raise. Upstream HTTP errors are not exceptions here: they are
 * classified by `ProviderAdapter.parseError`. These two cover the cases no classification fits.
 */

/** The upstream sent something that breaks its own protocol (a stream event that is not JSON...). */
export class ProviderProtocolError extends Error {
  override name = 'ProviderProtocolError';
}

/**
 * The client's request cannot be expressed in this provider's wire format (a tool result whose
 * tool call is unknown, tool-call arguments that are not JSON...). The gateway maps it to 400.
 */
export class RequestTranslationError extends Error {
  override name = 'RequestTranslationError';
}

/**
 * 408 and 409 are transient by definition, 429 may clear or another route may have capacity,
 * and 5xx (Anthropic's 529 "overloaded" included) is the upstream's own failure.
 */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** The message to relay when an error body carries none of its own. */
export function fallbackErrorMessage(status: number): string {
  return `The upstream provider answered HTTP ${status}.`;
}

/**
 * Parses a JSON event payload or raises `ProviderProtocolError`: every stream event of the three
 * families is a JSON object, so anything else means the stream is corrupt.
 */
export function parseEventJson(data: string, family: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    throw new ProviderProtocolError(`${family} stream event is not JSON: ${data.slice(0, 200)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProviderProtocolError(`${family} stream event is not a JSON object: ${data.slice(0, 200)}`);
  }
  return value as Record<string, unknown>;
}
