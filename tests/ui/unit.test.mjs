// Unit tests of the UI's pure JavaScript (no browser needed): the LogQL tokenizer,
// completion contexts, filter extraction, time ranges and entry ordering.
//
//   node --test tests/ui/unit.test.mjs
//
// The modules are imported straight from the crate's assets, as the browser loads them.

import { test } from 'node:test';
import assert from 'node:assert/strict';

const assets = new URL('../../crates/skald-ui/assets/js/', import.meta.url);
const { tokenize, lineFilterPatterns, firstSelector, isLogQuery, stringValue, quote } = await import(new URL('lexer.js', assets));
const { completionContext, filterItems } = await import(new URL('complete.js', assets));
const { resolveRange, resolvePoint, msToNanos } = await import(new URL('timerange.js', assets));
const { flatten, sortEntries } = await import(new URL('logs.js', assets));
const { volumeQuery, volumeStep } = await import(new URL('volume.js', assets));
const { niceTicks, levelOf, formatValue } = await import(new URL('format.js', assets));

const types = (text) => tokenize(text).filter((t) => t.type !== 'ws').map((t) => `${t.type}:${t.text}`);

test('tokens are classified for highlighting', () => {
  assert.deepEqual(types('{app="x"} |= "y" | json | level="error"'), [
    'punct:{', 'label:app', 'op:=', 'string:"x"', 'punct:}', 'op:|=', 'string:"y"', 'op:|', 'stage:json',
    'op:|', 'label:level', 'op:=', 'string:"error"',
  ]);
  assert.deepEqual(types('sum by (level) (rate({a="b"}[5m])) > 0.5 # note'), [
    'function:sum', 'keyword:by', 'punct:(', 'ident:level', 'punct:)', 'punct:(', 'function:rate', 'punct:(',
    'punct:{', 'label:a', 'op:=', 'string:"b"', 'punct:}', 'punct:[', 'duration:5m', 'punct:]', 'punct:)',
    'punct:)', 'op:>', 'number:0.5', 'comment:# note',
  ]);
});

test('tokenizing never loses text, even when it is not LogQL', () => {
  for (const text of ['{a="unterminated', '`raw \\ string`', '{a=~"x\\"y"}', '€ @ ;;', '1h30m', '']) {
    assert.equal(tokenize(text).map((t) => t.text).join(''), text);
  }
  const open = tokenize('{a="abc').at(-1);
  assert.equal(open.closed, false);
  assert.equal(stringValue(open), 'abc');
  assert.equal(stringValue(tokenize('"a\\"b\\\\c\\n"')[0]), 'a"b\\c\n');
  assert.equal(quote('say "hi" \\o/'), '"say \\"hi\\" \\\\o/"');
});

test('completion contexts', () => {
  const at = (text) => completionContext(text, text.length);
  assert.deepEqual(at('{'), { kind: 'labels', prefix: '', from: 1, to: 1 });
  assert.deepEqual(at('{app="x", le'), { kind: 'labels', prefix: 'le', from: 10, to: 12 });
  assert.deepEqual(at('{app='), { kind: 'values', label: 'app', prefix: '', from: 5, to: 5, regex: false });
  assert.deepEqual(at('{app=~"ch'), { kind: 'values', label: 'app', prefix: 'ch', from: 6, to: 9, regex: true });
  assert.deepEqual(at('sum by (le'), { kind: 'labels', prefix: 'le', from: 8, to: 10 });
  assert.deepEqual(at('sum by (a, '), { kind: 'labels', prefix: '', from: 11, to: 11 });
  assert.equal(at('{a="b"} | ').afterPipe, true);
  assert.deepEqual(at('cou'), { kind: 'language', prefix: 'cou', from: 0, to: 3, afterPipe: false });
  assert.equal(at('{a="b"} |= "x'), null, 'inside a filter string');
  assert.equal(at('{a="b"'), null, 'right after a value');
  assert.equal(at('{a="b"} | level='), null, 'a value is typed here, not offered');
  // The caret in the middle of a word replaces the whole word.
  assert.deepEqual(completionContext('{apx}', 2), { kind: 'labels', prefix: 'a', from: 1, to: 4 });
});

