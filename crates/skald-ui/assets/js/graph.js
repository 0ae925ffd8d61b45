// The time-series graph of a metric query (matrix result): hand-drawn SVG lines with
// axes, a legend (click an entry to hide or show that series) and a hover read-out of
// the values at the nearest step. A missing step breaks the line rather than joining
// across the gap, as Loki leaves out steps without samples.

import { svg, h, niceTicks, timeTicks, formatTick, formatValue, formatLabels, formatMillis, levelOf } from './format.js';

const HEIGHT = 300;
const MARGIN = { left: 56, right: 16, top: 12, bottom: 24 };
const PALETTE = ['#3d7dd8', '#e0803a', '#3fa45b', '#d64b4b', '#8b62c9', '#2aa5a5', '#c4a12d', '#d45fa4', '#7c8a99', '#5b8f2e'];
const MAX_SERIES = 200;
const LEVEL_COLORS = {
  critical: '#a51d8f', error: '#d64545', warn: '#e0a21a', info: '#3fa45b', debug: '#3d7dd8', trace: '#8b62c9',
};

export const seriesColor = (index) => PALETTE[index % PALETTE.length];

/** A series' legend text: its labels, or the query when it has none. */
function seriesName(metric, query) {
  return Object.keys(metric).length ? formatLabels(metric) : query;
}

export class GraphView {
  constructor(container) {
    this.container = container;
    this.hidden = new Set();
  }

  /** Draws the last result again at the new width. */
  resize() {
    if (this.matrix && !this.container.hidden) this.draw();
  }

  hide() {
    this.matrix = null;
    this.container.hidden = true;
    this.container.replaceChildren();
  }

  render(matrix, { startMs, endMs, stepMs, query }) {
    this.matrix = matrix.slice(0, MAX_SERIES);
    this.options = { startMs, endMs, stepMs, query };
    this.hidden = new Set();
    this.draw();
    if (matrix.length > MAX_SERIES) {
      this.container.append(h('div', { class: 'note' }, `Showing ${MAX_SERIES} of ${matrix.length} series.`));
    }
  }

