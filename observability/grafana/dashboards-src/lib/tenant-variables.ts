/**
 * Variables of the token and organisation views. Organisation and key ids exist only on the
 * token and cost counters (telemetry contract, "decision" on tenant labels), so these lists
 * come from `gateway_tokens_total`. With `OBSERVABILITY_TENANT_LABELS=none` they are empty and
 * the per-tenant panels show one unlabelled series.
 */
import { gateway } from './series.ts';
import { promLabelValues, type Variable } from './variables.ts';

export function tokenProviderVariable(): Variable {
  return promLabelValues({
    name: 'provider',
    label: 'Provider',
    description: 'Providers to include.',
    selector: gateway.tokensTotal,
    labelName: 'provider',
  });
}

export function tokenModelVariable(): Variable {
  return promLabelValues({
    name: 'model',
    label: 'Model',
    description: 'Models to include.',
    selector: `${gateway.tokensTotal}{provider=~"$provider"}`,
    labelName: 'model',
  });
}

export function organizationVariable(): Variable {
  return promLabelValues({
    name: 'organization',
    label: 'Organisation',
    description: 'Organisations (organization_id) to include.',
    selector: gateway.tokensTotal,
    labelName: 'organization_id',
  });
}

export function apiKeyVariable(): Variable {
  return promLabelValues({
    name: 'api_key',
    label: 'API key',
    description: 'Virtual API keys (api_key_id, never the secret) of the selected organisations.',
    selector: `${gateway.tokensTotal}{organization_id=~"$organization"}`,
    labelName: 'api_key_id',
  });
}

/**
 * `billable` is input + output (or embeddings) tokens, the class budgets and the token alerts
 * use; summing every class would count the same tokens twice.
 */
export function tokenClassVariable(): Variable {
  return promLabelValues({
    name: 'token_class',
    label: 'Token class',
    description:
      'Token classes to chart; billable = input + output (or embeddings). Do not add billable to the others.',
    selector: gateway.tokensTotal,
    labelName: 'token_class',
    current: 'billable',
    multi: false,
  });
}
