/**
 * The callgrind reader of `bench/instructions.ts`: self cost per function with valgrind's name
 * compression and call lines, V8's generated code named from a perf map, native symbols
 * shortened and given an owner.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  byOwner,
  chargeToCallers,
  nameCosts,
  parseCallgrind,
  parsePerfMap,
  shortNativeName,
} from '../bench/callgrind.ts';

// The shape callgrind writes for a dump taken with `callgrind_control --dump` after toggling
// instrumentation: `summary: 0`, the real count in `totals:`.
const dump = `# callgrind format
version: 1
creator: callgrind-3.19.0
positions: line
events: Ir
summary: 0

ob=(1) /usr/bin/node
fl=(1) ???
fn=(1) v8::internal::Scavenger::ScavengeObject<v8::internal::FullHeapObjectSlot>(v8::internal::FullHeapObjectSlot, v8::internal::Tagged<v8::internal::HeapObject>)
0 300
+2 100
cob=(2) ???
cfn=(2) 0x0000000028040100
calls=4 0
0 5000
fn=(3) Builtins_LoadIC_Megamorphic
* 70

ob=(2)
fn=(2)
0 900
-1 150
fn=(4) 0x00000000280400f0
0 40
cob=(1)
cfn=(3)
calls=2 0
0 70
fn=(5) 0x0000000029000000
0 7
fn=(6) 0x0000000029100004
0 9
ob=(1)
fn=(1)
0 600

totals: 2176
`;

const perfMap = `28040100 200 JS:*sendJsonText file:///work/main/src/http/respond.ts:19:5
28040040 c0 JS:+writeAccessLog file:///work/main/src/observability/access-log.ts:23:1
29100000 10 JS:*staleCode file:///work/main/src/storage/migrate.ts:1:1
29100000 10 JS:*parseHeaders /work/main/node_modules/undici/lib/core/util.js:449:23
1a27000 3f8 Builtin:DeoptimizationEntry_Eager
`;

describe('callgrind reader', () => {
  it('sums self cost per function and leaves out the inclusive cost of calls', () => {
    const cost = parseCallgrind(dump);
    assert.equal(cost.totalInstructions, 2176);
    const byName = new Map(cost.functions.map((entry) => [entry.name, entry.instructions]));
    // 300 + 100 + 600: the 5000 after `calls=` is the callee's inclusive cost, not the caller's.
    assert.equal(
      byName.get(
        'v8::internal::Scavenger::ScavengeObject<v8::internal::FullHeapObjectSlot>(v8::internal::FullHeapObjectSlot, v8::internal::Tagged<v8::internal::HeapObject>)',
      ),
      1000,
    );
    assert.equal(byName.get('0x0000000028040100'), 1050);
    assert.equal(byName.get('Builtins_LoadIC_Megamorphic'), 70);
    assert.equal(
      cost.functions.reduce((sum, entry) => sum + entry.instructions, 0),
      cost.totalInstructions,
    );
    // `ob=(2)` switched the object back to `???` for the generated code.
    assert.equal(cost.functions.find((entry) => entry.name === '0x0000000028040100')?.object, '???');
  });

  it('names generated code from the perf map and gives every function an owner', () => {
    const named = nameCosts(parseCallgrind(dump), parsePerfMap(perfMap));
    const find = (name: string) => named.find((entry) => entry.name === name);
    assert.deepEqual(find('sendJsonText src/http/respond.ts:19'), {
      name: 'sendJsonText src/http/respond.ts:19',
      owner: 'src/http/respond.ts',
      instructions: 1050,
    });
    // An address inside a code object (not its start) belongs to it.
    assert.equal(find('writeAccessLog src/observability/access-log.ts:23')?.instructions, 40);
    assert.equal(find('(unnamed generated code)')?.instructions, 7);
    // A CommonJS module is named by its path, not a file:// URL; of two code objects at one
    // address (freed code's space reused) the later line of the map is the live one.
    assert.equal(find('staleCode src/storage/migrate.ts:1'), undefined);
    assert.equal(find('parseHeaders undici:449')?.owner, 'undici');
    assert.equal(find('v8::internal::Scavenger::ScavengeObject')?.owner, '(garbage collector)');
    assert.equal(find('Builtins_LoadIC_Megamorphic')?.owner, '(V8 builtins)');
    assert.deepEqual(
      byOwner(named).map((entry) => [entry.owner, entry.instructions]),
      [
        ['src/http/respond.ts', 1050],
        ['(garbage collector)', 1000],
        ['(V8 builtins)', 70],
        ['src/observability/access-log.ts', 40],
        ['undici', 9],
        ['(unnamed generated code)', 7],
      ],
    );
  });

  it("charges a builtin to the JavaScript that called it, never the collector's work", () => {
    const charged = chargeToCallers(parseCallgrind(dump), parsePerfMap(perfMap));
    const find = (name: string) => charged.find((entry) => entry.name === name)?.instructions;
    // Its own 40 and the 70 of the builtin it called (in another object: `cob=`).
    assert.equal(find('writeAccessLog src/observability/access-log.ts:23'), 110);
    assert.equal(find('Builtins_LoadIC_Megamorphic'), undefined);
    // The collector called generated code in this fixture; its own cost stays its own.
    assert.equal(find('v8::internal::Scavenger::ScavengeObject'), 1000);
    assert.equal(find('sendJsonText src/http/respond.ts:19'), 1050);
    assert.equal(
      charged.reduce((sum, entry) => sum + entry.instructions, 0),
      parseCallgrind(dump).totalInstructions,
    );
  });

  it('shortens a C++ symbol to its qualified name', () => {
    assert.equal(
      shortNativeName(
        'heap::base::SlotCallbackResult v8::internal::Scavenger::ScavengeObject<v8::internal::FullHeapObjectSlot>(v8::internal::FullHeapObjectSlot, v8::internal::Tagged<v8::internal::HeapObject>)',
      ),
      'v8::internal::Scavenger::ScavengeObject',
    );
    assert.equal(
      shortNativeName('v8::internal::(anonymous namespace)::IterateObjectCache(v8::internal::Isolate*)'),
      'v8::internal::{anonymous}::IterateObjectCache',
    );
    assert.equal(shortNativeName("v8::internal::Foo::Bar(int) const'2"), 'v8::internal::Foo::Bar');
    assert.equal(shortNativeName('uv_now'), 'uv_now');
  });
});
