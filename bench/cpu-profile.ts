/**
 * Reads a V8 `.cpuprofile` (what `node --cpu-prof` writes) and summarises where the time went:
 * self time per function (file:line), inclusive time per function, and self time per code
 * owner (a source file of the gateway, a package, Node's internals, the garbage collector).
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  /** Milliseconds. */
  selfMs: number;
  totalMs: number;
  /** Share of the busy (non-idle) time. */
  selfShare: number;
  totalShare: number;
}

export interface ProfileSummary {
  wallMs: number;
  busyMs: number;
  idleMs: number;
  functions: ProfileEntry[];
  owners: ProfileEntry[];
  /**
   * Self time charged to the nearest caller outside Node's internals and native code: a
   * socket write made for a log line counts for pino, one made for the response for
   * src/http/respond.ts. Answers "which part of the gateway causes this cost".
   */
  attributed: ProfileEntry[];
}

/** `src/http/server.ts`, `undici`, `node:internal/...`: who owns the code of a frame. */
export function ownerOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const path = url.replace(/^file:\/\//, '');
  const modules = path.lastIndexOf('/node_modules/');
  if (modules !== -1) {
    const rest = path.slice(modules + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (path.startsWith('node:')) return path.split('/').slice(0, 2).join('/');
  const source = /\/(src|bench|test)\/(.*)$/.exec(path);
  return source ? `${source[1]}/${source[2]}` : path;
}

function frameName(frame: CallFrame): string {
  const owner = ownerOf(frame.url, frame.functionName);
  const name = frame.functionName || '(anonymous)';
  if (frame.url === '') return name;
  // V8 line numbers are 0-based.
  return `${name} ${owner}:${frame.lineNumber + 1}`;
}

const nonBusy = new Set(['(idle)', '(program)']);

/**
 * Summarises the samples taken inside `window` (microseconds of CLOCK_MONOTONIC, the clock of
 * both V8's profile timestamps and `process.hrtime`), or all of them.
 */
export function summariseProfile(
  profile: CpuProfile,
  window?: { fromUs: number; toUs: number },
): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const selfUs = new Map<number, number>();
  let timestamp = profile.startTime;
  let firstUs = Number.POSITIVE_INFINITY;
  let lastUs = Number.NEGATIVE_INFINITY;
  for (let index = 0; index < profile.samples.length; index++) {
    const delta = profile.timeDeltas[index] ?? 0;
    timestamp += delta;
    if (window !== undefined && (timestamp < window.fromUs || timestamp > window.toUs)) continue;
    firstUs = Math.min(firstUs, timestamp - delta);
    lastUs = Math.max(lastUs, timestamp);
    const id = profile.samples[index]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }

  const functionSelf = new Map<string, number>();
  const functionTotal = new Map<string, number>();
  const ownerSelf = new Map<string, number>();
  const ownerTotal = new Map<string, number>();
  const attributedSelf = new Map<string, number>();
  let idleUs = 0;
  let busyUs = 0;
  for (const [id, microseconds] of selfUs) {
    const node = byId.get(id)!;
    const leafName = node.callFrame.functionName;
    if (node.callFrame.url === '' && nonBusy.has(leafName)) {
      if (leafName === '(idle)') idleUs += microseconds;
      else busyUs += microseconds;
      // (program) is V8 work outside JS (compilation, runtime): busy, but has no stack.
    } else busyUs += microseconds;
    const name = frameName(node.callFrame);
    functionSelf.set(name, (functionSelf.get(name) ?? 0) + microseconds);
    const owner = ownerOf(node.callFrame.url, leafName);
    ownerSelf.set(owner, (ownerSelf.get(owner) ?? 0) + microseconds);
    // Inclusive time: every distinct function and owner on the stack, once per sample.
    const seenFunctions = new Set<string>();
    const seenOwners = new Set<string>();
    let attributedTo: string | undefined;
    for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
      const frame = byId.get(current)!.callFrame;
      if (frame.functionName === '(root)') continue;
      if (attributedTo === undefined && frame.url !== '' && !frame.url.startsWith('node:'))
        attributedTo = ownerOf(frame.url, frame.functionName);
      const stackName = frameName(frame);
      if (!seenFunctions.has(stackName)) {
        seenFunctions.add(stackName);
        functionTotal.set(stackName, (functionTotal.get(stackName) ?? 0) + microseconds);
      }
      const stackOwner = ownerOf(frame.url, frame.functionName);
      if (!seenOwners.has(stackOwner)) {
        seenOwners.add(stackOwner);
        ownerTotal.set(stackOwner, (ownerTotal.get(stackOwner) ?? 0) + microseconds);
      }
    }
    attributedTo ??= node.callFrame.url === '' ? owner : 'node (no user-land caller)';
    attributedSelf.set(attributedTo, (attributedSelf.get(attributedTo) ?? 0) + microseconds);
  }
  const entries = (self: Map<string, number>, total: Map<string, number>): ProfileEntry[] =>
    [...total.keys()]
      .filter((name) => name !== '(idle)')
      .map((name) => ({
        name,
        selfMs: (self.get(name) ?? 0) / 1000,
        totalMs: (total.get(name) ?? 0) / 1000,
        selfShare: busyUs === 0 ? 0 : (self.get(name) ?? 0) / busyUs,
        totalShare: busyUs === 0 ? 0 : (total.get(name) ?? 0) / busyUs,
      }))
      .sort((a, b) => b.selfMs - a.selfMs);
  return {
    wallMs: lastUs > firstUs ? (lastUs - firstUs) / 1000 : 0,
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    functions: entries(functionSelf, functionTotal),
    owners: entries(ownerSelf, ownerTotal),
    attributed: entries(attributedSelf, attributedSelf),
  };
}

