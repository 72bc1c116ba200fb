/**
 * Compares two V8 heap snapshots (`.heapsnapshot`, e.g. from `bench/profile.ts --probe
 * --heap-snapshots DIR`) by constructor: which kinds of objects grew, in count and bytes.
 *
 *   node bench/heap-diff.ts start.heapsnapshot end.heapsnapshot [top]
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

type Census = Map<string, { count: number; bytes: number }>;

export function census(heap: HeapSnapshot): Census {
  const fields = heap.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = heap.snapshot.meta.node_types[0];
  const result: Census = new Map();
  for (let index = 0; index < heap.nodes.length; index += width) {
    const type = types[heap.nodes[index + typeAt]!] ?? '?';
    const raw = heap.strings[heap.nodes[index + nameAt]!] ?? '?';
    // Strings and code are grouped by type; objects by constructor name.
    const name = type === 'object' || type === 'closure' ? `${type} ${raw}` : `(${type})`;
    const entry = result.get(name) ?? { count: 0, bytes: 0 };
    entry.count += 1;
    entry.bytes += heap.nodes[index + sizeAt]!;
    result.set(name, entry);
  }
  return result;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [startPath, endPath, topText] = process.argv.slice(2);
  if (startPath === undefined || endPath === undefined) {
    process.stderr.write('usage: node bench/heap-diff.ts START.heapsnapshot END.heapsnapshot [top]\n');
    process.exit(2);
  }
  const load = async (path: string) => census(JSON.parse(await readFile(path, 'utf8')) as HeapSnapshot);
  const [start, end] = [await load(startPath), await load(endPath)];
  const rows = [...end.entries()]
    .map(([name, after]) => {
      const before = start.get(name) ?? { count: 0, bytes: 0 };
      return { name, count: after.count - before.count, bytes: after.bytes - before.bytes };
    })
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, Number(topText ?? 25));
  process.stdout.write('| Δ bytes | Δ count | constructor |\n| ---: | ---: | --- |\n');
  for (const row of rows) process.stdout.write(`| ${row.bytes} | ${row.count} | ${row.name} |\n`);
}
