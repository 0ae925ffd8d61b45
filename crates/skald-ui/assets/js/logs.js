// The log lines view. Entries from every stream are merged into one list ordered by
// time (newest or oldest first), rendered in chunks (a first screenful at once, the
// rest a chunk per frame, rows with `content-visibility: auto`), so 10,000 lines appear
// without freezing the page. A row expands on click into its labels, structured
// metadata and parsed fields. "Load more" asks for the next page past the last
// timestamp shown and drops the boundary entries it already has.

import { formatNanos, levelOf, h, formatLabels } from './format.js';

const FIRST_CHUNK = 300;
const CHUNK = 2000;
const MAX_LIVE_ROWS = 5000;

/** Flattens Loki `streams` (with or without categorize-labels) into entries. */
export function flatten(streams) {
  const entries = [];
  for (const stream of streams || []) {
    const labels = stream.stream || {};
    const streamKey = formatLabels(labels);
    for (const value of stream.values || []) {
      const extra = value[2] || {};
      entries.push({
        ts: value[0],
        nanos: BigInt(value[0]),
        line: value[1],
        labels,
        metadata: extra.structuredMetadata || {},
        parsed: extra.parsed || {},
        streamKey,
      });
    }
  }
  return entries;
}

/** Sorts entries newest first (`backward`) or oldest first (`forward`); stable for ties. */
export function sortEntries(entries, direction) {
  const sign = direction === 'forward' ? 1 : -1;
  entries.sort((a, b) => (a.nanos === b.nanos ? 0 : a.nanos < b.nanos ? -sign : sign));
  return entries;
}

const entryKey = (entry) => `${entry.ts}\n${entry.streamKey}\n${entry.line}`;

/** Label names whose value differs between the streams shown (worth showing per row). */
function varyingLabels(entries) {
  const seen = new Map();
  const streams = new Map();
  for (const entry of entries) streams.set(entry.streamKey, entry.labels);
  for (const labels of streams.values()) {
    for (const name of Object.keys(labels)) {
      if (!seen.has(name)) seen.set(name, new Set());
    }
  }
  for (const labels of streams.values()) {
    for (const [name, values] of seen) values.add(labels[name]);
  }
  return [...seen].filter(([, values]) => values.size > 1).map(([name]) => name).sort();
}

/** Appends `line` to `element` with the matches of `patterns` in <mark>. */
export function appendHighlighted(element, line, patterns) {
  if (!patterns.length || !line) {
    element.textContent = line;
    return;
  }
  const ranges = [];
  for (const pattern of patterns) {
    pattern.lastIndex = 0;
    let match;
    let guard = 0;
    while ((match = pattern.exec(line)) !== null && guard++ < 1000) {
      if (match[0].length === 0) {
        pattern.lastIndex++;
        continue;
      }
      ranges.push([match.index, match.index + match[0].length]);
    }
  }
  if (!ranges.length) {
    element.textContent = line;
    return;
  }
  ranges.sort((a, b) => a[0] - b[0]);
  let at = 0;
  for (const [start, end] of ranges) {
    if (end <= at) continue;
    const from = Math.max(start, at);
    if (from > at) element.append(line.slice(at, from));
    const mark = document.createElement('mark');
    mark.textContent = line.slice(from, end);
    element.append(mark);
    at = end;
  }
  if (at < line.length) element.append(line.slice(at));
}

export class LogView {
  constructor({ container, moreButton, onLoadMore }) {
    this.container = container;
    this.moreButton = moreButton;
    this.entries = [];
    this.patterns = [];
    this.direction = 'backward';
    this.showLabels = [];
    this.renderGeneration = 0;
    this.boundaryKeys = new Set();
    this.rowEntries = new WeakMap();
    moreButton.addEventListener('click', () => onLoadMore());
    container.addEventListener('click', (event) => {
      const row = event.target.closest('.row');
      if (row && !window.getSelection().toString()) this.toggle(row);
    });
  }

  setWrap(wrap) {
    this.container.classList.toggle('wrap', wrap);
  }

  /** Shows a fresh result; resolves when every row is in the page. */
  show(streams, { direction, limit, patterns }) {
    this.direction = direction;
    this.limit = limit;
    this.patterns = patterns;
    this.entries = sortEntries(flatten(streams), direction);
    this.showLabels = varyingLabels(this.entries);
    this.container.replaceChildren();
    this.container.classList.remove('live');
    this.rememberBoundary(this.entries);
    this.setMore(this.entries.length >= limit && this.entries.length > 0);
    if (!this.entries.length) this.container.append(h('div', { class: 'empty' }, 'No lines in this time range.'));
    return this.renderRows(this.entries, true);
  }

  /** The timestamp the next page starts from: the last one shown. */
  boundary() {
    const last = this.entries[this.entries.length - 1];
    return last ? last.nanos : null;
  }

