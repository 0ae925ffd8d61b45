// Autocompletion for the editor: label names and values (asked from the server for the
// current time range, cached briefly) inside a stream selector or a `by (...)`, and
// LogQL functions, keywords and pipeline stages elsewhere.

import {
  tokenize, significant, stringValue, quote,
  RANGE_FUNCTIONS, AGGREGATIONS, OTHER_FUNCTIONS, KEYWORDS, STAGES, CONVERSIONS,
} from './lexer.js';
import { labelNames, labelValues } from './api.js';
import { h } from './format.js';

const WORD_TYPES = new Set(['ident', 'label', 'function', 'keyword', 'stage']);
const MATCHER_OPS = new Set(['=', '!=', '=~', '!~']);
const MAX_SHOWN = 60;
const CACHE_MS = 30000;

/**
 * What the caret is in: `{kind: 'labels'|'values'|'language', prefix, from, to, label?,
 * afterPipe?}`, or null where nothing is to be offered. `from`/`to` is the text the
 * chosen item replaces.
 */
export function completionContext(text, caret) {
  const tokens = tokenize(text.slice(0, caret));
  let prefix = '';
  let from = caret;
  let inString = false;
  const last = tokens[tokens.length - 1];
  if (last && WORD_TYPES.has(last.type) && last.end === caret) {
    prefix = last.text;
    from = last.start;
    tokens.pop();
  } else if (last && last.type === 'string' && !last.closed) {
    prefix = stringValue(last);
    from = last.start;
    inString = true;
    tokens.pop();
  } else if (last && last.type === 'string') {
    return null; // right after a closed string
  }
  // The replaced text runs on over the rest of the word after the caret.
  let to = caret;
  if (!inString) while (to < text.length && /[a-zA-Z0-9_]/.test(text[to])) to++;

  const sig = significant(tokens);
  const prev = sig[sig.length - 1];
  const beforePrev = sig[sig.length - 2];
  let braceDepth = 0;
  const parens = []; // token index of each unclosed '('
  sig.forEach((token, index) => {
    if (token.text === '{' && token.type === 'punct') braceDepth++;
    if (token.text === '}' && token.type === 'punct') braceDepth = Math.max(0, braceDepth - 1);
    if (token.text === '(' && token.type === 'punct') parens.push(index);
    if (token.text === ')' && token.type === 'punct') parens.pop();
  });

  const afterMatcher = prev && prev.type === 'op' && MATCHER_OPS.has(prev.text) && beforePrev && beforePrev.type === 'label';
  if (braceDepth > 0) {
    if (afterMatcher && (inString || prefix === '')) {
      return { kind: 'values', label: beforePrev.text, prefix, from, to, regex: prev.text.endsWith('~') };
    }
    if (!inString && (!prev || prev.text === '{' || prev.text === ',')) return { kind: 'labels', prefix, from, to };
    return null;
  }
  if (inString) return null;
  const openParen = parens.length ? sig[parens[parens.length - 1] - 1] : null;
  if (openParen && (openParen.text === 'by' || openParen.text === 'without' || openParen.text === 'on' || openParen.text === 'ignoring')) {
    if (prev && (prev.text === '(' || prev.text === ',')) return { kind: 'labels', prefix, from, to };
    return null;
  }
  if (prev && prev.type === 'op' && prev.text === '|') return { kind: 'language', prefix, from, to, afterPipe: true };
  if (prev && (prev.type === 'op' || prev.type === 'label')) return null; // a value or a comparison comes next
  return { kind: 'language', prefix, from, to, afterPipe: false };
}

function languageItems(afterPipe) {
  if (afterPipe) {
    return [
      ...STAGES.map((name) => ({ name, kind: 'stage' })),
    ];
  }
  return [
    ...RANGE_FUNCTIONS.map((name) => ({ name, insert: `${name}(`, kind: 'range function' })),
    ...AGGREGATIONS.map((name) => ({ name, insert: `${name}(`, kind: 'aggregation' })),
    ...OTHER_FUNCTIONS.map((name) => ({ name, insert: `${name}(`, kind: 'function' })),
    ...KEYWORDS.map((name) => ({ name, kind: 'keyword' })),
    ...CONVERSIONS.map((name) => ({ name, insert: `${name}(`, kind: 'conversion' })),
  ];
}

