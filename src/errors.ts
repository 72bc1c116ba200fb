/**
 * The one registry of gateway error codes (spec/gateway.md section 3).
 * Every error a client can see is declared here with its HTTP status and a public message;
 * `docs/errors.md` is checked against this table by `src/errors.test.ts`.
 */
export const errorRegistry = {
  invalid_request_body: { status: 400, message: 'The request body is not valid JSON.' },
  invalid_request: { status: 400, message: 'The request is not valid.' },
  model_not_found: { status: 400, message: 'The requested model does not exist.' },
  provider_not_configured: { status: 400, message: 'The model refers to a provider that is not configured.' },
  provider_api_key_not_configured: {
    status: 400,
    message: 'The provider of this model has no credential configured.',
  },
  provider_type_unsupported: { status: 400, message: 'The provider type is not supported on this endpoint.' },
  provider_not_allowed: {
    status: 400,
    message: 'The model belongs to a provider family this endpoint does not serve.',
  },
  unauthorized: { status: 401, message: 'A valid API key is required.' },
  api_key_expired: { status: 401, message: 'The API key has expired.' },
  api_key_revoked: { status: 401, message: 'The API key has been revoked.' },
  budget_exceeded: { status: 402, message: 'The budget for this request is exhausted.' },
  model_not_allowed: { status: 403, message: 'The API key may not use this model.' },
  provider_disabled: { status: 403, message: 'The provider of this model is disabled.' },
  provider_api_key_revoked: { status: 403, message: 'The provider credential has been revoked.' },
  safety_blocked: { status: 403, message: 'The request was blocked by a safety policy.' },
  plugin_blocked: { status: 403, message: 'The request was blocked by a plugin.' },
  organization_forbidden: {
    status: 403,
    message: "The credential may not read another organisation's data.",
  },
  upstream_rejected: {
    status: 400,
    message: 'The upstream provider rejected the request as invalid.',
  },
  route_not_found: { status: 404, message: 'No such route.' },
  usage_record_not_found: {
    status: 404,
    message: 'No usage record with this request id in your organisation.',
  },
  method_not_allowed: { status: 405, message: 'The method is not allowed on this route.' },
  request_too_large: { status: 413, message: 'The request body exceeds the configured limit.' },
  rate_limit_exceeded: { status: 429, message: 'Rate limit exceeded.' },
  quota_exceeded: { status: 429, message: 'Quota exceeded.' },
  upstream_rate_limited: { status: 429, message: 'The upstream provider is rate limiting the gateway.' },
  internal_error: { status: 500, message: 'The gateway failed to handle the request.' },
  upstream_error: { status: 502, message: 'The upstream provider failed after all attempts.' },
  model_lookup_unavailable: { status: 503, message: 'Model lookup is temporarily unavailable.' },
  model_access_unavailable: { status: 503, message: 'Model access lookup is temporarily unavailable.' },
  auth_unavailable: { status: 503, message: 'API key lookup is temporarily unavailable.' },
  service_unavailable: { status: 503, message: 'The gateway is shutting down.' },
  upstream_timeout: { status: 504, message: 'The upstream provider did not answer within the deadline.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorRegistry;

export interface ErrorDetails {
  /** Rate-limit denials (spec section 3): which scope denied, its limit, seconds to wait. */
  scope?: string;
  limit?: number;
  retry_after?: number;
  /** Where in the body a validation error was found, e.g. `messages.0.role`. */
  param?: string;
}

/**
 * A failure a client may see. `publicMessage` is safe to send; `cause` stays in the process
 * (logs and traces) and never reaches the client.
 */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly publicMessage: string;
  readonly details: ErrorDetails | undefined;

  constructor(
    code: ErrorCode,
    publicMessage?: string,
    options?: { cause?: unknown; details?: ErrorDetails },
  ) {
    const entry = errorRegistry[code];
    super(
      publicMessage ?? entry.message,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'GatewayError';
    this.code = code;
    this.status = entry.status;
    this.publicMessage = publicMessage ?? entry.message;
    this.details = options?.details;
  }

  /** The JSON body every error response carries: `{"error": {"code", "message", ...details}}`. */
  toBody(): { error: { code: ErrorCode; message: string } & ErrorDetails } {
    return { error: { code: this.code, message: this.publicMessage, ...this.details } };
  }
}

/** Anything thrown that is not a GatewayError becomes `internal_error`; its text never leaves the process. */
export function toGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  return new GatewayError('internal_error', undefined, { cause: error });
}
