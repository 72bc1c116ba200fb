/**
 * What a PromQL expression reads, from its @prometheus-io/lezer-promql syntax tree: the metric
 * selectors with their label matchers, and every label an aggregation (`by`, `without`) or a vector
 * match (`on`, `ignoring`, `group_left/right`) names together with the selectors it applies to.
 * Tests use it to check rules against the telemetry catalog.
 */
import { parser } from '@prometheus-io/lezer-promql';

interface SyntaxNode {
  readonly name: string;
  readonly from: number;
  readonly to: number;
  readonly type: { readonly isError: boolean };
  readonly firstChild: SyntaxNode | null;
  readonly nextSibling: SyntaxNode | null;
  getChild(name: string): SyntaxNode | null;
  getChildren(name: string): SyntaxNode[];
}

export interface Selector {
  readonly metric: string;
  readonly matchers: readonly string[];
}

export interface LabelUse {
  /** `by`, `without`, `on`, `ignoring`, `group_left`, `group_right` (for messages). */
  readonly clause: string;
  readonly labels: readonly string[];
  /** The selectors the clause applies to: the aggregated expression, or both sides of the match. */
  readonly selectors: readonly Selector[];
}

export interface PromqlReading {
  readonly selectors: readonly Selector[];
  readonly labelUses: readonly LabelUse[];
  readonly syntaxErrors: readonly string[];
}

function children(node: SyntaxNode): SyntaxNode[] {
  const found: SyntaxNode[] = [];
  for (let child = node.firstChild; child !== null; child = child.nextSibling) found.push(child);
  return found;
}

function descendants(node: SyntaxNode, name: string): SyntaxNode[] {
  const found: SyntaxNode[] = [];
  const walk = (current: SyntaxNode) => {
    if (current.name === name) found.push(current);
    for (const child of children(current)) walk(child);
  };
  walk(node);
  return found;
}

function unquote(literal: string): string {
  return literal.length >= 2 ? literal.slice(1, -1) : literal;
}

export function readPromql(expression: string): PromqlReading {
  const tree = parser.parse(expression);
  const text = (node: SyntaxNode) => expression.slice(node.from, node.to);
  const syntaxErrors: string[] = [];
  const walkErrors = (node: SyntaxNode) => {
    if (node.type.isError) syntaxErrors.push(`at ${node.from}: ${JSON.stringify(text(node) || '(missing)')}`);
    for (const child of children(node)) walkErrors(child);
  };
  walkErrors(tree.topNode as unknown as SyntaxNode);

  const selectorOf = (node: SyntaxNode): Selector | undefined => {
    const identifier = node.getChild('Identifier');
    if (identifier === null) return undefined;
    const matchers = [
      ...descendants(node, 'UnquotedLabelMatcher').map((matcher) => text(matcher.getChild('LabelName')!)),
      ...descendants(node, 'QuotedLabelMatcher').map((matcher) =>
        unquote(text(matcher.getChild('QuotedLabelName')!)),
      ),
    ];
    return { metric: text(identifier), matchers };
  };
  const selectorsIn = (nodes: SyntaxNode[]) =>
    nodes.flatMap((node) => descendants(node, 'VectorSelector')).flatMap((node) => selectorOf(node) ?? []);
  const groupingLabels = (node: SyntaxNode) =>
    node.getChildren('GroupingLabels').flatMap((grouping) => grouping.getChildren('LabelName').map(text));

  const root = tree.topNode as unknown as SyntaxNode;
  const labelUses: LabelUse[] = [];
  for (const aggregate of descendants(root, 'AggregateExpr')) {
    const modifier = aggregate.getChild('AggregateModifier');
    if (modifier === null) continue;
    const clause = modifier.getChild('By') !== null ? 'by' : 'without';
    const body = children(aggregate).filter((child) => child.name !== 'AggregateModifier');
    labelUses.push({ clause, labels: groupingLabels(modifier), selectors: selectorsIn(body) });
  }
  for (const binary of descendants(root, 'BinaryExpr')) {
    const clauseNode = binary.getChild('MatchingModifierClause');
    if (clauseNode === null) continue;
    const operands = children(binary).filter((child) => child.name !== 'MatchingModifierClause');
    const clause = clauseNode.getChild('On') !== null ? 'on' : 'ignoring';
    labelUses.push({ clause, labels: groupingLabels(clauseNode), selectors: selectorsIn(operands) });
  }
  return { selectors: selectorsIn([root]), labelUses, syntaxErrors };
}