/** Items whose name starts with the prefix first, then those containing it. */
export function filterItems(items, prefix) {
  const lower = prefix.toLowerCase();
  const starts = [];
  const contains = [];
  for (const item of items) {
    const name = item.name.toLowerCase();
    if (name === lower && item.kind !== 'value') continue; // already typed in full
    if (name.startsWith(lower)) starts.push(item);
    else if (lower && name.includes(lower)) contains.push(item);
  }
  return [...starts, ...contains].slice(0, MAX_SHOWN);
}

export class Completer {
  constructor({ editor, list, rangeNanos }) {
    this.editor = editor;
    this.list = list;
    this.rangeNanos = rangeNanos;
    this.items = [];
    this.active = 0;
    this.context = null;
    this.generation = 0;
    this.cache = new Map();
    list.addEventListener('mousedown', (event) => {
      const item = event.target.closest('li');
      if (!item) return;
      event.preventDefault();
      this.accept(Number(item.dataset.index));
    });
    editor.textarea.addEventListener('blur', () => setTimeout(() => this.close(), 150));
  }

  get isOpen() {
    return !this.list.hidden;
  }

  /** Recomputes the suggestions at the caret. `explicit` (Ctrl+Space) also opens on an empty word. */
  async update(explicit = false) {
    const generation = ++this.generation;
    const text = this.editor.value;
    const context = completionContext(text, this.editor.caret);
    if (!context || (context.kind === 'language' && !context.prefix && !explicit && !context.afterPipe)) {
      this.close();
      return;
    }
    let items;
    try {
      items = await this.itemsFor(context);
    } catch {
      items = [];
    }
    if (generation !== this.generation) return; // the text moved on meanwhile
    this.context = context;
    this.items = filterItems(items, context.prefix);
    this.active = 0;
    this.show();
  }

  async itemsFor(context) {
    if (context.kind === 'language') return languageItems(context.afterPipe);
    const { startNs, endNs } = this.rangeNanos();
    if (context.kind === 'labels') {
      const names = await this.cached(`labels`, () => labelNames(startNs, endNs));
      return names.filter((name) => !name.startsWith('__')).map((name) => ({ name, kind: 'label' }));
    }
    const values = await this.cached(`values:${context.label}`, () => labelValues(context.label, startNs, endNs));
    return values.map((value) => {
      const literal = context.regex ? value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : value;
      return { name: value, insert: quote(literal), kind: 'value' };
    });
  }

  async cached(key, load) {
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.value;
    const value = await load();
    this.cache.set(key, { at: Date.now(), value });
    return value;
  }

  /** Forgets cached names and values (the time range changed). */
  invalidate() {
    this.cache.clear();
  }

  show() {
    if (!this.items.length) {
      this.close();
      return;
    }
    const fragment = document.createDocumentFragment();
    this.items.forEach((item, index) => {
      fragment.append(h('li', {
        role: 'option',
        class: 'completion',
        'aria-selected': index === this.active ? 'true' : 'false',
        dataset: { index: String(index), name: item.name },
      }, h('span', { class: 'name' }, item.name), h('span', { class: 'kind' }, item.kind)));
    });
    this.list.replaceChildren(fragment);
    const position = this.editor.caretPosition();
    this.list.style.left = `${Math.max(0, position.left - 8)}px`;
    this.list.style.top = `${position.top + 4}px`;
    this.list.hidden = false;
  }

  close() {
    this.list.hidden = true;
    this.context = null;
    this.generation++;
  }

  move(delta) {
    const count = this.items.length;
    this.active = (this.active + delta + count) % count;
    this.list.querySelectorAll('li').forEach((li, index) => li.setAttribute('aria-selected', index === this.active ? 'true' : 'false'));
    const current = this.list.children[this.active];
    if (current) current.scrollIntoView({ block: 'nearest' });
  }

  accept(index) {
    const item = this.items[index];
    const context = this.context;
    if (!item || !context) return;
    this.close();
    this.editor.replace(context.from, context.to, item.insert || item.name);
  }

  /** Keyboard handling while the popup is open; true when the key was used. */
  handleKey(event) {
    if (event.key === ' ' && event.ctrlKey) {
      event.preventDefault();
      this.update(true);
      return true;
    }
    if (!this.isOpen) return false;
    switch (event.key) {
      case 'ArrowDown': this.move(1); break;
      case 'ArrowUp': this.move(-1); break;
      case 'Enter':
      case 'Tab': this.accept(this.active); break;
      case 'Escape': this.close(); break;
      default: return false;
    }
    event.preventDefault();
    return true;
  }
}
