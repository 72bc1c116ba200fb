/**
 * bench/tool-args.ts: the bench tools' `--gateway-env` and `--variant` values, which decide what
 * an A/B measures (a variable read wrong would measure the gateway as shipped under another name).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseGatewayEnvironment, parseGatewayVariant } from '../bench/tool-args.ts';

describe('bench tool arguments', () => {
  test('--gateway-env takes KEY=VALUE, the value whole', () => {
    assert.deepEqual(parseGatewayEnvironment(['OBSERVABILITY_SAMPLE_RATE=0', 'NODE_OPTIONS=--a=b c']), {
      OBSERVABILITY_SAMPLE_RATE: '0',
      NODE_OPTIONS: '--a=b c',
    });
    assert.throws(
      () => parseGatewayEnvironment(['1BAD=x']),
      /^Error: --gateway-env: expected KEY=VALUE, got "1BAD=x"$/,
    );
  });

  test('a variant names a gateway with variables, another checkout, or both', () => {
    assert.deepEqual(parseGatewayVariant('sampled 1:OBSERVABILITY_SAMPLE_RATE=1, LOG_LEVEL=silent'), {
      name: 'sampled 1',
      env: { OBSERVABILITY_SAMPLE_RATE: '1', LOG_LEVEL: 'silent' },
    });
    assert.deepEqual(parseGatewayVariant('branch@/tmp/other-checkout'), {
      name: 'branch',
      gatewayRoot: '/tmp/other-checkout',
      env: {},
    });
    assert.deepEqual(parseGatewayVariant('branch, no log@../other:LOG_LEVEL=silent'), {
      name: 'branch, no log',
      gatewayRoot: '../other',
      env: { LOG_LEVEL: 'silent' },
    });
  });

  test('a variant without a checkout or a variable, or with a malformed one, is refused by name', () => {
    for (const text of ['as shipped', ':RATE=1', 'x:', 'x:RATE', 'x:RATE=1,,LOG=2'])
      assert.throws(() => parseGatewayVariant(text), /^Error: --variant: expected /, text);
  });
});
