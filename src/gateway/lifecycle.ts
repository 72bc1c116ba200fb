/**
 * The shared steps of every model call, in the order of spec/gateway.md section 1, so each
 * route file reads as: decode → principal → plan → admit (limits, safety, budget, plugins) →
 * execute → account. Route files hold only what differs per endpoint.
 */
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { ResolvedModel, RuntimeConfig } from '../config/load.ts';
import { GatewayError } from '../errors.ts';
import { readJsonObject } from '../http/read-body.ts';
import { spanAttributes, spanNames } from '../observability/catalog.ts';
import type { MetricsRecorder } from '../observability/metrics.ts';
import { inSpan, inSyncSpan } from '../observability/spans.ts';
import type { TokenUsage } from '../providers/types.ts';
import type { Settings } from '../settings.ts';
import type { Authenticator } from './authenticate.ts';
import { computeCostNanos } from './cost.ts';
import type { ProviderCaller } from './provider-call.ts';
import type { Principal, RequestContext } from './request-context.ts';
import { type EndpointRequirement, resolveModel } from './resolve-model.ts';
import type { Awaitable, BudgetReservation, GatewayStages } from './stages.ts';

export interface GatewayServices {
  readonly settings: Settings;
  readonly config: RuntimeConfig;
  readonly authenticator: Authenticator;
  readonly stages: GatewayStages;
  readonly provider: ProviderCaller;
  readonly logger: Logger;
  readonly metrics: MetricsRecorder;
  /** Asks every store to answer; never rejects. */
  readiness(): Promise<{ ready: boolean; checks: Record<string, 'ok' | 'failed'> }>;
}

/**
 * The steps every model route takes, in the order of spec/gateway.md section 1: authenticate,
 * decode and plan, admit, `execute`, settle. Authentication of a cached key, an admission whose
 * stages all pass at once and a settlement with nothing pending answer synchronously and are not
 * awaited: each await of a value already there is a promise and a turn of the microtask queue on
 * every request, and each async function between two waits one more of each.
 */
export async function modelCall<Decoded extends { model: string; body: Record<string, unknown> }>(
  services: GatewayServices,
  context: RequestContext,
  request: IncomingMessage,
  decoder: (body: Record<string, unknown>) => Decoded,
  requirement: EndpointRequirement,
  execute: (decoded: Decoded, candidates: readonly ResolvedModel[]) => Promise<void>,
): Promise<void> {
  const principal = authenticate(services, context, request);
  if (principal instanceof Promise) await principal;
  const { decoded, candidates } = await decodeAndPlan(services, context, request, decoder, requirement);
  const admitted = admit(services, context, decoded.body);
  const reservation = admitted instanceof Promise ? await admitted : admitted;
  try {
    await execute(decoded, candidates);
  } finally {
    const settled = settle(services, context, reservation);
    if (settled !== undefined) await settled;
  }
}

/** The caller's principal, also kept on the context; synchronous when the key is cached. */
export function authenticate(
  services: GatewayServices,
  context: RequestContext,
  request: IncomingMessage,
): Principal | Promise<Principal> {
  const found = services.authenticator.authenticate(request.headers, context.span);
  if (found instanceof Promise)
    return found.then((principal) => {
      context.principal = principal;
      return principal;
    });
  context.principal = found;
  return found;
}

/**
 * Reads and decodes the body (`gateway.request.decode`), then resolves the model and its
 * routing candidates (`gateway.route.resolve`, a child of the decode span as the contract draws it).
 */
export function decodeAndPlan<Decoded extends { model: string }>(
  services: GatewayServices,
  context: RequestContext,
  request: IncomingMessage,
  decoder: (body: Record<string, unknown>) => Decoded,
  requirement: EndpointRequirement,
): Promise<{ decoded: Decoded; candidates: readonly ResolvedModel[] }> {
  return inSpan(context.span, spanNames.requestDecode, (decodeSpan) =>
    readJsonObject(request, services.settings.maxBodyBytes).then((body) => {
      const decoded = decoder(body);
      const candidates = inSyncSpan(decodeSpan, spanNames.routeResolve, (span) => {
        const started = performance.now();
        try {
          return plan(services, context, decoded.model, requirement);
        } catch (error) {
          services.metrics.increment('routingErrorsTotal', {
            error_class: error instanceof GatewayError ? error.code : 'internal_error',
          });
          throw error;
        } finally {
          services.metrics.observe('routingDuration', (performance.now() - started) / 1000);
          if (context.model !== undefined) span.setAttribute(spanAttributes.model, context.model.name);
        }
      });
      return { decoded, candidates };
    }),
  );
}

