/**
 * A small static analysis of PromQL over the lezer syntax tree: which series an expression
 * selects, and which labels each sub-expression can carry, so selectors, `by`/`without`,
 * `on`/`group_left` and `label_replace` can be checked against the labels a metric really has
 * (the telemetry catalog for the gateway's metrics, the recording rules for recorded series).
 * Third-party series have unknown label sets (`any`), so only their names are checked.
 */
import { parser } from '@prometheus-io/lezer-promql';

type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

export type LabelSet = ReadonlySet<string> | 'any';

export interface SeriesInfo {
  readonly labels: LabelSet;
  /** `counter` series may be rated; `gauge` ones may not; `unknown` is not checked. */
  readonly kind: 'counter' | 'gauge' | 'unknown';
}

/** Looks a series name up; `undefined` means no known source emits it. */
export type SeriesResolver = (name: string) => SeriesInfo | undefined;

export interface Analysis {
  /** Every series name selected, in order of appearance. */
  readonly series: readonly string[];
  readonly problems: readonly string[];
  /** Labels of the expression's result, in `by`-clause order where there is one. */
  readonly labels: LabelSet;
}

interface Inferred {
  readonly labels: LabelSet;
  readonly scalar: boolean;
}

const scalar: Inferred = { labels: new Set(), scalar: true };
const counterFunctions = new Set(['rate', 'irate', 'increase', 'resets']);
const labelPreservingAggregations = new Set(['topk', 'bottomk', 'limitk', 'limit_ratio']);
const scalarFunctions = new Set(['scalar', 'time', 'pi', 'minute', 'hour', 'day_of_month', 'day_of_week']);

function children(node: SyntaxNode): SyntaxNode[] {
  const list: SyntaxNode[] = [];
  for (let child = node.firstChild; child !== null; child = child.nextSibling) list.push(child);
  return list;
}

function child(node: SyntaxNode, name: string): SyntaxNode | undefined {
  return children(node).find((candidate) => candidate.type.name === name);
}

function has(labels: LabelSet, label: string): boolean {
  return labels === 'any' || labels.has(label);
}

function union(left: LabelSet, right: LabelSet | readonly string[]): LabelSet {
  if (left === 'any' || right === 'any') return 'any';
  return new Set([...left, ...right]);
}

function without(labels: LabelSet, removed: readonly string[]): LabelSet {
  if (labels === 'any') return 'any';
  return new Set([...labels].filter((label) => !removed.includes(label)));
}

function describe(labels: LabelSet): string {
  return labels === 'any' ? '{any}' : `{${[...labels].join(', ')}}`;
}

