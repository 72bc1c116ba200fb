/**
 * Syntax checks with the grammars Grafana's own editors use: `@prometheus-io/lezer-promql`,
 * `@grafana/lezer-logql`, `@grafana/lezer-traceql`. A syntax error is a node whose type
 * `isError` (lezer recovers instead of throwing). The grammars do not catch type errors such as
 * `rate()` of a gauge; the coverage test checks those against the catalog.
 */
import { parser as logqlParser } from '@grafana/lezer-logql';
import { parser as traceqlParser } from '@grafana/lezer-traceql';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import type { Language } from './query-inventory.ts';

export const parsers: Readonly<Record<Language, typeof promqlParser>> = {
  promql: promqlParser,
  logql: logqlParser,
  traceql: traceqlParser,
};

/** One message per syntax error, with the text around it; empty when the query parses. */
export function syntaxErrors(language: Language, text: string): string[] {
  if (text.trim() === '') return ['empty query'];
  const errors: string[] = [];
  parsers[language].parse(text).iterate({
    enter(node) {
      if (node.type.isError) {
        const at = Math.max(0, node.from - 20);
        errors.push(
          `syntax error at ${node.from}: …${text.slice(at, node.from)}⟨here⟩${text.slice(node.from, node.from + 20)}…`,
        );
      }
    },
  });
  return errors;
}
