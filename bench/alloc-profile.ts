/**
 * Summarises a sampled allocation profile (`bench/profile.ts --probe --alloc FILE`, V8's
 * sampling heap profiler with freed objects included): bytes allocated per function, per owner
 * (package or source file) and per nearest user-land caller, optionally per request.
 *
 *   node bench/alloc-profile.ts --help
 */
import { readFile } from 'node:fs/promises';
import { ownerOf } from './cpu-profile.ts';
import { fail, toolArgs } from './tool-args.ts';

const usage = 'node bench/alloc-profile.ts FILE.heapprofile [--requests N] [--top 30]';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  id: number;
  children: HeapNode[];
}

export interface HeapProfile {
  head: HeapNode;
  samples?: Array<{ size: number; nodeId: number }>;
}

export interface AllocationSummary {
  totalBytes: number;
  functions: Array<[string, number]>;
  owners: Array<[string, number]>;
  attributed: Array<[string, number]>;
}

/** Self bytes by function, owner and the nearest caller outside Node's internals. */
export function summariseAllocations(profile: HeapProfile): AllocationSummary {
  const functions = new Map<string, number>();
  const owners = new Map<string, number>();
  const attributed = new Map<string, number>();
  let totalBytes = 0;
  const add = (map: Map<string, number>, key: string, bytes: number) =>
    map.set(key, (map.get(key) ?? 0) + bytes);
  const walk = (node: HeapNode, userCaller: string | undefined) => {
    const { url, functionName, lineNumber } = node.callFrame;
    const owner = ownerOf(url, functionName);
    const caller = url !== '' && !url.startsWith('node:') ? owner : userCaller;
    if (node.selfSize > 0) {
      totalBytes += node.selfSize;
      add(
        functions,
        url === ''
          ? functionName || '(anonymous)'
          : `${functionName || '(anonymous)'} ${owner}:${lineNumber + 1}`,
        node.selfSize,
      );
      add(owners, owner, node.selfSize);
      add(attributed, caller ?? `${owner} (no user-land caller)`, node.selfSize);
    }
    for (const child of node.children) walk(child, caller);
  };
  walk(profile.head, undefined);
  const sorted = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1]);
  return { totalBytes, functions: sorted(functions), owners: sorted(owners), attributed: sorted(attributed) };
}

export function renderAllocations(summary: AllocationSummary, top: number, requests?: number): string {
  const per = (bytes: number) =>
    requests === undefined
      ? `${(bytes / 2 ** 20).toFixed(1)} MiB`
      : `${(bytes / requests / 1024).toFixed(2)} KiB`;
  const unit = requests === undefined ? 'allocated' : 'per request';
  const table = (title: string, rows: Array<[string, number]>) =>
    `### ${title}\n\n| | ${unit} | share |\n|---|---:|---:|\n` +
    rows
      .slice(0, top)
      .map(
        ([name, bytes]) =>
          `| ${name} | ${per(bytes)} | ${((bytes / summary.totalBytes) * 100).toFixed(1)} % |`,
      )
      .join('\n') +
    '\n\n';
  return (
    `Sampled allocations: ${per(summary.totalBytes)} ${unit} in all.\n\n` +
    table('By nearest user-land caller', summary.attributed) +
    table('By owner', summary.owners) +
    table('By function', summary.functions)
  );
}

if (import.meta.main) {
  const { values, positionals } = toolArgs(usage, {
    allowPositionals: true,
    options: { requests: { type: 'string' }, top: { type: 'string', default: '30' } },
  });
  if (positionals[0] === undefined) fail(usage, 'the heap profile to read is missing');
  const profile = JSON.parse(await readFile(positionals[0], 'utf8')) as HeapProfile;
  const requests = values.requests === undefined ? undefined : Number(values.requests);
  process.stdout.write(renderAllocations(summariseAllocations(profile), Number(values.top), requests));
}
