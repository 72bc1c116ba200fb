/**
 * Reads what `valgrind --tool=callgrind` writes (format: valgrind's "Callgrind Format
 * Specification") and names V8's generated code from the perf map `node --perf-basic-prof`
 * writes (`/tmp/perf-PID.map`: `start size name`, hex). Callgrind counts instructions, not
 * seconds: the same binary on the same input gives the same count whatever else the machine is
 * doing, which a CPU-time A/B on a shared VM cannot promise.
 *
 * Only self cost (Ir executed inside a function's own code) is summed. JavaScript that V8 has
 * compiled has its own code and is named from the perf map; a function still interpreted runs
 * inside the interpreter's bytecode handlers and is counted there (`(V8 interpreter)`).
 */
import { ownerOf } from './cpu-profile.ts';

export interface CallgrindCost {
  /** The `summary:` (or `totals:`) line: every instruction of the dump. */
  totalInstructions: number;
  /** Self instructions by function, as callgrind names them (`obj` is the ELF object or `???`). */
  functions: ReadonlyArray<{ object: string; name: string; instructions: number }>;
  /** Inclusive instructions of the calls from one function to another, summed over call sites. */
  calls: ReadonlyArray<{ caller: FunctionId; callee: FunctionId; instructions: number }>;
}

export interface FunctionId {
  object: string;
  name: string;
}

/**
 * Self cost per function of one callgrind output file. Name compression (`fn=(12) name`, later
 * `fn=(12)`) is resolved per kind; the cost line after a `calls=` line is the inclusive cost of
 * that call and is not the caller's own.
 */
export function parseCallgrind(text: string): CallgrindCost {
  const names = {
    ob: new Map<string, string>(),
    fl: new Map<string, string>(),
    fn: new Map<string, string>(),
  };
  const kindOf: Record<string, keyof typeof names> = {
    ob: 'ob',
    cob: 'ob',
    fl: 'fl',
    fi: 'fl',
    fe: 'fl',
    cfi: 'fl',
    cfl: 'fl',
    fn: 'fn',
    cfn: 'fn',
  };
  const resolve = (kind: keyof typeof names, value: string): string => {
    const match = /^\((\d+)\)(?: (.*))?$/.exec(value);
    if (match === null) return value;
    const [, id, name] = match;
    if (name !== undefined) {
      names[kind].set(id!, name);
      return name;
    }
    return names[kind].get(id!) ?? `(${id})`;
  };
  const self = new Map<string, { object: string; name: string; instructions: number }>();
  let object = '???';
  let functionObject = '???';
  let functionName = '';
  let callCostFollows = false;
  let calleeObject: string | undefined;
  let calleeName = '';
  const calls = new Map<string, { caller: FunctionId; callee: FunctionId; instructions: number }>();
  let total: number | undefined;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const first = line.charCodeAt(0);
    // Cost lines start with a position: a number, `+n`, `-n` or `*`.
    if ((first >= 48 && first <= 57) || first === 43 || first === 45 || first === 42) {
      const fields = line.split(' ');
      const instructions = Number(fields[1] ?? 0);
      if (callCostFollows) {
        callCostFollows = false;
        // `cob=` names the callee's object for this call only; without it, the caller's.
        const callee = { object: calleeObject ?? functionObject, name: calleeName };
        calleeObject = undefined;
        if (!Number.isFinite(instructions) || instructions === 0) continue;
        const key = `${functionObject}\u0000${functionName}\u0001${callee.object}\u0000${callee.name}`;
        const edge = calls.get(key);
        if (edge === undefined)
          calls.set(key, { caller: { object: functionObject, name: functionName }, callee, instructions });
        else edge.instructions += instructions;
        continue;
      }
      if (!Number.isFinite(instructions) || instructions === 0) continue;
      const key = `${functionObject}\u0000${functionName}`;
      const entry = self.get(key);
      if (entry === undefined) self.set(key, { object: functionObject, name: functionName, instructions });
      else entry.instructions += instructions;
      continue;
    }
    const equals = line.indexOf('=');
    const colon = line.indexOf(':');
    if (equals > 0 && (colon === -1 || equals < colon)) {
      const key = line.slice(0, equals);
      const value = line.slice(equals + 1);
      if (key === 'calls') {
        callCostFollows = true;
        continue;
      }
      const kind = kindOf[key];
      if (kind === undefined) continue;
      const name = resolve(kind, value);
      if (key === 'ob') object = name;
      else if (key === 'fn') {
        functionName = name;
        functionObject = object;
      } else if (key === 'cob') calleeObject = name;
      else if (key === 'cfn') calleeName = name;
      continue;
    }
    // A dump made while instrumentation was toggled carries `summary: 0` and the real count in
    // `totals:`; a file written at exit has both. The larger is the dump's.
    if (line.startsWith('summary:') || line.startsWith('totals:'))
      total = Math.max(
        total ?? 0,
        Number(
          line
            .slice(line.indexOf(':') + 1)
            .trim()
            .split(' ')[0],
        ),
      );
  }
  const functions = [...self.values()].sort((a, b) => b.instructions - a.instructions);
  return {
    totalInstructions: total ?? functions.reduce((sum, entry) => sum + entry.instructions, 0),
    functions,
    calls: [...calls.values()],
  };
}

