/**
 * The shared steps of every model call, in the order of spec/gateway.md section 1, so each
 * route file reads as: decode → principal → plan → admit (limits, safety, budget, plugins) →
 * execute → account. Route files hold only what differs per endpoint.
 */
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { ResolvedModel, RuntimeConfig } from '../config/load.ts';
import type { TokenUsage } from '../providers/types.ts';
import type { Settings } from '../settings.ts';
import type { Authenticator } from './authenticate.ts';
import { computeCostNanos } from './cost.ts';
import type { ProviderCaller } from './provider-call.ts';
import type { Principal, RequestContext } from './request-context.ts';
import { type EndpointRequirement, resolveModel } from './resolve-model.ts';
import type { BudgetReservation, GatewayStages } from './stages.ts';

export interface GatewayServices {
  readonly settings: Settings;
  readonly config: RuntimeConfig;
  readonly authenticator: Authenticator;
  readonly stages: GatewayStages;
  readonly provider: ProviderCaller;
  readonly logger: Logger;
  /** Asks every store to answer; never rejects. */
  readiness(): Promise<{ ready: boolean; checks: Record<string, 'ok' | 'failed'> }>;
}

export async function authenticate(
  services: GatewayServices,
  context: RequestContext,
  request: IncomingMessage,
): Promise<Principal> {
  const principal = await services.authenticator.authenticate(request.headers);
  context.principal = principal;
  return principal;
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

/** Rate limits, request-side safety, budget reservation and the pre-call plugins. */
export async function admit(
  services: GatewayServices,
  context: RequestContext,
  body: Record<string, unknown>,
): Promise<BudgetReservation> {
  const { stages } = services;
  await stages.rateLimit.evaluate(context);
  await stages.safety.inspectRequest(context, body);
  const reservation = await stages.budget.reserve(context);
  try {
    await stages.plugins.beforeProvider(context, body);
  } catch (error) {
    await reservation.release();
    throw error;
  }
  return reservation;
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

/** Settles the reservation with the actual cost, or releases it when nothing was spent. */
export async function settle(
  services: GatewayServices,
  context: RequestContext,
  reservation: BudgetReservation,
) {
  try {
    if (context.outcome.costNanos > 0n) await reservation.settle(context.outcome.costNanos);
    else await reservation.release();
    await services.stages.plugins.afterProvider(context);
  } catch (error) {
    services.logger.error({ request_id: context.requestId, err: error }, 'budget settlement failed');
  }
}
