import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type ErrorCode, errorRegistry, GatewayError, toGatewayError } from './errors.ts';

const documentationPath = fileURLToPath(new URL('../docs/errors.md', import.meta.url));
// Section 3 of the shared specification, copied into the repository so this test runs in every
// checkout; the shared file itself sits beside the repository in development.
const specificationPath = fileURLToPath(new URL('../docs/spec/gateway-errors.md', import.meta.url));
const sharedSpecificationPath = fileURLToPath(new URL('../../shared/spec/gateway.md', import.meta.url));

function errorsSection(text: string): string | undefined {
  return /^## 3\. Errors$([\s\S]*?)^## /m.exec(text)?.[1];
}

interface DocumentedCode {
  readonly code: string;
  readonly status: number;
  readonly origin: string;
}

/** The rows of the `| Code | Status | Origin | When it happens |` table of docs/errors.md. */
function documentedCodes(): DocumentedCode[] {
  const rows = readFileSync(documentationPath, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('| `'));
  return rows.map((row) => {
    const match = /^\| `([a-z_]+)` \| (\d{3}) \| (spec|addition) \| \S.* \|$/.exec(row);
    assert.ok(
      match,
      `docs/errors.md: a row does not read "| \`code\` | status | spec|addition | when |": ${row}`,
    );
    return { code: match[1]!, status: Number(match[2]), origin: match[3]! };
  });
}

interface SpecifiedRow {
  readonly status: number;
  /** Codes of the row, without the ones the specification itself marks as additions. */
  readonly codes: readonly string[];
  readonly additions: readonly string[];
}

/** The `| Status | Code |` table of section 3 ("Errors") of spec/gateway.md. */
function specifiedRows(): SpecifiedRow[] {
  const section = errorsSection(readFileSync(specificationPath, 'utf8'));
  assert.ok(section, 'spec/gateway.md has no "## 3. Errors" section');
  const rows = section.split('\n').filter((line) => /^\| \d{3} \|/.test(line));
  assert.ok(rows.length > 0, 'spec/gateway.md section 3 has no status table');
  return rows.map((row) => {
    const [, status = '', cell = ''] = /^\| (\d{3}) \| (.*) \|$/.exec(row) ?? [];
    const codes = [...cell.matchAll(/`([a-z_]+)`(\s*\(addition)?/g)];
    return {
      status: Number(status),
      codes: codes.filter((found) => found[2] === undefined).map((found) => found[1]!),
      additions: codes.filter((found) => found[2] !== undefined).map((found) => found[1]!),
    };
  });
}

const registered = Object.entries(errorRegistry) as [ErrorCode, { status: number; message: string }][];

describe('error registry and docs/errors.md', () => {
  const documented = documentedCodes();

  it('documents every registered code once, with its status', () => {
    const documentedStatus = new Map(documented.map((row) => [row.code, row.status]));
    assert.equal(documentedStatus.size, documented.length, 'docs/errors.md lists a code twice');
    assert.deepEqual(
      Object.fromEntries([...documentedStatus].sort()),
      Object.fromEntries(registered.map(([code, entry]) => [code, entry.status]).sort()),
      'docs/errors.md and src/errors.ts disagree (left: docs, right: registry)',
    );
  });

  it('orders the table by status so a reader finds a status in one place', () => {
    const statuses = documented.map((row) => row.status);
    assert.deepEqual(
      statuses,
      [...statuses].sort((left, right) => left - right),
    );
  });

  it('gives every code an HTTP error status and a public message', () => {
    for (const [code, entry] of registered) {
      assert.ok(entry.status >= 400 && entry.status <= 599, `${code}: ${entry.status}`);
      assert.match(entry.message, /^[A-Z].*\.$/, `${code}: the message is a sentence`);
    }
  });
});

describe('error registry and spec/gateway.md section 3', () => {
  it("the copy in docs/spec is the shared specification's section 3, where that is present", (t) => {
    if (!existsSync(sharedSpecificationPath)) {
      t.diagnostic(`${sharedSpecificationPath} is absent: only the copy is checked`);
      return;
    }
    const shared = errorsSection(readFileSync(sharedSpecificationPath, 'utf8'));
    assert.ok(shared, 'the shared spec/gateway.md has no "## 3. Errors" section');
    assert.equal(errorsSection(readFileSync(specificationPath, 'utf8')), shared);
  });

  it('registers every status and code of the specification', () => {
    for (const row of specifiedRows()) {
      for (const code of [...row.codes, ...row.additions]) {
        assert.ok(code in errorRegistry, `spec code ${code} (${row.status}) is not registered`);
        assert.equal(errorRegistry[code as ErrorCode].status, row.status, `status of ${code}`);
      }
      // A row without a code (502: "upstream failure after all attempts") still needs a code with its status.
      if (row.codes.length + row.additions.length === 0)
        assert.ok(
          registered.some(([, entry]) => entry.status === row.status),
          `no registered code answers the specified status ${row.status}`,
        );
    }
  });

  it('marks as "spec" exactly the codes the specification names', () => {
    const specified = new Set(specifiedRows().flatMap((row) => row.codes));
    for (const row of documentedCodes())
      assert.equal(row.origin, specified.has(row.code) ? 'spec' : 'addition', `origin of ${row.code}`);
  });
});

describe('GatewayError', () => {
  it('answers {error: {code, message}} with the registered status and message', () => {
    const error = new GatewayError('model_not_allowed');
    assert.equal(error.status, 403);
    assert.equal(error.code, 'model_not_allowed');
    assert.deepEqual(error.toBody(), {
      error: { code: 'model_not_allowed', message: errorRegistry.model_not_allowed.message },
    });
  });

  it('adds rate-limit details and a validation param to the error object', () => {
    const limited = new GatewayError('rate_limit_exceeded', undefined, {
      details: { scope: 'key', limit: 60, retry_after: 12 },
    });
    assert.equal(limited.status, 429);
    assert.deepEqual(limited.toBody(), {
      error: {
        code: 'rate_limit_exceeded',
        message: 'Rate limit exceeded.',
        scope: 'key',
        limit: 60,
        retry_after: 12,
      },
    });
    const invalid = new GatewayError('invalid_request', 'messages.0.role must be a string.', {
      details: { param: 'messages.0.role' },
    });
    assert.deepEqual(invalid.toBody(), {
      error: {
        code: 'invalid_request',
        message: 'messages.0.role must be a string.',
        param: 'messages.0.role',
      },
    });
  });

  it('keeps the cause in the process and out of the body', () => {
    const cause = new Error('connect ECONNREFUSED 10.0.0.7:5432 password=hunter2');
    const error = new GatewayError('model_lookup_unavailable', undefined, { cause });
    assert.equal(error.cause, cause);
    assert.doesNotMatch(JSON.stringify(error.toBody()), /ECONNREFUSED|hunter2/);
  });

  it('turns anything else thrown into internal_error without its text', () => {
    const original = new GatewayError('budget_exceeded');
    assert.equal(toGatewayError(original), original);
    const wrapped = toGatewayError(new TypeError('cannot read properties of undefined (reading "secret")'));
    assert.equal(wrapped.status, 500);
    assert.deepEqual(wrapped.toBody(), {
      error: { code: 'internal_error', message: errorRegistry.internal_error.message },
    });
    assert.ok(wrapped.cause instanceof TypeError);
    assert.equal(toGatewayError('a string').code, 'internal_error');
  });
});
