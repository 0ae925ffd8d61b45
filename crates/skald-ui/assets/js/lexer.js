// A small LogQL tokenizer for the browser. It never throws: the server's parser is the
// judge of what is valid, this one only needs to colour text, find where the caret is
// (inside a selector, after a pipe, ...) and pull out the line filters to highlight.

export const RANGE_FUNCTIONS = [
  'count_over_time', 'rate', 'rate_counter', 'bytes_over_time', 'bytes_rate',
  'avg_over_time', 'sum_over_time', 'min_over_time', 'max_over_time',
  'stddev_over_time', 'stdvar_over_time', 'quantile_over_time',
  'first_over_time', 'last_over_time', 'absent_over_time',
];
export const AGGREGATIONS = [
  'sum', 'avg', 'min', 'max', 'count', 'stddev', 'stdvar', 'topk', 'bottomk',
  'sort', 'sort_desc', 'approx_topk',
];
export const OTHER_FUNCTIONS = ['vector', 'label_replace'];
export const KEYWORDS = [
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool',
  'and', 'or', 'unless', 'offset',
];
export const STAGES = [
  'json', 'logfmt', 'regexp', 'pattern', 'unpack', 'line_format', 'label_format',
  'drop', 'keep', 'decolorize', 'unwrap',
];
export const CONVERSIONS = ['duration', 'duration_seconds', 'bytes', 'ip'];

const FUNCTION_SET = new Set([...RANGE_FUNCTIONS, ...AGGREGATIONS, ...OTHER_FUNCTIONS]);
const KEYWORD_SET = new Set(KEYWORDS);
const STAGE_SET = new Set([...STAGES, ...CONVERSIONS]);

// Longest first, so that `|=` wins over `|`.
const OPERATORS = ['|=', '|~', '|>', '!=', '!~', '!>', '=~', '==', '>=', '<=', '=', '>', '<', '|', '+', '-', '*', '/', '%', '^', ','];

/**
 * Splits `text` into tokens `{type, text, start, end, closed?}`. Types: ws, comment,
 * string (closed: false when unterminated), number, duration, ident, function,
 * keyword, stage, label, op, punct, unknown. Identifiers inside `{}` or followed by a
 * comparison are typed `label`.
 */
export function tokenize(text) {
  const tokens = [];
  let i = 0;
  let braceDepth = 0;
  while (i < text.length) {
    const start = i;
    const c = text[i];
    if (/\s/.test(c)) {
      while (i < text.length && /\s/.test(text[i])) i++;
      tokens.push({ type: 'ws', text: text.slice(start, i), start, end: i });
      continue;
    }
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      tokens.push({ type: 'comment', text: text.slice(start, i), start, end: i });
      continue;
    }
    if (c === '"' || c === '`') {
      i++;
      let closed = false;
      while (i < text.length) {
        if (c === '"' && text[i] === '\\') { i += 2; continue; }
        if (text[i] === c) { i++; closed = true; break; }
        i++;
      }
      i = Math.min(i, text.length);
      tokens.push({ type: 'string', text: text.slice(start, i), start, end: i, closed });
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(text[i + 1] || ''))) {
      while (i < text.length && /[0-9.eE_]/.test(text[i])) i++;
      // A unit right after the number makes it a duration or a byte size: 5m, 1h30m, 10KB.
      let type = 'number';
      while (i < text.length && /[a-zA-Zµ]/.test(text[i])) {
        type = 'duration';
        i++;
        while (i < text.length && /[0-9.]/.test(text[i])) i++;
      }
      tokens.push({ type, text: text.slice(start, i), start, end: i });
      continue;
    }
    if (/[a-zA-Z_]/.test(c)) {
      while (i < text.length && /[a-zA-Z0-9_.]/.test(text[i])) i++;
      const word = text.slice(start, i);
      tokens.push({ type: classifyWord(word, text, i, braceDepth), text: word, start, end: i });
      continue;
    }
    if ('{}()[]'.includes(c)) {
      if (c === '{') braceDepth++;
      if (c === '}') braceDepth = Math.max(0, braceDepth - 1);
      i++;
      tokens.push({ type: 'punct', text: c, start, end: i });
      continue;
    }
    const op = OPERATORS.find((candidate) => text.startsWith(candidate, i));
    if (op) {
      i += op.length;
      tokens.push({ type: 'op', text: op, start, end: i });
      continue;
    }
    i++;
    tokens.push({ type: 'unknown', text: c, start, end: i });
  }
  return tokens;
}