export interface PerfMapEntry {
  start: number;
  size: number;
  name: string;
  /** Line of the map: V8 appends, so when freed code's addresses are reused, the later entry is the live one. */
  order: number;
}

/** `/tmp/perf-PID.map` lines (`28040040 614 JS:+hot file:///x.mjs:1:13`), sorted by start. */
export function parsePerfMap(text: string): PerfMapEntry[] {
  const entries: PerfMapEntry[] = [];
  for (const line of text.split('\n')) {
    const match = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (match !== null)
      entries.push({
        start: Number.parseInt(match[1]!, 16),
        size: Number.parseInt(match[2]!, 16),
        name: match[3]!,
        order: entries.length,
      });
  }
  return entries.sort((a, b) => a.start - b.start || a.order - b.order);
}

/** How far back from an address the search looks for a code object holding it. */
const overlapWindow = 256;

/**
 * The latest perf map entry whose code holds `address`: the code objects starting at or before
 * it, nearest first, within a window (code objects are small; an older one still covering the
 * address is one whose space was freed and reused).
 */
function lookup(entries: readonly PerfMapEntry[], address: number): PerfMapEntry | undefined {
  let low = 0;
  let high = entries.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (entries[middle]!.start <= address) low = middle + 1;
    else high = middle;
  }
  let found: PerfMapEntry | undefined;
  for (let index = low - 1; index >= 0 && index >= low - overlapWindow; index -= 1) {
    const entry = entries[index]!;
    if (address < entry.start + entry.size && (found === undefined || entry.order > found.order))
      found = entry;
  }
  return found;
}

export interface NamedCost {
  /** A JavaScript function (`name owner:line`), a V8 builtin, or a native function. */
  name: string;
  /** `src/gateway/execute.ts`, `undici`, `node:internal/streams`, `(garbage collector)`, ... */
  owner: string;
  instructions: number;
}

/**
 * `heap::base::SlotCallbackResult v8::internal::Scavenger::ScavengeObject<v8::internal::X>(...)`
 * → `v8::internal::Scavenger::ScavengeObject`: template arguments, parameters and the return
 * type go, so one function's instantiations add up.
 */
export function shortNativeName(symbol: string): string {
  // A trailing `'2` is callgrind's mark for a recursion level.
  let name = symbol.replaceAll('(anonymous namespace)', '{anonymous}').replace(/'\d+$/, '');
  for (let previous = ''; previous !== name; ) {
    previous = name;
    name = name.replace(/<[^<>]*>/g, '');
  }
  name = name.replace(/\([^()]*\)( const)?( \[clone [^\]]*\])*$/, '');
  const space = name.lastIndexOf(' ');
  return space === -1 ? name : name.slice(space + 1);
}

