import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  countTokens,
  maximumEchoLength,
  ReplyWriter,
  splitIntoPieces,
  TextTally,
  truncateEcho,
} from './conversation.ts';

describe('countTokens', () => {
  it('is ceil(characters / 4) with a minimum of 1', () => {
    assert.deepEqual([0, 1, 4, 5, 8, 9, 400].map(countTokens), [1, 1, 1, 2, 2, 3, 100]);
  });
});

describe('TextTally', () => {
  it('counts every text and keeps the last non-empty user turn', () => {
    const tally = new TextTally();
    tally.addUserTurn(['first']);
    tally.add('reply');
    tally.addUserTurn(['a', 'b']);
    tally.addUserTurn([]);
    tally.add(42);
    assert.equal(tally.characters, 5 + 5 + 2);
    assert.equal(tally.lastUserText, 'a\nb');
  });
});

describe('splitIntoPieces', () => {
  it('splits into the requested number of near-equal pieces that rejoin to the text', () => {
    assert.deepEqual(splitIntoPieces('abcdefgh', 4), ['ab', 'cd', 'ef', 'gh']);
    assert.deepEqual(splitIntoPieces('abcdefghij', 3), ['abc', 'defg', 'hij']);
  });

  it('never makes empty pieces, nor splits a surrogate pair', () => {
    assert.deepEqual(splitIntoPieces('ab', 8), ['a', 'b']);
    const emoji = '😀😀😀';
    const pieces = splitIntoPieces(emoji, 6);
    assert.equal(pieces.join(''), emoji);
    assert.ok(
      pieces.every((piece) => piece.length > 0 && piece.isWellFormed()),
      JSON.stringify(pieces),
    );
  });
});

describe('truncateEcho', () => {
  it('keeps at most maximumEchoLength code units without cutting a surrogate pair', () => {
    assert.equal(truncateEcho('short'), 'short');
    assert.equal(truncateEcho('y'.repeat(300)).length, maximumEchoLength);
    const cut = truncateEcho(`${'y'.repeat(maximumEchoLength - 1)}😀tail`);
    assert.equal(cut.length, maximumEchoLength - 1);
    assert.ok(cut.isWellFormed());
  });
});

describe('ReplyWriter', () => {
  it('echoes as JSON literals, and serves the same pre-built reply object when echo is off', () => {
    const echoing = new ReplyWriter(true, 2);
    assert.deepEqual(echoing.reply('say "hi"'), {
      pieceLiterals: ['"say "', '"\\"hi\\""'],
      textLiteral: '"say \\"hi\\""',
    });
    assert.equal(echoing.reply(undefined), echoing.fixedReply);
    const fixed = new ReplyWriter(false, 9);
    assert.equal(fixed.reply('ignored'), fixed.fixedReply);
    assert.equal(
      JSON.parse(fixed.fixedReply.textLiteral),
      'Mock reply from the odock mock upstream. Mock reply',
    );
  });
});
