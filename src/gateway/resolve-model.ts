/**
 * Resolves the `model` of a request to a configured model the principal may use on this
 * endpoint (spec/gateway.md section 2: the gateway's own model name maps to the upstream slug,
 * base URL, timeout and provider key). Checks run in the order a caller can act on them.
 */
import type { ResolvedModel, RuntimeConfig } from '../config/load.ts';
import type { ModelType } from '../config/schema.ts';
import { GatewayError } from '../errors.ts';
import type { ProviderFamily } from '../providers/types.ts';
import { modelGranted } from './authenticate.ts';
import type { Principal } from './request-context.ts';

export interface EndpointRequirement {
  /** Provider families this endpoint can serve (native endpoints serve one family). */
  families: readonly ProviderFamily[];
  type: ModelType;
}

export function resolveModel(
  config: RuntimeConfig,
  principal: Principal,
  modelName: string,
  requirement: EndpointRequirement,
): ResolvedModel {
  const model = config.models.get(modelName);
  if (model === undefined)
    throw new GatewayError('model_not_found', `The model "${truncate(modelName)}" does not exist.`);
  if (!modelGranted(principal, model.name))
    throw new GatewayError('model_not_allowed', `The API key may not use the model "${model.name}".`);
  if (model.type !== requirement.type)
    throw new GatewayError('invalid_request', `The model "${model.name}" is a ${model.type} model.`, {
      details: { param: 'model' },
    });
  if (!requirement.families.includes(model.provider.type))
    throw new GatewayError(
      'provider_not_allowed',
      `The model "${model.name}" is served by a ${model.provider.type} provider, which this endpoint does not serve.`,
    );
  if (!model.provider.enabled) throw new GatewayError('provider_disabled');
  if (model.provider.apiKeyEnv !== undefined && model.provider.apiKey === undefined)
    throw new GatewayError(
      'provider_api_key_not_configured',
      `The provider "${model.provider.name}" needs its credential in ${model.provider.apiKeyEnv}.`,
    );
  return model;
}

/** Client-supplied text echoed in an error is bounded, so a huge model name cannot bloat responses. */
function truncate(text: string): string {
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}
