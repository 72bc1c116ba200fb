/**
 * A reader for the Alloy configuration syntax (blocks, attributes, and the expressions the
 * stack's config uses: strings, numbers, booleans, null, lists, objects, references, calls, and
 * binary operators), so tests can check observability/alloy/config.alloy structurally. No Alloy
 * binary is available here; this parser rejects what Alloy rejects that matters in practice
 * (a `#` comment, an unterminated string or block) and keeps the rest as data.
 */

export type AlloyValue =
  | string
  | number
  | boolean
  | null
  | AlloyValue[]
  | { readonly [key: string]: AlloyValue }
  | { readonly reference: string }
  | { readonly call: string; readonly arguments: AlloyValue[] }
  | { readonly operator: string; readonly left: AlloyValue; readonly right: AlloyValue };

export interface AlloyBlock {
  /** Dotted name, e.g. `loki.process` or `stage.json`. */
  readonly name: string;
  readonly label: string | undefined;
  readonly attributes: Record<string, AlloyValue>;
  readonly blocks: AlloyBlock[];
}

type Token =
  | { kind: 'identifier'; value: string; at: number }
  | { kind: 'string'; value: string; at: number }
  | { kind: 'number'; value: number; at: number }
  | { kind: 'punctuation'; value: string; at: number }
  | { kind: 'end'; at: number };

export class AlloySyntaxError extends Error {}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  const fail = (message: string): never => {
    const line = source.slice(0, index).split('\n').length;
    throw new AlloySyntaxError(`line ${line}: ${message}`);
  };
  while (index < source.length) {
    const character = source[index]!;
    if (/\s/.test(character)) {
      index++;
    } else if (source.startsWith('//', index)) {
      const end = source.indexOf('\n', index);
      index = end === -1 ? source.length : end;
    } else if (source.startsWith('/*', index)) {
      const end = source.indexOf('*/', index + 2);
      if (end === -1) fail('unterminated block comment');
      index = end + 2;
    } else if (character === '#') {
      fail('illegal character "#" (Alloy comments are // or /* */)');
    } else if (character === '"') {
      let value = '';
      index++;
      for (;;) {
        if (index >= source.length || source[index] === '\n') fail('unterminated string');
        const current = source[index]!;
        if (current === '"') break;
        if (current === '\\') {
          const escaped = source[index + 1];
          const escapes: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\' };
          if (escaped === undefined || !(escaped in escapes)) fail(`invalid escape \\${escaped}`);
          value += escapes[escaped!];
          index += 2;
        } else {
          value += current;
          index++;
        }
      }
      index++;
      tokens.push({ kind: 'string', value, at: index });
    } else if (character === '`') {
      const end = source.indexOf('`', index + 1);
      if (end === -1) fail('unterminated raw string');
      tokens.push({ kind: 'string', value: source.slice(index + 1, end), at: index });
      index = end + 1;
    } else if (/[0-9]/.test(character)) {
      const match = /^[0-9]+(\.[0-9]+)?/.exec(source.slice(index))!;
      tokens.push({ kind: 'number', value: Number(match[0]), at: index });
      index += match[0].length;
    } else if (/[A-Za-z_]/.test(character)) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(index))!;
      tokens.push({ kind: 'identifier', value: match[0], at: index });
      index += match[0].length;
    } else {
      const two = source.slice(index, index + 2);
      if (['==', '!=', '<=', '>=', '&&', '||'].includes(two)) {
        tokens.push({ kind: 'punctuation', value: two, at: index });
        index += 2;
      } else if ('{}[](),.=+-*/%<>!'.includes(character)) {
        tokens.push({ kind: 'punctuation', value: character, at: index });
        index++;
      } else {
        fail(`unexpected character ${JSON.stringify(character)}`);
      }
    }
  }
  tokens.push({ kind: 'end', at: source.length });
  return tokens;
}

