/**
 * The typed seats of the request lifecycle (spec/gateway.md section 1). Each stage is an
 * interface with a pass-through default, so the request path is already complete and every
 * later capability (rate limits, SafetySec, budgets, plugins, routing, usage records) plugs in
 * by supplying an implementation to the composition root, without touching the route files.
 * A stage with nothing to wait for answers synchronously (`Awaitable`): the lifecycle awaits only
 * real promises, so the pass-through seats cost no promise and no microtask per request.
 */
import type { ResolvedModel } from '../config/load.ts';
import type { RequestContext } from './request-context.ts';

export type Awaitable<T> = T | Promise<T>;

/** Rate limits and quotas: throws GatewayError `rate_limit_exceeded` / `quota_exceeded` to deny. */
export interface RateLimitStage {
  evaluate(context: RequestContext): Awaitable<void>;
}

/** SafetySec: inspect (and possibly redact) the request body, then the response. */
export interface SafetyStage {
  inspectRequest(context: RequestContext, body: Record<string, unknown>): Awaitable<void>;
  inspectResponse(context: RequestContext, body: unknown): Awaitable<void>;
}

export interface BudgetReservation {
  /** Records the actual cost and releases the rest of the reservation. */
  settle(costNanos: bigint): Awaitable<void>;
  /** Releases the whole reservation (the call failed before costing anything). */
  release(): Awaitable<void>;
}

/** Budgets: estimate and reserve before the call; throws `budget_exceeded` to deny. */
export interface BudgetStage {
  reserve(context: RequestContext): Awaitable<BudgetReservation>;
}

/** The plugin chain around the provider call. */
export interface PluginStage {
  beforeProvider(context: RequestContext, body: Record<string, unknown>): Awaitable<void>;
  afterProvider(context: RequestContext): Awaitable<void>;
}

/** Routing: the ordered candidate models to try (failover, priority, round robin). */
export interface RoutingStage {
  candidates(context: RequestContext, requested: ResolvedModel): readonly ResolvedModel[];
}

/** Usage records: called once per call after the response is over; must not block or throw. */
export interface UsageStage {
  record(context: RequestContext): void;
}

export interface GatewayStages {
  rateLimit: RateLimitStage;
  safety: SafetyStage;
  budget: BudgetStage;
  plugins: PluginStage;
  routing: RoutingStage;
  usage: UsageStage;
}

const noReservation: BudgetReservation = {
  settle: () => {},
  release: () => {},
};

/** Pass-through stages: what the gateway does until an issue fills a seat. */
export function passThroughStages(): GatewayStages {
  return {
    rateLimit: { evaluate: () => {} },
    safety: { inspectRequest: () => {}, inspectResponse: () => {} },
    budget: { reserve: () => noReservation },
    plugins: { beforeProvider: () => {}, afterProvider: () => {} },
    routing: { candidates: (_context, requested) => [requested] },
    usage: { record: () => {} },
  };
}