export function analysePromql(text: string, resolve: SeriesResolver): Analysis {
  const series: string[] = [];
  const problems: string[] = [];
  const source = (node: SyntaxNode) => text.slice(node.from, node.to);
  const unquote = (node: SyntaxNode | undefined) => (node === undefined ? '' : source(node).slice(1, -1));
  const groupingLabels = (node: SyntaxNode | undefined) =>
    node === undefined
      ? []
      : children(node)
          .filter((label) => label.type.name === 'LabelName' || label.type.name === 'QuotedLabelName')
          .map((label) => (label.type.name === 'QuotedLabelName' ? unquote(label) : source(label)));

  function matchersOf(selector: SyntaxNode): Array<{ label: string; operator: string; value: string }> {
    const matchers = child(selector, 'LabelMatchers');
    if (matchers === undefined) return [];
    return children(matchers)
      .filter((matcher) => matcher.type.name.endsWith('LabelMatcher'))
      .map((matcher) => {
        const parts = children(matcher);
        const name = parts.find(
          (part) => part.type.name === 'LabelName' || part.type.name === 'QuotedLabelName',
        );
        return {
          label:
            name === undefined ? '' : name.type.name === 'QuotedLabelName' ? unquote(name) : source(name),
          operator: source(parts.find((part) => part.type.name === 'MatchOp') ?? matcher),
          value: unquote(parts.find((part) => part.type.name === 'StringLiteral')),
        };
      });
  }

  function selector(node: SyntaxNode): Inferred {
    const matchers = matchersOf(node);
    const identifier = child(node, 'Identifier');
    const name =
      identifier !== undefined
        ? source(identifier)
        : matchers.find((matcher) => matcher.label === '__name__' && matcher.operator === '=')?.value;
    if (name === undefined) {
      problems.push(`a selector without a metric name: ${source(node)}`);
      return { labels: 'any', scalar: false };
    }
    series.push(name);
    const info = resolve(name);
    if (info === undefined) {
      problems.push(`unknown series ${name}`);
      return { labels: 'any', scalar: false };
    }
    for (const { label } of matchers)
      if (label !== '__name__' && !has(info.labels, label))
        problems.push(`${name} has no label "${label}" (labels: ${describe(info.labels)})`);
    return { labels: info.labels, scalar: false };
  }

  function selectedSeriesName(node: SyntaxNode): string | undefined {
    const matrix = node.type.name === 'MatrixSelector' ? node : undefined;
    const vector = matrix === undefined ? undefined : child(matrix, 'VectorSelector');
    const identifier = vector === undefined ? undefined : child(vector, 'Identifier');
    return identifier === undefined ? undefined : source(identifier);
  }

  function functionCall(node: SyntaxNode): Inferred {
    const name = source(child(node, 'FunctionIdentifier') ?? node);
    const args = children(child(node, 'FunctionCallBody') ?? node);
    switch (name) {
      case 'label_replace': {
        const input = infer(args[0]!);
        const sourceLabel = unquote(args[3]);
        if (sourceLabel !== '' && !has(input.labels, sourceLabel))
          problems.push(`label_replace reads "${sourceLabel}", which its argument does not carry`);
        return { labels: union(input.labels, [unquote(args[1])]), scalar: false };
      }
      case 'label_join': {
        const input = infer(args[0]!);
        for (const argument of args.slice(3))
          if (!has(input.labels, unquote(argument)))
            problems.push(`label_join reads "${unquote(argument)}", which its argument does not carry`);
        return { labels: union(input.labels, [unquote(args[1])]), scalar: false };
      }
      case 'histogram_quantile':
      case 'histogram_fraction': {
        const input = infer(args[args.length - 1]!);
        if (!input.scalar && !has(input.labels, 'le'))
          problems.push(`${name} over series without an "le" label: ${source(args[args.length - 1]!)}`);
        return { labels: without(input.labels, ['le']), scalar: false };
      }
      case 'absent':
      case 'absent_over_time': {
        infer(args[0]!);
        const vector =
          args[0]?.type.name === 'MatrixSelector' ? child(args[0], 'VectorSelector') : (args[0] ?? undefined);
        const equal =
          vector?.type.name === 'VectorSelector'
            ? matchersOf(vector).filter((matcher) => matcher.operator === '=' && matcher.label !== '__name__')
            : [];
        return { labels: new Set(equal.map((matcher) => matcher.label)), scalar: false };
      }
      case 'vector':
        for (const argument of args) infer(argument);
        return { labels: new Set(), scalar: false };
      default: {
        if (counterFunctions.has(name)) {
          const rated = args[0] === undefined ? undefined : selectedSeriesName(args[0]);
          if (rated !== undefined && resolve(rated)?.kind === 'gauge')
            problems.push(`${name}() of ${rated}, which is not a counter`);
        }
        const inferred = args.map((argument) => infer(argument));
        if (scalarFunctions.has(name)) return scalar;
        return inferred.find((result) => !result.scalar) ?? scalar;
      }
    }
  }

  function aggregation(node: SyntaxNode): Inferred {
    const operator = source(child(node, 'AggregateOp') ?? node);
    const modifier = child(node, 'AggregateModifier');
    const body = children(child(node, 'FunctionCallBody') ?? node);
    const input = infer(body[body.length - 1]!);
    for (const parameter of body.slice(0, -1)) infer(parameter);
    const grouping = groupingLabels(modifier === undefined ? undefined : child(modifier, 'GroupingLabels'));
    const mode = modifier === undefined ? 'none' : child(modifier, 'By') !== undefined ? 'by' : 'without';
    for (const label of grouping)
      if (!has(input.labels, label))
        problems.push(
          `${operator} ${mode} (${label}): its argument carries no "${label}" (labels: ${describe(input.labels)})`,
        );
    let labels: LabelSet;
    if (labelPreservingAggregations.has(operator)) labels = input.labels;
    else if (mode === 'by') labels = new Set(grouping);
    else if (mode === 'without') labels = without(input.labels, grouping);
    else labels = new Set();
    if (operator === 'count_values') labels = union(labels, [unquote(body[0])]);
    return { labels, scalar: false };
  }

  function binary(node: SyntaxNode): Inferred {
    const parts = children(node);
    const left = infer(parts[0]!);
    const right = infer(parts[parts.length - 1]!);
    const operator = parts[1]?.type.name ?? '';
    if (left.scalar && right.scalar) return scalar;
    if (left.scalar) return right;
    if (right.scalar) return left;
    const clause = parts.find((part) => part.type.name === 'MatchingModifierClause');
    const lists =
      clause === undefined ? [] : children(clause).filter((part) => part.type.name === 'GroupingLabels');
    const matching = groupingLabels(lists[0]);
    const include = groupingLabels(lists[1]);
    const on = clause !== undefined && child(clause, 'On') !== undefined;
    const ignoring = clause !== undefined && child(clause, 'Ignoring') !== undefined;
    if (on)
      for (const label of matching)
        for (const [side, labels] of [
          ['left', left.labels],
          ['right', right.labels],
        ] as const)
          if (!has(labels, label)) problems.push(`on (${label}): the ${side} side carries no "${label}"`);
    if (clause !== undefined && child(clause, 'GroupLeft') !== undefined) {
      for (const label of include)
        if (!has(right.labels, label))
          problems.push(`group_left (${label}): the right side carries no "${label}"`);
      return { labels: union(left.labels, include), scalar: false };
    }
    if (clause !== undefined && child(clause, 'GroupRight') !== undefined) {
      for (const label of include)
        if (!has(left.labels, label))
          problems.push(`group_right (${label}): the left side carries no "${label}"`);
      return { labels: union(right.labels, include), scalar: false };
    }
    if (operator === 'Or') return { labels: union(left.labels, right.labels), scalar: false };
    // One-to-one matching on all labels: two different known label sets never match.
    if (!on && left.labels !== 'any' && right.labels !== 'any') {
      const ignored = ignoring ? matching : [];
      const leftKey = [...without(left.labels, ignored)].sort().join(',');
      const rightKey = [...without(right.labels, ignored)].sort().join(',');
      if (leftKey !== rightKey)
        problems.push(
          `"${source(parts[1]!)}" matches ${describe(left.labels)} with ${describe(right.labels)} one-to-one: no series would ever match`,
        );
    }
    return left;
  }

  function infer(node: SyntaxNode): Inferred {
    switch (node.type.name) {
      case 'PromQL':
      case 'ParenExpr':
      case 'MatrixSelector':
      case 'SubqueryExpr':
      case 'OffsetExpr':
      case 'StepInvariantExpr':
      case 'AnchoredExpr':
      case 'SmoothedExpr':
        return infer(children(node)[0]!);
      case 'UnaryExpr': {
        const parts = children(node);
        return infer(parts[parts.length - 1]!);
      }
      case 'VectorSelector':
        return selector(node);
      case 'FunctionCall':
        return functionCall(node);
      case 'AggregateExpr':
        return aggregation(node);
      case 'BinaryExpr':
        return binary(node);
      case 'NumberDurationLiteral':
      case 'StringLiteral':
        return scalar;
      default:
        problems.push(`cannot analyse a ${node.type.name} node: ${source(node)}`);
        return { labels: 'any', scalar: false };
    }
  }

  const result = infer(parser.parse(text).topNode);
  return { series, problems, labels: result.labels };
}
