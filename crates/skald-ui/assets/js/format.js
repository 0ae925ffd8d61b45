// Small formatting helpers shared by the views: timestamps, label sets, numbers, and a
// tiny DOM builder so views read as structure rather than string concatenation.

const pad = (n, width = 2) => String(n).padStart(width, '0');

/** A Unix-nanosecond timestamp (string or BigInt) as local `YYYY-MM-DD HH:MM:SS.mmm`. */
export function formatNanos(ns) {
  const ms = Number(BigInt(ns) / 1000000n);
  return formatMillis(ms, true);
}

/** Milliseconds since the epoch as local date and time. */
export function formatMillis(ms, withMillis = false) {
  const d = new Date(ms);
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withMillis ? `${date} ${time}.${pad(d.getMilliseconds(), 3)}` : `${date} ${time}`;
}

/** A short time-axis label, precise enough for the span shown. */
export function formatTick(ms, spanMs) {
  const d = new Date(ms);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (spanMs <= 5 * 60 * 1000) return `${hm}:${pad(d.getSeconds())}`;
  if (spanMs <= 36 * 3600 * 1000) return hm;
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}`;
}

/** `{a="b", c="d"}` of a label object, names sorted. */
export function formatLabels(labels) {
  const names = Object.keys(labels || {}).sort();
  return '{' + names.map((name) => `${name}="${labels[name]}"`).join(', ') + '}';
}

/** A number for axes and tables: integers as is, others to 4 significant digits, SI above 10k. */
export function formatValue(value) {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1e4) {
    const units = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
    for (const [size, unit] of units) {
      if (abs >= size) return `${trimNumber(value / size)}${unit}`;
    }
  }
  return trimNumber(value);
}

function trimNumber(value) {
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(4)));
}

/** A count with thousands separators. */
export function formatCount(n) {
  return n.toLocaleString('en-US');
}

/**
 * Creates an element: `h('div', {class: 'x', onclick: f}, child, 'text', ...)`.
 * Attributes named `on...` become listeners; `dataset` takes an object.
 */
export function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Creates an SVG element with attributes. */
export function svg(tag, attributes, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value !== undefined && value !== null) element.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Nice, round tick values whose span covers `[min, max]` (about `count` of them). */
export function niceTicks(min, max, count) {
  if (!(max > min)) return [min];
  const rough = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const residual = rough / magnitude;
  const step = (residual > 5 ? 10 : residual > 2 ? 5 : residual > 1 ? 2 : 1) * magnitude;
  // From the last tick at or below min to the first at or above max, so both are covered.
  const first = Math.floor(min / step);
  const last = Math.ceil(max / step);
  const ticks = [];
  for (let k = first; k <= last; k++) ticks.push(Number((k * step).toPrecision(12)));
  return ticks;
}

/** Nice time tick positions (ms) covering `[startMs, endMs]`. */
export function timeTicks(startMs, endMs, count) {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800]
    .map((s) => s * 1000);
  const rough = (endMs - startMs) / count;
  const step = steps.find((s) => s >= rough) || steps[steps.length - 1];
  // Align to local time so that ticks fall on round hours and days.
  const offset = new Date(startMs).getTimezoneOffset() * 60000;
  const ticks = [];
  for (let t = Math.ceil((startMs - offset) / step) * step + offset; t <= endMs; t += step) ticks.push(t);
  return ticks;
}

/** The level of an entry or series from its labels, normalised; `unknown` when none. */
export function levelOf(...labelSets) {
  for (const labels of labelSets) {
    if (!labels) continue;
    const raw = labels.detected_level || labels.level || labels.severity || labels.lvl;
    if (raw) return normaliseLevel(raw);
  }
  return 'unknown';
}

const LEVEL_ALIASES = {
  err: 'error', error: 'error', eror: 'error', fatal: 'critical', critical: 'critical', crit: 'critical',
  panic: 'critical', emerg: 'critical', alert: 'critical',
  warn: 'warn', warning: 'warn', wrn: 'warn',
  info: 'info', information: 'info', informational: 'info', notice: 'info', inf: 'info',
  debug: 'debug', dbg: 'debug', trace: 'trace',
};

export function normaliseLevel(raw) {
  return LEVEL_ALIASES[String(raw).toLowerCase()] || 'unknown';
}

/** Levels in display order (most severe first). */
export const LEVELS = ['critical', 'error', 'warn', 'info', 'debug', 'trace', 'unknown'];
