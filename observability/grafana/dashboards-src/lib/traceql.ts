/**
 * TraceQL fragments spelled from the catalog's span names and attributes (telemetry contract,
 * section 4), so a renamed span or attribute fails the build rather than a search.
 */
import { spanAttributes, spanNames } from '../../../../src/observability/catalog.ts';
import { grafanaVariable } from './grafana-variables.ts';

/** `name = "<span name>"`. */
export function spanNamed(key: keyof typeof spanNames): string {
  return `name = "${spanNames[key]}"`;
}

/** `span.<attribute>`: the gateway sets its attributes on spans, not on the resource. */
export function spanAttribute(key: keyof typeof spanAttributes): string {
  return `span.${spanAttributes[key]}`;
}

/** Grafana data-link placeholders, substituted when a series point is clicked. */
export function clickedLabel(label: string): string {
  return grafanaVariable(`__field.labels.${label}`);
}

export const clickedValue = grafanaVariable('__value.raw');

/** A span name as span metrics label it (`span_name`). */
export function spanName(key: keyof typeof spanNames): string {
  return spanNames[key];
}