  draw() {
    const { startMs, endMs, stepMs, query } = this.options;
    // Series that carry a level take that level's colour, as in the volume histogram.
    const byLevel = this.matrix.every((s) => levelOf(s.metric) !== 'unknown')
      && new Set(this.matrix.map((s) => levelOf(s.metric))).size === this.matrix.length;
    const series = this.matrix.map((s, index) => ({
      name: seriesName(s.metric, query),
      color: byLevel ? LEVEL_COLORS[levelOf(s.metric)] : seriesColor(index),
      index,
      points: s.values.map(([seconds, value]) => [Math.round(seconds * 1000), Number(value)]),
    }));
    const shown = series.filter((s) => !this.hidden.has(s.index));
    let min = Infinity;
    let max = -Infinity;
    for (const s of shown) {
      for (const [, value] of s.points) {
        if (!Number.isFinite(value)) continue;
        min = Math.min(min, value);
        max = Math.max(max, value);
      }
    }
    if (!Number.isFinite(min)) { min = 0; max = 1; }
    if (min > 0) min = 0;
    if (max === min) max = min + 1;
    const yTicks = niceTicks(min, max, 5);
    const yMin = Math.min(min, yTicks[0]);
    const yMax = Math.max(max, yTicks[yTicks.length - 1]);

    this.container.hidden = false; // visible first, so that its width can be measured
    const width = Math.max(300, this.container.clientWidth || 900);
    const plotWidth = width - MARGIN.left - MARGIN.right;
    const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
    const x = (ms) => MARGIN.left + ((ms - startMs) / (endMs - startMs)) * plotWidth;
    const y = (value) => MARGIN.top + plotHeight - ((value - yMin) / (yMax - yMin)) * plotHeight;

    const chart = svg('svg', { class: 'graph-chart', width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: 'img', 'aria-label': 'metric graph' });
    for (const tick of yTicks) {
      chart.append(svg('line', { class: 'grid', x1: MARGIN.left, x2: width - MARGIN.right, y1: y(tick), y2: y(tick) }));
      chart.append(svg('text', { class: 'axis', x: MARGIN.left - 6, y: y(tick) + 4, 'text-anchor': 'end' }, formatValue(tick)));
    }
    for (const tick of timeTicks(startMs, endMs, Math.max(2, Math.floor(plotWidth / 110)))) {
      chart.append(svg('line', { class: 'grid', x1: x(tick), x2: x(tick), y1: MARGIN.top, y2: MARGIN.top + plotHeight }));
      chart.append(svg('text', { class: 'axis', x: x(tick), y: HEIGHT - 6, 'text-anchor': 'middle' }, formatTick(tick, endMs - startMs)));
    }
    for (const s of shown) {
      let path = '';
      let previous = null;
      for (const [at, value] of s.points) {
        if (!Number.isFinite(value)) { previous = null; continue; }
        const gap = previous === null || at - previous > stepMs * 1.5;
        path += `${gap ? 'M' : 'L'}${x(at).toFixed(1)},${y(value).toFixed(1)}`;
        previous = at;
      }
      chart.append(svg('path', { class: 'series', d: path, stroke: s.color, 'data-series': String(s.index) }));
      if (s.points.length === 1) {
        const [at, value] = s.points[0];
        chart.append(svg('circle', { cx: x(at), cy: y(value), r: 3, fill: s.color }));
      }
    }
    const cursor = svg('line', { class: 'cursor', x1: 0, x2: 0, y1: MARGIN.top, y2: MARGIN.top + plotHeight, visibility: 'hidden' });
    chart.append(cursor);
    const tooltip = h('div', { class: 'tooltip', hidden: true });
    chart.addEventListener('mousemove', (event) => {
      const bounds = chart.getBoundingClientRect();
      const at = startMs + ((event.clientX - bounds.left - MARGIN.left) / plotWidth) * (endMs - startMs);
      this.hover(at, shown, x, cursor, tooltip, event.clientX - bounds.left);
    });
    chart.addEventListener('mouseleave', () => {
      cursor.setAttribute('visibility', 'hidden');
      tooltip.hidden = true;
    });

    const legend = h('div', { class: 'legend graph-legend' });
    for (const s of series) {
      const item = h('button', {
        type: 'button',
        class: `legend-item${this.hidden.has(s.index) ? ' off' : ''}`,
        title: 'Show or hide this series',
        onclick: () => {
          if (this.hidden.has(s.index)) this.hidden.delete(s.index);
          else this.hidden.add(s.index);
          this.draw();
        },
      }, h('i', { class: 'swatch', style: `background:${s.color}` }), s.name);
      legend.append(item);
    }
    this.container.hidden = false;
    this.container.replaceChildren(h('div', { class: 'chart-box' }, chart, tooltip), legend);
  }

  hover(at, shown, x, cursor, tooltip, px) {
    let nearest = null;
    for (const s of shown) {
      for (const [t] of s.points) if (nearest === null || Math.abs(t - at) < Math.abs(nearest - at)) nearest = t;
    }
    if (nearest === null) return;
    cursor.setAttribute('x1', x(nearest));
    cursor.setAttribute('x2', x(nearest));
    cursor.setAttribute('visibility', 'visible');
    const rows = [];
    for (const s of shown) {
      const point = s.points.find(([t]) => t === nearest);
      if (point) rows.push([s, point[1]]);
    }
    rows.sort((a, b) => b[1] - a[1]);
    tooltip.replaceChildren(h('div', { class: 'tooltip-time' }, formatMillis(nearest)));
    for (const [s, value] of rows.slice(0, 12)) {
      tooltip.append(h('div', {}, h('i', { class: 'swatch', style: `background:${s.color}` }), `${formatValue(value)}  ${s.name}`));
    }
    tooltip.hidden = false;
    tooltip.style.left = `${Math.min(px + 12, x(this.options.endMs) - 220)}px`;
  }
}
