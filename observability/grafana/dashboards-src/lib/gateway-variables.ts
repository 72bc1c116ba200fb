/**
 * Variables shared by the gateway dashboards. `instance` is the scrape target of a gateway
 * replica; `gateway_build_info` exists on every replica from start-up, so the list is complete
 * before the first request.
 */
import { gateway, runtime } from './series.ts';
import { promLabelValues, type Variable } from './variables.ts';

export function gatewayInstanceVariable(): Variable {
  return promLabelValues({
    name: 'instance',
    label: 'Gateway instance',
    description: 'Gateway replicas (scrape targets) to include.',
    selector: runtime.buildInfo,
    labelName: 'instance',
  });
}

export function providerVariable(): Variable {
  return promLabelValues({
    name: 'provider',
    label: 'Provider',
    description: 'Upstream providers to include (names from the gateway configuration).',
    selector: `${gateway.providerRequestsTotal}{instance=~"$instance"}`,
    labelName: 'provider',
  });
}

export function modelVariable(): Variable {
  return promLabelValues({
    name: 'model',
    label: 'Model',
    description: 'Models to include; requests for unknown models are counted under "unknown".',
    selector: `${gateway.providerRequestsTotal}{instance=~"$instance", provider=~"$provider"}`,
    labelName: 'model',
  });
}
