/**
 * The typed seats of the request lifecycle (spec/gateway.md section 1). Each stage is an
 * interface with a pass-through default, so the request path is already complete and every
 * later capability (rate limits, SafetySec, budgets, plugins, routing, usage records) plugs in
 * by supplying an implementation to the composition root, without touching the route files.
 */
import type { ResolvedModel } from '../config/load.ts';
import type { RequestContext } from './request-context.ts';

/** Rate limits and quotas: throws GatewayError `rate_limit_exceeded` / `quota_exceeded` to deny. */
export interface RateLimitStage {
  evaluate(context: RequestContext): Promise<void>;
}

/** SafetySec: inspect (and possibly redact) the request body, then the response. */
export interface SafetyStage {
  inspectRequest(context: RequestContext, body: Record<string, unknown>): Promise<void>;
  inspectResponse(context: RequestContext, body: unknown): Promise<void>;
}

export interface BudgetReservation {
  /** Records the actual cost and releases the rest of the reservation. */
  settle(costNanos: bigint): Promise<void>;
  /** Releases the whole reservation (the call failed before costing anything). */
  release(): Promise<void>;
}

/** Budgets: estimate and reserve before the call; throws `budget_exceeded` to deny. */
export interface BudgetStage {
  reserve(context: RequestContext): Promise<BudgetReservation>;
}

/** The plugin chain around the provider call. */
export interface PluginStage {
  beforeProvider(context: RequestContext, body: Record<string, unknown>): Promise<void>;
  afterProvider(context: RequestContext): Promise<void>;
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
  settle: async () => {},
  release: async () => {},
};

/** Pass-through stages: what the gateway does until an issue fills a seat. */
export function passThroughStages(): GatewayStages {
  return {
    rateLimit: { evaluate: async () => {} },
    safety: { inspectRequest: async () => {}, inspectResponse: async () => {} },
    budget: { reserve: async () => noReservation },
    plugins: { beforeProvider: async () => {}, afterProvider: async () => {} },
    routing: { candidates: (_context, requested) => [requested] },
    usage: { record: () => {} },
  };
}
