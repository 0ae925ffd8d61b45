// The page: wires the editor, time picker and result views together, runs queries
// against the API, and keeps the query, range and options in the URL (so a link
// reproduces what is on screen, and Back goes to the previous query).

import { Editor } from './editor.js';
import { Completer } from './complete.js';
import { TimePicker, DEFAULT_RANGE, resolveRange, msToNanos } from './timerange.js';
import { queryRange, queryInstant, formatQuery, ApiError, setTenant } from './api.js';
import { lineFilterPatterns, isLogQuery } from './lexer.js';
import { LogView } from './logs.js';
import { VolumeView, volumeQuery, volumeStep } from './volume.js';
import { GraphView } from './graph.js';
import { TableView } from './table.js';
import { LiveTail } from './tail.js';
import { formatCount, h } from './format.js';

const $ = (id) => document.getElementById(id);
const DEFAULT_LIMIT = '100';
const VALIDATE_DELAY_MS = 400;

const controls = {
  type: $('type'),
  direction: $('direction'),
  limit: $('limit'),
  wrap: $('wrap'),
  tenant: $('tenant'),
};

let current = null; // {query, range: {startMs, endMs}, type, direction, limit} of the last run
let inFlight = null; // AbortController of the running query
let errorSource = null; // 'run' | 'validate' | null: who put up the error shown
let validateTimer = 0;

const editor = new Editor({
  textarea: $('query'),
  highlight: $('highlight'),
  onRun: () => run(),
  onInput: () => {
    completer.update();
    scheduleValidation();
  },
  onKey: (event) => completer.handleKey(event),
});

const picker = new TimePicker({
  select: $('range'),
  absoluteBox: $('absolute'),
  fromInput: $('from'),
  toInput: $('to'),
  onChange: () => {
    completer.invalidate();
    if (editor.value.trim()) run();
  },
});

const completer = new Completer({
  editor,
  list: $('completions'),
  rangeNanos: () => {
    const range = resolveRange(picker.get());
    if (range.error) return {};
    return { startNs: msToNanos(range.startMs), endNs: msToNanos(range.endMs) };
  },
});

const logs = new LogView({ container: $('logs'), moreButton: $('more'), onLoadMore: () => loadMore() });
const volume = new VolumeView($('volume'));
const graph = new GraphView($('graph'));
const table = new TableView($('table'));
const tail = new LiveTail({ onStreams: (streams) => logs.addLive(streams), onState: showTailState });

// ---- URL state ---------------------------------------------------------------------

function readUrl() {
  const params = new URLSearchParams(location.search);
  editor.value = params.get('query') || '';
  const range = { from: params.get('from') || DEFAULT_RANGE.from, to: params.get('to') || DEFAULT_RANGE.to };
  picker.set(resolveRange(range).error ? DEFAULT_RANGE : range);
  controls.type.value = params.get('type') === 'instant' ? 'instant' : 'range';
  controls.direction.value = params.get('direction') === 'forward' ? 'forward' : 'backward';
  const limit = params.get('limit') || DEFAULT_LIMIT;
  if (/^\d+$/.test(limit) && Number(limit) > 0) {
    if (![...controls.limit.options].some((option) => option.value === limit)) controls.limit.append(new Option(limit));
    controls.limit.value = limit;
  }
  controls.wrap.checked = params.get('wrap') === '1';
  logs.setWrap(controls.wrap.checked);
  controls.tenant.value = params.get('tenant') || '';
  setTenant(controls.tenant.value);
}

function writeUrl() {
  const range = picker.get();
  const params = new URLSearchParams({ query: editor.value, from: range.from, to: range.to });
  if (controls.type.value !== 'range') params.set('type', controls.type.value);
  if (controls.direction.value !== 'backward') params.set('direction', controls.direction.value);
  if (controls.limit.value !== DEFAULT_LIMIT) params.set('limit', controls.limit.value);
  if (controls.wrap.checked) params.set('wrap', '1');
  if (controls.tenant.value.trim()) params.set('tenant', controls.tenant.value.trim());
  const search = `?${params}`;
  if (search !== location.search) history.pushState(null, '', search);
  document.title = editor.value ? `${editor.value.slice(0, 60)} · Skald` : 'Skald';
}

// ---- errors and status -------------------------------------------------------------

function showError(error, source) {
  const box = $('error');
  errorSource = source;
  box.replaceChildren();
  box.append(h('div', { class: 'message' }, error.message));
  if (error instanceof ApiError && error.line) {
    editor.markError(error.line, error.col);
    // The query line with a caret under the column, as a terminal would show it.
    const line = editor.value.split('\n')[error.line - 1] ?? '';
    box.append(h('pre', { class: 'pointer' }, `${line}\n${' '.repeat(Math.max(0, error.col - 1))}^`));
    box.dataset.line = String(error.line);
    box.dataset.col = String(error.col);
  } else {
    delete box.dataset.line;
    delete box.dataset.col;
  }
  box.hidden = false;
}