export function renderProfileSummary(summary: ProfileSummary, top: number, requests?: number): string {
  const percent = (share: number) => `${(share * 100).toFixed(1)} %`;
  const perRequest = (ms: number) => (requests ? `${((ms * 1000) / requests).toFixed(1)} µs` : '');
  const lines = [
    `wall ${summary.wallMs.toFixed(0)} ms, busy ${summary.busyMs.toFixed(0)} ms, idle ${summary.idleMs.toFixed(0)} ms` +
      (requests
        ? `, ${requests} requests: ${((summary.busyMs * 1000) / requests).toFixed(1)} µs busy per request`
        : ''),
    '',
    '| self | self/req | charged to (nearest caller outside Node internals) |',
    '| ---: | ---: | --- |',
    ...summary.attributed
      .slice(0, top)
      .map((entry) => `| ${percent(entry.selfShare)} | ${perRequest(entry.selfMs)} | ${entry.name} |`),
    '',
    '| self | self/req | total | code owner |',
    '| ---: | ---: | ---: | --- |',
    ...summary.owners
      .slice(0, top)
      .map(
        (entry) =>
          `| ${percent(entry.selfShare)} | ${perRequest(entry.selfMs)} | ${percent(entry.totalShare)} | ${entry.name} |`,
      ),
    '',
    '| self | self/req | total | function |',
    '| ---: | ---: | ---: | --- |',
    ...summary.functions
      .slice(0, top)
      .map(
        (entry) =>
          `| ${percent(entry.selfShare)} | ${perRequest(entry.selfMs)} | ${percent(entry.totalShare)} | \`${entry.name}\` |`,
      ),
  ];
  return `${lines.join('\n')}\n`;
}

/** Inclusive share of the functions whose name matches, for "how much does X cost in total". */
export function inclusiveOf(summary: ProfileSummary, pattern: RegExp): ProfileEntry[] {
  return summary.functions.filter((entry) => pattern.test(entry.name)).sort((a, b) => b.totalMs - a.totalMs);
}