function classifyWord(word, text, end, braceDepth) {
  if (braceDepth > 0) return 'label';
  const rest = text.slice(end).trimStart();
  if (/^(=~|!~|!=|==|>=|<=|=|>|<)/.test(rest) && !KEYWORD_SET.has(word)) return 'label';
  if (FUNCTION_SET.has(word)) return 'function';
  if (KEYWORD_SET.has(word)) return 'keyword';
  if (STAGE_SET.has(word)) return 'stage';
  return 'ident';
}

/** The value of a LogQL string token (Go-style escapes in "", none in ``). */
export function stringValue(token) {
  const quote = token.text[0];
  let body = token.text.slice(1);
  if (token.closed) body = body.slice(0, -1);
  if (quote === '`') return body;
  let out = '';
  for (let i = 0; i < body.length; i++) {
    if (body[i] !== '\\' || i + 1 >= body.length) { out += body[i]; continue; }
    i++;
    const escaped = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"' }[body[i]];
    out += escaped === undefined ? '\\' + body[i] : escaped;
  }
  return out;
}

/** A LogQL double-quoted string holding `value`. */
export function quote(value) {
  return '"' + value.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

/** Tokens without whitespace and comments. */
export function significant(tokens) {
  return tokens.filter((t) => t.type !== 'ws' && t.type !== 'comment');
}

/**
 * The line filters of a query as browser regular expressions, for highlighting
 * matches: `|= "x"` and `|~ "re"` (and their `or` alternatives). Negative filters and
 * regexes the browser cannot compile are left out.
 */
export function lineFilterPatterns(query) {
  const tokens = significant(tokenize(query));
  const patterns = [];
  for (let i = 0; i < tokens.length; i++) {
    const op = tokens[i];
    if (op.type !== 'op' || (op.text !== '|=' && op.text !== '|~')) continue;
    let j = i + 1;
    while (j < tokens.length && tokens[j].type === 'string') {
      const value = stringValue(tokens[j]);
      const pattern = op.text === '|=' ? literalPattern(value) : regexPattern(value);
      if (pattern) patterns.push(pattern);
      if (tokens[j + 1] && tokens[j + 1].text === 'or' && tokens[j + 2] && tokens[j + 2].type === 'string') {
        j += 2;
      } else {
        break;
      }
    }
  }
  return patterns;
}

function literalPattern(value) {
  if (value === '') return null;
  return new RegExp(value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'g');
}

function regexPattern(value) {
  let source = value;
  let flags = 'g';
  // RE2's leading flag group; the browser takes flags separately.
  const leading = /^\(\?([imsU]+)\)/.exec(source);
  if (leading) {
    source = source.slice(leading[0].length);
    for (const flag of leading[1]) if (flag === 'i' || flag === 's' || flag === 'm') flags += flag;
  }
  try {
    const pattern = new RegExp(source, flags);
    return pattern.test('') ? null : pattern; // a pattern matching "" would mark nothing useful
  } catch {
    return null;
  }
}

/** The first stream selector `{...}` of a query, or null. */
export function firstSelector(query) {
  const tokens = tokenize(query);
  let open = -1;
  for (const token of tokens) {
    if (token.type === 'punct' && token.text === '{' && open < 0) open = token.start;
    if (token.type === 'punct' && token.text === '}' && open >= 0) return query.slice(open, token.end);
  }
  return null;
}

/** Whether a query is a log query (starts with a stream selector), not a metric one. */
export function isLogQuery(query) {
  const first = significant(tokenize(query))[0];
  return Boolean(first && first.type === 'punct' && first.text === '{');
}