  /** Adds the next page (older when newest first, newer otherwise); returns how many were new. */
  async append(streams) {
    const page = sortEntries(flatten(streams), this.direction);
    const boundary = this.boundary();
    const fresh = page.filter((entry) => !(entry.nanos === boundary && this.boundaryKeys.has(entryKey(entry))));
    this.entries.push(...fresh);
    this.rememberBoundary(fresh.length ? this.entries : []);
    // No new entry means the page was all boundary: stop rather than ask again forever.
    this.setMore(page.length >= this.limit && fresh.length > 0);
    await this.renderRows(fresh, false);
    return fresh.length;
  }

  rememberBoundary(entries) {
    if (!entries.length) return;
    const boundary = entries[entries.length - 1].nanos;
    this.boundaryKeys = new Set();
    for (let i = entries.length - 1; i >= 0 && entries[i].nanos === boundary; i--) this.boundaryKeys.add(entryKey(entries[i]));
  }

  setMore(visible) {
    this.moreButton.hidden = !visible;
    this.moreButton.textContent = this.direction === 'forward' ? 'Load newer lines' : 'Load older lines';
  }

  /** Removes every line (a metric result or an error is shown instead). */
  clear() {
    this.renderGeneration++;
    this.entries = [];
    this.container.replaceChildren();
    this.container.classList.remove('live');
    this.setMore(false);
  }

  /** Starts a live view (tail): empty, newest lines on top when `newestFirst`. */
  startLive(patterns, newestFirst) {
    this.renderGeneration++;
    this.patterns = patterns;
    this.newestFirst = newestFirst;
    this.entries = [];
    this.showLabels = [];
    this.container.replaceChildren();
    this.container.classList.add('live');
    this.setMore(false);
  }

  /** Adds tail entries as they arrive, dropping the oldest past MAX_LIVE_ROWS. */
  addLive(streams) {
    const incoming = sortEntries(flatten(streams), this.newestFirst ? 'backward' : 'forward');
    if (!incoming.length) return;
    const fragment = document.createDocumentFragment();
    for (const entry of incoming) fragment.append(this.row(entry));
    if (this.newestFirst) this.container.prepend(fragment);
    else this.container.append(fragment);
    while (this.container.children.length > MAX_LIVE_ROWS) {
      const oldest = this.newestFirst ? this.container.lastElementChild : this.container.firstElementChild;
      oldest.remove();
    }
    this.container.dataset.rendered = String(this.container.childElementCount);
  }

  /** Appends rows in chunks; records the time taken in `data-render-ms`. */
  renderRows(entries, fresh) {
    const generation = ++this.renderGeneration;
    const started = performance.now();
    this.container.dataset.complete = 'false';
    return new Promise((resolve) => {
      let index = 0;
      const step = () => {
        if (generation !== this.renderGeneration) return resolve(false);
        const size = index === 0 && fresh ? FIRST_CHUNK : CHUNK;
        const fragment = document.createDocumentFragment();
        const stop = Math.min(entries.length, index + size);
        for (; index < stop; index++) fragment.append(this.row(entries[index]));
        this.container.append(fragment);
        if (index < entries.length) {
          requestAnimationFrame(step);
          return;
        }
        void this.container.offsetHeight; // include style and layout in the figure
        const elapsed = performance.now() - started;
        this.container.dataset.renderMs = elapsed.toFixed(1);
        this.container.dataset.rendered = String(this.entries.length);
        this.container.dataset.complete = 'true';
        resolve(true);
      };
      step();
    });
  }

  row(entry) {
    const level = levelOf(entry.metadata, entry.parsed, entry.labels);
    const row = document.createElement('div');
    row.className = `row lvl-${level}`;
    this.rowEntries.set(row, entry);
    const ts = document.createElement('span');
    ts.className = 'ts';
    ts.textContent = formatNanos(entry.nanos);
    row.append(ts);
    if (this.showLabels.length) {
      const stream = document.createElement('span');
      stream.className = 'stream';
      stream.textContent = this.showLabels.map((name) => entry.labels[name] ?? '').join(' ');
      row.append(stream);
    }
    const line = document.createElement('span');
    line.className = 'line';
    appendHighlighted(line, entry.line, this.patterns);
    row.append(line);
    return row;
  }

  toggle(row) {
    const next = row.nextElementSibling;
    if (next && next.classList.contains('details')) {
      next.remove();
      row.classList.remove('expanded');
      return;
    }
    const entry = this.rowEntries.get(row);
    if (!entry) return;
    row.classList.add('expanded');
    row.after(details(entry));
  }
}

function details(entry) {
  const box = h('div', { class: 'details' });
  const sections = [
    ['Labels', entry.labels, 'labels'],
    ['Structured metadata', entry.metadata, 'metadata'],
    ['Parsed fields', entry.parsed, 'parsed'],
  ];
  for (const [title, fields, kind] of sections) {
    const names = Object.keys(fields).sort();
    if (!names.length) continue;
    const table = h('table', { class: `fields ${kind}` });
    for (const name of names) {
      table.append(h('tr', { class: 'field' }, h('th', {}, name), h('td', {}, fields[name])));
    }
    box.append(h('section', {}, h('h4', {}, title), table));
  }
  box.append(h('div', { class: 'meta' }, `${entry.ts} ns · ${formatNanos(entry.nanos)}`));
  return box;
}
