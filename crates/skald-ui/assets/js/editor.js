// The LogQL editor: a transparent-text <textarea> over a <pre> that shows the same
// text coloured by token. The textarea keeps native editing (selection, undo, IME,
// paste); the <pre> only paints. It also marks the column of a parse error and holds an
// empty anchor span at the caret, which the completion popup is positioned from.

import { tokenize } from './lexer.js';

const MAX_ROWS = 12;

export class Editor {
  constructor({ textarea, highlight, onRun, onInput, onKey }) {
    this.textarea = textarea;
    this.highlight = highlight;
    this.onRun = onRun;
    this.onInput = onInput;
    this.onKey = onKey;
    this.errorPosition = null;
    textarea.addEventListener('input', () => {
      this.errorPosition = null;
      this.render();
      this.onInput();
    });
    textarea.addEventListener('scroll', () => this.syncScroll());
    textarea.addEventListener('keydown', (event) => this.keydown(event));
    for (const name of ['click', 'keyup', 'select']) textarea.addEventListener(name, () => this.renderIfCaretMoved());
    this.lastCaret = -1;
    this.render();
  }

  get value() {
    return this.textarea.value;
  }

  set value(text) {
    this.textarea.value = text;
    this.errorPosition = null;
    this.render();
  }

  get caret() {
    return this.textarea.selectionStart;
  }

  focus() {
    this.textarea.focus();
  }

  /** Replaces `[from, to)` with `text` and puts the caret after it (undo-friendly). */
  replace(from, to, text) {
    this.textarea.focus();
    this.textarea.setSelectionRange(from, to);
    // execCommand keeps the browser's undo stack; fall back where it is gone.
    if (!document.execCommand || !document.execCommand('insertText', false, text)) {
      this.textarea.setRangeText(text, from, to, 'end');
      this.textarea.dispatchEvent(new Event('input'));
    }
  }

  /** Marks a parse error at 1-based `line`/`col` (null clears it). */
  markError(line, col) {
    this.errorPosition = line && col ? { line, col } : null;
    this.render();
  }

  keydown(event) {
    if (this.onKey(event)) return;
    if (event.key === 'Enter' && !event.shiftKey && !event.altKey) {
      event.preventDefault();
      this.onRun();
    }
  }

  renderIfCaretMoved() {
    if (this.caret !== this.lastCaret) this.render();
  }

  /** Offset in the text of a 1-based line and column (clamped to the end). */
  offsetOf(line, col) {
    const lines = this.value.split('\n');
    let offset = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
    return Math.min(offset + col - 1, this.value.length);
  }

  render() {
    const text = this.value;
    this.lastCaret = this.caret;
    const errorAt = this.errorPosition ? this.offsetOf(this.errorPosition.line, this.errorPosition.col) : -1;
    const fragment = document.createDocumentFragment();
    let anchorPlaced = false;
    const placeAnchor = () => {
      const anchor = document.createElement('span');
      anchor.className = 'caret-anchor';
      fragment.append(anchor);
      anchorPlaced = true;
    };
    for (const token of tokenize(text)) {
      // Split tokens at the caret and the error so both can be placed exactly.
      const cuts = [token.start];
      for (const at of [this.caret, errorAt]) if (at > token.start && at < token.end) cuts.push(at);
      cuts.sort((a, b) => a - b);
      cuts.push(token.end);
      for (let k = 0; k + 1 < cuts.length; k++) {
        if (!anchorPlaced && cuts[k] === this.caret) placeAnchor();
        const piece = text.slice(cuts[k], cuts[k + 1]);
        const span = document.createElement('span');
        span.className = `tok-${token.type}`;
        if (cuts[k] === errorAt) {
          // The error's first character gets the mark; the rest of the token follows.
          const mark = document.createElement('span');
          mark.className = 'error-mark';
          mark.textContent = piece[0];
          span.append(mark, piece.slice(1));
        } else {
          span.textContent = piece;
        }
        fragment.append(span);
      }
    }
    if (!anchorPlaced) placeAnchor();
    if (errorAt === text.length) {
      const mark = document.createElement('span');
      mark.className = 'error-mark at-end';
      mark.textContent = ' ';
      fragment.append(mark);
    }
    // A <pre> drops a final newline; keep the last (empty) line visible.
    if (text.endsWith('\n') || text === '') fragment.append(' ');
    this.highlight.replaceChildren(fragment);
    this.fitHeight();
    this.syncScroll();
  }

  /** Grows the box with its content (wrapped lines included), up to MAX_ROWS lines. */
  fitHeight() {
    const style = getComputedStyle(this.textarea);
    const lineHeight = parseFloat(style.lineHeight) || 20;
    const padding = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
    const borders = parseFloat(style.borderTopWidth) + parseFloat(style.borderBottomWidth);
    this.textarea.style.height = 'auto';
    // border-box sizing: scrollHeight holds the padding but not the borders.
    const wanted = this.textarea.scrollHeight + borders;
    const lowest = lineHeight + padding + borders;
    const highest = lineHeight * MAX_ROWS + padding + borders;
    this.textarea.style.height = `${Math.min(Math.max(wanted, lowest), highest)}px`;
  }

  syncScroll() {
    this.highlight.scrollTop = this.textarea.scrollTop;
    this.highlight.scrollLeft = this.textarea.scrollLeft;
  }

  /** Position of the caret relative to the editor box, for the completion popup. */
  caretPosition() {
    const anchor = this.highlight.querySelector('.caret-anchor');
    const box = this.textarea.parentElement.getBoundingClientRect();
    if (!anchor) return { left: 0, top: box.height };
    const rect = anchor.getBoundingClientRect();
    return { left: rect.left - box.left, top: rect.bottom - box.top };
  }
}