function clearError() {
  const box = $('error');
  box.hidden = true;
  delete box.dataset.line;
  delete box.dataset.col;
  errorSource = null;
  editor.markError(null);
}

function setStatus(text) {
  $('status').textContent = text;
}

function scheduleValidation() {
  clearTimeout(validateTimer);
  const query = editor.value.trim();
  if (!query) return;
  validateTimer = setTimeout(async () => {
    try {
      await formatQuery(query);
      // The query parses now: a parse error shown (from typing or from a run) is stale.
      if (errorSource === 'validate' || $('error').dataset.line) clearError();
    } catch (error) {
      if (editor.value.trim() !== query) return;
      if (error instanceof ApiError && error.line) showError(error, 'validate');
    }
  }, VALIDATE_DELAY_MS);
}

// ---- running queries -----------------------------------------------------------------

function hideResults() {
  volume.hide();
  graph.hide();
  table.hide();
  $('welcome').hidden = true;
}

async function run() {
  const query = editor.value.trim();
  completer.close();
  clearTimeout(validateTimer);
  if (!query) {
    showError(new Error('type a LogQL query first, for example {job="app"}'), 'run');
    return;
  }
  const range = resolveRange(picker.get());
  if (range.error) {
    showError(new Error(range.error), 'run');
    return;
  }
  tail.stop();
  if (inFlight) inFlight.abort();
  const controller = new AbortController();
  inFlight = controller;
  writeUrl();
  clearError();
  setStatus('Running…');
  document.body.classList.add('busy');
  current = {
    query,
    range,
    type: controls.type.value,
    direction: controls.direction.value,
    limit: Number(controls.limit.value),
  };
  try {
    if (current.type === 'instant') await runInstant(current, controller.signal);
    else await runRange(current, controller.signal);
  } catch (error) {
    if (error.name === 'AbortError') return;
    hideResults();
    logs.clear();
    showError(error, 'run');
    setStatus('');
  } finally {
    if (inFlight === controller) {
      inFlight = null;
      document.body.classList.remove('busy');
    }
  }
}

/** Loki's default step for a range (`max(range/250, 1s)`), in whole seconds. */
function defaultStepSeconds(range) {
  return Math.max(1, Math.floor((range.endMs - range.startMs) / 1000 / 250));
}

async function runRange(run, signal) {
  const stepSeconds = defaultStepSeconds(run.range);
  const started = performance.now();
  const data = await queryRange({
    query: run.query,
    startNs: msToNanos(run.range.startMs),
    endNs: msToNanos(run.range.endMs),
    limit: run.limit,
    direction: run.direction,
    step: `${stepSeconds}s`,
  }, signal);
  const queryMs = performance.now() - started;
  hideResults();
  if (data.resultType === 'streams') {
    const volumeDone = runVolume(run, signal);
    const patterns = lineFilterPatterns(run.query);
    const renderStarted = performance.now();
    await logs.show(data.result, { direction: run.direction, limit: run.limit, patterns });
    const renderMs = performance.now() - renderStarted;
    const lines = logs.entries.length;
    setStatus(`${formatCount(lines)} lines · ${data.result.length} ${data.result.length === 1 ? 'stream' : 'streams'} · query ${Math.round(queryMs)} ms · render ${Math.round(renderMs)} ms`);
    await volumeDone;
    return;
  }
  logs.clear();
  if (data.resultType === 'matrix') {
    graph.render(data.result, { ...run.range, stepMs: stepSeconds * 1000, query: run.query });
    setStatus(`${data.result.length} series · step ${stepSeconds}s · query ${Math.round(queryMs)} ms`);
  } else {
    table.render(data.resultType, data.result);
    setStatus(`query ${Math.round(queryMs)} ms`);
  }
}

async function runVolume(run, signal) {
  const stepSeconds = volumeStep(run.range.startMs, run.range.endMs);
  const stepMs = stepSeconds * 1000;
  // Whole buckets: a sample at t counts (t - step, t].
  const startMs = Math.floor(run.range.startMs / stepMs) * stepMs;
  const endMs = Math.ceil(run.range.endMs / stepMs) * stepMs;
  try {
    const data = await queryRange({
      query: volumeQuery(run.query, stepSeconds),
      startNs: msToNanos(startMs),
      endNs: msToNanos(endMs),
      step: `${stepSeconds}s`,
    }, signal);
    if (data.resultType === 'matrix') volume.render(data.result, startMs, endMs, stepMs);
  } catch (error) {
    if (error.name !== 'AbortError') volume.showMessage(`No volume histogram: ${error.message}`);
  }
}