/** Resolves the model and the routing candidates for it. */
export function plan(
  services: GatewayServices,
  context: RequestContext,
  modelName: string,
  requirement: EndpointRequirement,
): readonly ResolvedModel[] {
  context.requestedModel = modelName;
  const model = resolveModel(services.config, context.principal!, modelName, requirement);
  context.model = model;
  return services.stages.routing.candidates(context, model);
}

/**
 * Rate limits, request-side safety, budget reservation and the pre-call plugins, each after the
 * one before; synchronous while every stage answers at once, a promise from the first that does
 * not. A denial throws (or rejects); a failure of the plugins releases the reservation first.
 */
export function admit(
  services: GatewayServices,
  context: RequestContext,
  body: Record<string, unknown>,
): Awaitable<BudgetReservation> {
  const limited = services.stages.rateLimit.evaluate(context);
  if (limited !== undefined) return limited.then(() => inspectAndReserve(services, context, body));
  return inspectAndReserve(services, context, body);
}

function inspectAndReserve(
  services: GatewayServices,
  context: RequestContext,
  body: Record<string, unknown>,
): Awaitable<BudgetReservation> {
  const { stages } = services;
  const inspected = stages.safety.inspectRequest(context, body);
  if (inspected !== undefined)
    return inspected.then(() =>
      runPluginsWhenReserved(services, context, body, stages.budget.reserve(context)),
    );
  return runPluginsWhenReserved(services, context, body, stages.budget.reserve(context));
}

function runPluginsWhenReserved(
  services: GatewayServices,
  context: RequestContext,
  body: Record<string, unknown>,
  reserved: Awaitable<BudgetReservation>,
): Awaitable<BudgetReservation> {
  if (reserved instanceof Promise)
    return reserved.then((reservation) => runPlugins(services, context, body, reservation));
  return runPlugins(services, context, body, reserved);
}

function runPlugins(
  services: GatewayServices,
  context: RequestContext,
  body: Record<string, unknown>,
  reservation: BudgetReservation,
): Awaitable<BudgetReservation> {
  let pending: Promise<void> | void;
  try {
    pending = services.stages.plugins.beforeProvider(context, body);
  } catch (error) {
    return releaseAndThrow(reservation, error);
  }
  if (pending === undefined) return reservation;
  return pending.then(
    () => reservation,
    (error: unknown) => releaseAndThrow(reservation, error),
  );
}

async function releaseAndThrow(reservation: BudgetReservation, error: unknown): Promise<never> {
  await reservation.release();
  throw error;
}

/** Records the provider's token report and its cost on the context. */
export function account(
  context: RequestContext,
  model: ResolvedModel,
  usage: TokenUsage | undefined,
  raw: unknown,
) {
  context.model = model;
  context.outcome.usage = usage;
  context.outcome.rawUsage = raw;
  context.outcome.costNanos = usage === undefined ? 0n : computeCostNanos(model, usage);
}

/**
 * Settles the reservation with the actual cost, or releases it when nothing was spent, then runs
 * the post-call plugins. Never rejects (a failure is logged); undefined when nothing had to be
 * waited for.
 */
export function settle(
  services: GatewayServices,
  context: RequestContext,
  reservation: BudgetReservation,
): Promise<void> | undefined {
  try {
    const settled =
      context.outcome.costNanos > 0n ? reservation.settle(context.outcome.costNanos) : reservation.release();
    if (settled !== undefined)
      return settled
        .then(() => services.stages.plugins.afterProvider(context))
        .then(undefined, (error: unknown) => settlementFailed(services, context, error));
    const after = services.stages.plugins.afterProvider(context);
    if (after !== undefined)
      return after.then(undefined, (error: unknown) => settlementFailed(services, context, error));
  } catch (error) {
    settlementFailed(services, context, error);
  }
  return undefined;
}

function settlementFailed(services: GatewayServices, context: RequestContext, error: unknown): void {
  services.logger.error({ request_id: context.requestId, err: error }, 'budget settlement failed');
}