test('completion items: prefix matches first, then substring matches', () => {
  const items = ['count_over_time', 'rate', 'bytes_rate', 'rate_counter'].map((name) => ({ name, kind: 'f' }));
  assert.deepEqual(filterItems(items, 'rate').map((i) => i.name), ['rate_counter', 'bytes_rate']);
  assert.deepEqual(filterItems(items, 'RA').map((i) => i.name), ['rate', 'rate_counter', 'bytes_rate']);
});

test('line filters become highlight patterns', () => {
  const patterns = lineFilterPatterns('{a="b"} |= "x.y" != "no" |~ "(?i)err(or)?" |= "p" or "q" | json |= ""');
  assert.equal(patterns.length, 4);
  assert.ok(patterns[0].test('a x.y b'));
  patterns[0].lastIndex = 0;
  assert.ok(!patterns[0].test('xzy'), 'a literal is not a regex');
  assert.ok(patterns[1].flags.includes('i'));
  assert.equal(patterns[2].source, 'p');
  assert.equal(patterns[3].source, 'q');
  assert.deepEqual(lineFilterPatterns('{a="b"} |~ "(unclosed"'), [], 'an invalid regex is skipped');
  assert.deepEqual(lineFilterPatterns('{a="b"} |~ ".*"'), [], 'a pattern matching the empty string is skipped');
});

test('selectors and query kinds', () => {
  assert.equal(firstSelector('sum(rate({a="}", b=~"x"} |= "{" [1m]))'), '{a="}", b=~"x"}');
  assert.ok(isLogQuery('  {a="b"} |= "x"'));
  assert.ok(!isLogQuery('rate({a="b"}[1m])'));
});

test('time ranges resolve relative and absolute ends', () => {
  const now = 1_700_000_000_000;
  assert.equal(resolvePoint('now-15m', now), now - 900_000);
  assert.equal(resolvePoint('now-7d', now), now - 7 * 86_400_000);
  assert.deepEqual(resolveRange({ from: 'now-1h', to: 'now' }, now), { startMs: now - 3_600_000, endMs: now });
  assert.deepEqual(resolveRange({ from: '1000', to: '2000' }, now), { startMs: 1000, endMs: 2000 });
  assert.match(resolveRange({ from: 'yesterday', to: 'now' }, now).error, /invalid start/);
  assert.match(resolveRange({ from: '2000', to: '1000' }, now).error, /after its start/);
  assert.equal(msToNanos(1234), 1_234_000_000n);
});

test('entries merge across streams in time order, both directions', () => {
  const streams = [
    { stream: { a: '1' }, values: [['3000000000000000001', 'x3'], ['1000000000000000001', 'x1']] },
    { stream: { a: '2' }, values: [['2000000000000000001', 'y2', { structuredMetadata: { t: 'v' }, parsed: {} }]] },
  ];
  const newest = sortEntries(flatten(streams), 'backward').map((e) => e.line);
  assert.deepEqual(newest, ['x3', 'y2', 'x1']);
  const oldest = sortEntries(flatten(streams), 'forward');
  assert.deepEqual(oldest.map((e) => e.line), ['x1', 'y2', 'x3']);
  assert.deepEqual(oldest[1].metadata, { t: 'v' });
  assert.equal(oldest[1].streamKey, '{a="2"}');
});

test('volume histogram query and step', () => {
  assert.equal(volumeQuery('{a="b"} |= "x"', 60), 'sum by (level, detected_level) (count_over_time({a="b"} |= "x" | drop __error__ [60s]))');
  assert.equal(volumeStep(0, 3_600_000), 60);
  assert.equal(volumeStep(0, 300_000), 5);
  assert.equal(volumeStep(0, 7 * 86_400_000), 7200);
});

test('formatting helpers', () => {
  assert.deepEqual(niceTicks(0, 47, 4), [0, 20, 40, 60]);
  assert.deepEqual(niceTicks(-3, 9, 4), [-5, 0, 5, 10]);
  assert.equal(levelOf({ detected_level: 'WARNING' }), 'warn');
  assert.equal(levelOf({}, { level: 'err' }), 'error');
  assert.equal(levelOf({ job: 'x' }), 'unknown');
  assert.equal(formatValue(12345), '12.35k');
  assert.equal(formatValue(0.123456), '0.1235');
});