async function runInstant(run, signal) {
  const started = performance.now();
  const data = await queryInstant({
    query: run.query,
    timeNs: msToNanos(run.range.endMs),
    limit: run.limit,
    direction: run.direction,
  }, signal);
  const queryMs = performance.now() - started;
  hideResults();
  if (data.resultType === 'streams') {
    await logs.show(data.result, { direction: run.direction, limit: run.limit, patterns: lineFilterPatterns(run.query) });
  } else {
    logs.clear();
    table.render(data.resultType, data.result);
  }
  setStatus(`instant query ${Math.round(queryMs)} ms`);
}

async function loadMore() {
  if (!current || inFlight) return;
  const boundary = logs.boundary();
  if (boundary === null) return;
  const controller = new AbortController();
  inFlight = controller;
  const button = $('more');
  button.disabled = true;
  try {
    // Loki's end is exclusive: end = boundary + 1ns includes the entries at the boundary,
    // which LogView drops as already shown.
    const backward = current.direction === 'backward';
    const data = await queryRange({
      query: current.query,
      startNs: backward ? msToNanos(current.range.startMs) : boundary,
      endNs: backward ? boundary + 1n : msToNanos(current.range.endMs),
      limit: current.limit,
      direction: current.direction,
    }, controller.signal);
    const added = await logs.append(data.result || []);
    setStatus(`${formatCount(logs.entries.length)} lines (${formatCount(added)} more)`);
  } catch (error) {
    if (error.name !== 'AbortError') showError(error, 'run');
  } finally {
    button.disabled = false;
    if (inFlight === controller) inFlight = null;
  }
}

// ---- live tail -----------------------------------------------------------------------

function toggleLive() {
  if (tail.running) {
    tail.stop();
    return;
  }
  const query = editor.value.trim();
  if (!isLogQuery(query)) {
    showError(new Error('live tail needs a log query, one that starts with a stream selector such as {job="app"}'), 'run');
    return;
  }
  const range = resolveRange(picker.get());
  if (range.error) {
    showError(new Error(range.error), 'run');
    return;
  }
  if (inFlight) inFlight.abort();
  writeUrl();
  clearError();
  hideResults();
  setStatus('');
  logs.startLive(lineFilterPatterns(query), controls.direction.value === 'backward');
  tail.start(query, msToNanos(range.startMs), Number(controls.limit.value));
}

function showTailState({ state, held, received, message }) {
  const bar = $('tailbar');
  bar.hidden = state === 'stopped' && !message;
  bar.dataset.state = state;
  const text = {
    connecting: 'Connecting…',
    live: `Live · ${formatCount(received)} lines`,
    paused: `Paused · ${formatCount(held)} new ${held === 1 ? 'line' : 'lines'} held`,
    stopped: 'Stopped',
    error: `Tail ended: ${message}${controls.tenant.value.trim() ? ' (a browser cannot send X-Scope-OrgID on a websocket: live tail needs a server without auth_enabled)' : ''}`,
  }[state];
  $('tail-state').textContent = text;
  $('pause').textContent = state === 'paused' ? 'Resume' : 'Pause';
  $('pause').hidden = state === 'error' || state === 'stopped';
  $('stop').hidden = state === 'error' || state === 'stopped';
  $('live').textContent = tail.running ? 'Stop live' : 'Live';
  $('live').classList.toggle('active', tail.running);
}

// ---- wiring --------------------------------------------------------------------------

$('run').addEventListener('click', () => run());
$('live').addEventListener('click', () => toggleLive());
$('pause').addEventListener('click', () => (tail.paused ? tail.resume() : tail.pause()));
$('stop').addEventListener('click', () => tail.stop());
for (const control of [controls.type, controls.direction, controls.limit]) {
  control.addEventListener('change', () => {
    if (editor.value.trim()) run();
  });
}
controls.tenant.addEventListener('change', () => {
  setTenant(controls.tenant.value);
  completer.invalidate();
  if (editor.value.trim()) run();
});
controls.wrap.addEventListener('change', () => {
  logs.setWrap(controls.wrap.checked);
  if (current) writeUrl();
});
let resizeTimer = 0;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    volume.resize();
    graph.resize();
  }, 100);
});
window.addEventListener('popstate', () => {
  readUrl();
  if (editor.value.trim()) run();
});

readUrl();
if (editor.value.trim()) run();
else editor.focus();
document.body.dataset.ready = 'true';
