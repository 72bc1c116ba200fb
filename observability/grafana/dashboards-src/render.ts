/**
 * Renders every dashboard to the exact text committed under `observability/grafana/dashboards/`:
 * JSON formatted by the repository's Biome configuration, so `npm run lint` accepts the files
 * and `test/stack/dashboards.test.ts` can compare committed and generated text byte for byte.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dashboards } from './dashboards.ts';

export const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Directory of the generated JSON, relative to the repository root. */
export const outputDirectory = 'observability/grafana/dashboards';

export interface RenderedDashboard {
  readonly uid: string;
  readonly folder: string;
  /** Relative to the repository root. */
  readonly path: string;
  readonly text: string;
}

const biome = fileURLToPath(new URL('../../../node_modules/.bin/biome', import.meta.url));

function formatJson(path: string, json: unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      biome,
      ['format', `--stdin-file-path=${path}`],
      { cwd: repositoryRoot, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error !== null) reject(new Error(`biome could not format ${path}: ${stderr || error.message}`));
        else resolve(stdout);
      },
    );
    child.stdin?.end(`${JSON.stringify(json, null, 2)}\n`);
  });
}

export async function renderDashboards(): Promise<RenderedDashboard[]> {
  return Promise.all(
    dashboards.map(async (generated) => {
      const { uid, folder } = generated.entry;
      const path = `${outputDirectory}/${folder}/${uid}.json`;
      return { uid, folder, path, text: await formatJson(path, generated.build()) };
    }),
  );
}
