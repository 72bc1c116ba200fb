/**
 * `npm run dashboards`: writes every dashboard's JSON under `observability/grafana/dashboards/
 * <folder>/<uid>.json` and removes JSON files no dashboard generates any more (a renamed uid
 * must not leave its old file provisioned). Commit the result; the dashboards test fails when
 * the committed files differ from what this writes.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { outputDirectory, renderDashboards, repositoryRoot } from './render.ts';

const rendered = await renderDashboards();
const expected = new Set(rendered.map((dashboard) => dashboard.path));

for (const dashboard of rendered) {
  mkdirSync(join(repositoryRoot, dashboard.path, '..'), { recursive: true });
  writeFileSync(join(repositoryRoot, dashboard.path), dashboard.text);
}

const root = join(repositoryRoot, outputDirectory);
for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.json')) continue;
  const path = join(entry.parentPath, entry.name).slice(repositoryRoot.length);
  if (!expected.has(path)) {
    rmSync(join(repositoryRoot, path));
    console.log(`removed ${path}`);
  }
}
console.log(`wrote ${rendered.length} dashboards under ${outputDirectory}/`);
