/**
 * The names a LogQL or TraceQL query relies on, read from the lezer syntax tree: the labels a
 * LogQL query selects, filters and groups on; the span names, span attributes and resource
 * attributes a TraceQL query matches. The coverage test checks them against the catalog.
 */
import { parser as logqlParser } from '@grafana/lezer-logql';
import { parser as traceqlParser } from '@grafana/lezer-traceql';

/** Labels in stream selectors, label filters and `by`/`without` groupings. */
export function logqlLabelNames(text: string): string[] {
  const names: string[] = [];
  logqlParser.parse(text).iterate({
    enter(node) {
      const parent = node.node.parent?.type.name;
      if (node.type.name === 'Identifier' && (parent === 'Matcher' || parent === 'Labels'))
        names.push(text.slice(node.from, node.to));
    },
  });
  return names;
}

/** `name = "..."` values and `span.` / `resource.` attribute names. */
export function traceqlNames(text: string): {
  spanNames: string[];
  spanAttributes: string[];
  resourceAttributes: string[];
} {
  const found = {
    spanNames: [] as string[],
    spanAttributes: [] as string[],
    resourceAttributes: [] as string[],
  };
  traceqlParser.parse(text).iterate({
    enter(node) {
      if (node.type.name === 'AttributeField') {
        const scope = node.node.firstChild?.type.name;
        const identifier = node.node.getChild('Identifier');
        const name = identifier === null ? '' : text.slice(identifier.from, identifier.to);
        if (scope === 'Span') found.spanAttributes.push(name);
        if (scope === 'Resource') found.resourceAttributes.push(name);
      }
      if (node.type.name === 'IntrinsicField' && text.slice(node.from, node.to) === 'name') {
        const value = node.node.parent?.nextSibling?.nextSibling?.getChild('Static')?.getChild('String');
        if (value !== null && value !== undefined)
          found.spanNames.push(text.slice(value.from + 1, value.to - 1));
      }
    },
  });
  return found;
}
