/**
 * Grafana's `${name}` variable syntax, written through a template literal so a reader (and the
 * linter) never takes it for a JavaScript placeholder that was meant to be substituted here.
 * Grafana substitutes it when the dashboard renders or a link is clicked.
 */
export function grafanaVariable(name: string): string {
  return `\${${name}}`;
}