/** What a native symbol of the node binary is, for the owner column. */
function nativeOwner(name: string): string {
  if (
    /Scaveng|MarkCompact|Marking|MarkBit|Sweep|MinorMS|Heap::|Evacuat|Compactor|RememberedSet|BodyDescriptor|SizeFromMap|IterateObjectCache|RootVisitor|Worklist|GlobalHandles|RelocIterator|VisitRelocInfo|LiveObjectVisitor|FreeList|PointersUpdating|MigratedSlot|StringTableCleaner|FlushedBytecode/.test(
      name,
    )
  )
    return '(garbage collector)';
  if (/Json(Stringifier|Parser)|JSDataObjectBuilder/.test(name)) return '(V8 JSON)';
  if (
    /compiler::|turboshaft|maglev::|Maglev|baseline::|Sparkplug|interpreter::Bytecode(Generator|ArrayBuilder)/.test(
      name,
    )
  )
    return '(V8 compiler)';
  if (
    /^Builtins_(Ld|Sta|Star|Lda|Mov|Jump|Call|Construct|Test|Inc|Dec|Add|Sub|Return|Resume|Suspend|Create|Get|Set|Throw|For|Switch|Wide|Extra)[A-Za-z]*Handler$/.test(
      name,
    )
  )
    return '(V8 interpreter)';
  if (name.startsWith('Builtins_')) return '(V8 builtins)';
  if (/^v8::|^Runtime_|^v8_inspector/.test(name)) return '(V8 runtime)';
  if (/^node::|^uv_|^uv__|^llhttp|^ada::|^simdutf|^nghttp|^cares|^ares_/.test(name)) return '(node native)';
  return '(native)';
}

/**
 * Names every function of a callgrind cost: generated code (object `???`, named by its
 * address) from the perf map, V8's builtins and the rest from the symbol callgrind read, each
 * with the owner `bench/cpu-profile.ts` would give the same frame.
 */
export function nameCosts(cost: CallgrindCost, perfMap: readonly PerfMapEntry[]): NamedCost[] {
  const merged = new Map<string, NamedCost>();
  for (const entry of cost.functions) {
    const named = nameOf(entry, perfMap);
    const previous = merged.get(named.name);
    if (previous === undefined) merged.set(named.name, { ...named, instructions: entry.instructions });
    else previous.instructions += entry.instructions;
  }
  return [...merged.values()].sort((a, b) => b.instructions - a.instructions);
}

function nameOf(entry: FunctionId, perfMap: readonly PerfMapEntry[]): { name: string; owner: string } {
  const address = /^0x([0-9a-f]+)$/.exec(entry.name);
  const mapped = address === null ? undefined : lookup(perfMap, Number.parseInt(address[1]!, 16));
  if (mapped !== undefined) return fromPerfMapName(mapped.name);
  if (address !== null) return { name: '(unnamed generated code)', owner: '(unnamed generated code)' };
  const short = shortNativeName(entry.name);
  return { name: short, owner: /kernel/.test(entry.object) ? '(kernel)' : nativeOwner(short) };
}

/**
 * Owners whose cost is not charged to a caller: a collection or a compile job is not the work of
 * the JavaScript that happened to trigger it.
 */
const uncharged = new Set(['(garbage collector)', '(V8 compiler)']);

/**
 * Self cost with every function that is not JavaScript (V8's builtins and runtime, JSON, libc,
 * Node's C++) charged to its nearest JavaScript callers, in proportion to the instructions each
 * caller's calls into it cost: "which JavaScript makes this work". The garbage collector and the
 * compilers stay rows of their own, as does native work no JavaScript called (a thread of its own).
 */