export function parseAlloy(source: string): AlloyBlock[] {
  const tokens = tokenize(source);
  let position = 0;
  const peek = (offset = 0) => tokens[position + offset]!;
  const next = () => tokens[position++]!;
  const line = (token: Token) => source.slice(0, token.at).split('\n').length;
  const fail = (message: string): never => {
    throw new AlloySyntaxError(`line ${line(peek())}: ${message}`);
  };
  const expect = (value: string) => {
    const token = next();
    if (token.kind !== 'punctuation' || token.value !== value) {
      position--;
      fail(`expected "${value}"`);
    }
  };
  const isPunctuation = (token: Token, value: string) =>
    token.kind === 'punctuation' && token.value === value;

  function dottedName(): string {
    const first = next();
    if (first.kind !== 'identifier') {
      position--;
      fail('expected a name');
    }
    let name = (first as { value: string }).value;
    while (isPunctuation(peek(), '.') && peek(1).kind === 'identifier') {
      next();
      name += `.${(next() as { value: string }).value}`;
    }
    return name;
  }

  function body(closing: 'end' | '}'): { attributes: Record<string, AlloyValue>; blocks: AlloyBlock[] } {
    const attributes: Record<string, AlloyValue> = {};
    const blocks: AlloyBlock[] = [];
    for (;;) {
      const token = peek();
      if (closing === 'end' ? token.kind === 'end' : isPunctuation(token, '}')) break;
      if (token.kind === 'end') fail('unterminated block');
      const name = dottedName();
      if (isPunctuation(peek(), '=')) {
        if (name.includes('.')) fail(`attribute name ${name} cannot contain a dot`);
        next();
        if (name in attributes) fail(`attribute ${name} set twice`);
        attributes[name] = expression();
      } else {
        let label: string | undefined;
        if (peek().kind === 'string') label = (next() as { value: string }).value;
        expect('{');
        const inner = body('}');
        expect('}');
        blocks.push({ name, label, ...inner });
      }
    }
    return { attributes, blocks };
  }

  const precedence: Record<string, number> = {
    '||': 1,
    '&&': 2,
    '==': 3,
    '!=': 3,
    '<': 3,
    '>': 3,
    '<=': 3,
    '>=': 3,
    '+': 4,
    '-': 4,
    '*': 5,
    '/': 5,
    '%': 5,
  };

  function expression(minimum = 1): AlloyValue {
    let left = primary();
    for (;;) {
      const token = peek();
      const rank = token.kind === 'punctuation' ? precedence[token.value] : undefined;
      if (rank === undefined || rank < minimum) return left;
      next();
      left = { operator: (token as { value: string }).value, left, right: expression(rank + 1) };
    }
  }

  function primary(): AlloyValue {
    const token = next();
    if (token.kind === 'string' || token.kind === 'number') return token.value;
    if (isPunctuation(token, '[')) {
      const items: AlloyValue[] = [];
      while (!isPunctuation(peek(), ']')) {
        items.push(expression());
        if (!isPunctuation(peek(), ']')) expect(',');
      }
      next();
      return items;
    }
    if (isPunctuation(token, '{')) {
      const entries: Record<string, AlloyValue> = {};
      while (!isPunctuation(peek(), '}')) {
        const key = next();
        if (key.kind !== 'identifier' && key.kind !== 'string') {
          position--;
          fail('expected an object key');
        }
        expect('=');
        entries[(key as { value: string }).value] = expression();
        if (!isPunctuation(peek(), '}')) expect(',');
      }
      next();
      return entries;
    }
    if (isPunctuation(token, '(')) {
      const inner = expression();
      expect(')');
      return inner;
    }
    if (isPunctuation(token, '-') || isPunctuation(token, '!'))
      return { operator: (token as { value: string }).value, left: null, right: primary() };
    if (token.kind === 'identifier') {
      if (token.value === 'true') return true;
      if (token.value === 'false') return false;
      if (token.value === 'null') return null;
      position--;
      const name = dottedName();
      if (isPunctuation(peek(), '(')) {
        next();
        const args: AlloyValue[] = [];
        while (!isPunctuation(peek(), ')')) {
          args.push(expression());
          if (!isPunctuation(peek(), ')')) expect(',');
        }
        next();
        return { call: name, arguments: args };
      }
      return { reference: name };
    }
    position--;
    return fail('expected a value');
  }

  const top = body('end');
  if (Object.keys(top.attributes).length > 0) fail('attributes outside a block');
  return top.blocks;
}

/** Every block, depth first, with its path of names (for lookups like `loki.process/stage.json`). */
export function allBlocks(blocks: readonly AlloyBlock[]): AlloyBlock[] {
  return blocks.flatMap((block) => [block, ...allBlocks(block.blocks)]);
}

/** Every string anywhere in the configuration (for endpoint checks). */
export function allStrings(blocks: readonly AlloyBlock[]): string[] {
  const strings: string[] = [];
  const visit = (value: AlloyValue) => {
    if (typeof value === 'string') strings.push(value);
    else if (Array.isArray(value)) value.forEach(visit);
    else if (value !== null && typeof value === 'object') Object.values(value).forEach(visit);
  };
  for (const block of allBlocks(blocks)) {
    if (block.label !== undefined) strings.push(block.label);
    Object.values(block.attributes).forEach(visit);
  }
  return strings;
}
