// The log-volume histogram above the lines: one stacked bar per step, coloured by
// level. The counts come from a metric query the page builds from the log query
// (`sum by (level, detected_level) (count_over_time(<query> | drop __error__ [step]))`),
// the same one Grafana's Explore sends, so it respects the query's filters.

import { svg, h, niceTicks, timeTicks, formatTick, formatValue, formatMillis, formatCount, levelOf, LEVELS } from './format.js';

const HEIGHT = 96;
const MARGIN = { left: 44, right: 8, top: 6, bottom: 18 };

/** The volume query of a log query, with `stepSeconds` buckets. */
export function volumeQuery(query, stepSeconds) {
  return `sum by (level, detected_level) (count_over_time(${query} | drop __error__ [${stepSeconds}s]))`;
}

/** Histogram step: about 100 bars over the range, whole seconds, at least 1s. */
export function volumeStep(startMs, endMs) {
  const rough = Math.ceil((endMs - startMs) / 1000 / 100);
  const nice = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  return nice.find((s) => s >= rough) || rough;
}

export class VolumeView {
  constructor(container) {
    this.container = container;
  }

  /** Draws the last result again at the new width. */
  resize() {
    if (this.last && !this.container.hidden) this.render(...this.last);
  }

  hide() {
    this.last = null;
    this.container.hidden = true;
    this.container.replaceChildren();
  }

  showMessage(text) {
    this.container.hidden = false;
    this.container.replaceChildren(h('div', { class: 'volume-note' }, text));
  }

  /** Draws a matrix of counts per level; `startMs`/`endMs` is the x axis, `stepMs` the bar width. */
  render(matrix, startMs, endMs, stepMs) {
    this.last = [matrix, startMs, endMs, stepMs];
    this.container.hidden = false; // visible first, so that its width can be measured
    const buckets = new Map(); // bucket end (ms) -> {level: count}
    const totals = new Map();
    for (const series of matrix) {
      const level = levelOf(series.metric);
      for (const [seconds, value] of series.values) {
        const at = Math.round(seconds * 1000);
        const count = Number(value);
        if (!buckets.has(at)) buckets.set(at, {});
        const bucket = buckets.get(at);
        bucket[level] = (bucket[level] || 0) + count;
        totals.set(level, (totals.get(level) || 0) + count);
      }
    }
    const width = Math.max(200, this.container.clientWidth || 800);
    const plotWidth = width - MARGIN.left - MARGIN.right;
    const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
    let max = 0;
    for (const bucket of buckets.values()) {
      let sum = 0;
      for (const count of Object.values(bucket)) sum += count;
      max = Math.max(max, sum);
    }
    const yTicks = niceTicks(0, Math.max(max, 1), 3);
    const yMax = yTicks[yTicks.length - 1] || 1;
    const x = (ms) => MARGIN.left + ((ms - startMs) / (endMs - startMs)) * plotWidth;
    const y = (value) => MARGIN.top + plotHeight - (value / yMax) * plotHeight;
    const chart = svg('svg', { class: 'volume-chart', width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: 'img', 'aria-label': 'log volume' });
    for (const tick of yTicks) {
      chart.append(svg('line', { class: 'grid', x1: MARGIN.left, x2: width - MARGIN.right, y1: y(tick), y2: y(tick) }));
      chart.append(svg('text', { class: 'axis', x: MARGIN.left - 6, y: y(tick) + 4, 'text-anchor': 'end' }, formatValue(tick)));
    }
    for (const tick of timeTicks(startMs, endMs, Math.max(2, Math.floor(plotWidth / 110)))) {
      chart.append(svg('text', { class: 'axis', x: x(tick), y: HEIGHT - 4, 'text-anchor': 'middle' }, formatTick(tick, endMs - startMs)));
    }
    const barWidth = Math.max(1, (stepMs / (endMs - startMs)) * plotWidth - 1);
    for (const [at, bucket] of buckets) {
      // A sample at `at` counts the window (at - step, at].
      let base = 0;
      const left = x(at - stepMs) + 0.5;
      for (const level of LEVELS) {
        const count = bucket[level];
        if (!count) continue;
        const top = y(base + count);
        const rect = svg('rect', { class: `bar lvl-${level}`, x: left, y: top, width: barWidth, height: Math.max(0.5, y(base) - top) });
        rect.append(svg('title', {}, `${formatMillis(at - stepMs)} – ${formatMillis(at)}\n${level}: ${formatCount(count)}`));
        chart.append(rect);
        base += count;
      }
    }
    const legend = h('div', { class: 'legend volume-legend' });
    for (const level of LEVELS) {
      if (!totals.has(level)) continue;
      legend.append(h('span', { class: `legend-item lvl-${level}`, dataset: { level } }, h('i', { class: 'swatch' }), `${level} ${formatCount(totals.get(level))}`));
    }
    this.container.hidden = false;
    this.container.replaceChildren(chart, legend);
  }
}