export function chargeToCallers(cost: CallgrindCost, perfMap: readonly PerfMapEntry[]): NamedCost[] {
  const keyOf = (entry: FunctionId) => `${entry.object}\u0000${entry.name}`;
  const named = new Map<string, { name: string; owner: string }>();
  const nameFor = (entry: FunctionId) => {
    const key = keyOf(entry);
    let result = named.get(key);
    if (result === undefined) {
      result = nameOf(entry, perfMap);
      named.set(key, result);
    }
    return result;
  };
  const callers = new Map<string, Array<{ caller: FunctionId; instructions: number }>>();
  for (const edge of cost.calls) {
    const key = keyOf(edge.callee);
    const list = callers.get(key) ?? [];
    list.push({ caller: edge.caller, instructions: edge.instructions });
    callers.set(key, list);
  }
  // The fractions of a function's cost that land on each JavaScript function (or on itself).
  const shares = new Map<string, Map<string, number>>();
  const sharesOf = (entry: FunctionId, depth: number): Map<string, number> => {
    const key = keyOf(entry);
    const known = shares.get(key);
    if (known !== undefined) return known;
    const { name, owner } = nameFor(entry);
    const result = new Map<string, number>();
    const incoming = (callers.get(key) ?? []).filter((edge) => keyOf(edge.caller) !== key);
    const total = incoming.reduce((sum, edge) => sum + edge.instructions, 0);
    const javaScript = !owner.startsWith('(');
    if (javaScript || uncharged.has(owner) || total === 0 || depth > 12) result.set(name, 1);
    else {
      for (const edge of incoming)
        for (const [target, fraction] of sharesOf(edge.caller, depth + 1))
          result.set(target, (result.get(target) ?? 0) + (fraction * edge.instructions) / total);
    }
    shares.set(key, result);
    return result;
  };
  const charged = new Map<string, number>();
  for (const entry of cost.functions)
    for (const [target, fraction] of sharesOf(entry, 0))
      charged.set(target, (charged.get(target) ?? 0) + entry.instructions * fraction);
  const owners = new Map<string, string>();
  for (const value of named.values()) owners.set(value.name, value.owner);
  return [...charged]
    .map(([name, instructions]) => ({ name, owner: owners.get(name) ?? '(native)', instructions }))
    .sort((a, b) => b.instructions - a.instructions);
}

/**
 * `JS:*sendJsonText file:///work/main/src/http/respond.ts:19:5` → `sendJsonText
 * src/http/respond.ts:19` owned by `src/http/respond.ts`; `Builtin:LoadIC` → a builtin. The
 * tier mark after `JS:` (`~` interpreted, `^` Sparkplug, `+` Maglev, `*` TurboFan) is dropped,
 * so a function's tiers add up.
 */
function fromPerfMapName(name: string): { name: string; owner: string } {
  // ES modules are named by `file://` URL, CommonJS modules by path, Node's own by `node:`.
  const js = /^JS:[~^+*']*(.*?) ((?:file:|node:|\/)[^ ]*?)(?::(\d+):\d+)?$/.exec(name);
  if (js !== null) {
    const [, functionName, url, line] = js;
    const owner = ownerOf(url!, functionName ?? '');
    return {
      name: `${functionName || '(anonymous)'} ${owner}${line === undefined ? '' : `:${line}`}`,
      owner,
    };
  }
  if (name.startsWith('JS:')) return { name: name.slice(3).replace(/^[~^+*']+/, ''), owner: '(native)' };
  if (name.startsWith('Builtin:') || name.startsWith('BytecodeHandler:'))
    return {
      name: name.replace(/^[A-Za-z]+:/, 'Builtins_'),
      owner: nativeOwner(name.replace(/^[A-Za-z]+:/, 'Builtins_')),
    };
  return { name, owner: '(V8 generated code)' };
}

/** Sums named costs by owner, largest first. */
export function byOwner(costs: readonly NamedCost[]): Array<{ owner: string; instructions: number }> {
  const owners = new Map<string, number>();
  for (const cost of costs) owners.set(cost.owner, (owners.get(cost.owner) ?? 0) + cost.instructions);
  return [...owners]
    .map(([owner, instructions]) => ({ owner, instructions }))
    .sort((a, b) => b.instructions - a.instructions);
}

/**
 * The instructions of the garbage collector and V8's compilers: discrete events that a measured
 * window catches or not, left out of the count compared between commits or systems.
 */
export function eventDrivenInstructions(named: readonly NamedCost[]): number {
  return byOwner(named)
    .filter((entry) => entry.owner === '(V8 compiler)' || entry.owner === '(garbage collector)')
    .reduce((sum, entry) => sum + entry.instructions, 0);
}
