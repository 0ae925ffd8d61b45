// Instant query results as a table: one row per series of a vector (a column per label
// name, then the value), or the single value of a scalar. Rows sort by value, largest
// first, as that is what an instant query is usually asked for.

import { h, formatMillis } from './format.js';

export class TableView {
  constructor(container) {
    this.container = container;
  }

  hide() {
    this.container.hidden = true;
    this.container.replaceChildren();
  }

  /** `resultType` vector or scalar, as the API returns it. */
  render(resultType, result) {
    let rows;
    if (resultType === 'scalar') {
      rows = [{ metric: {}, time: result[0], value: result[1] }];
    } else {
      rows = result.map((sample) => ({ metric: sample.metric || {}, time: sample.value[0], value: sample.value[1] }));
    }
    rows.sort((a, b) => Number(b.value) - Number(a.value));
    const names = [...new Set(rows.flatMap((row) => Object.keys(row.metric)))].sort();
    const head = h('tr', {}, ...names.map((name) => h('th', {}, name)), h('th', { class: 'num' }, 'Value'));
    const body = h('tbody');
    for (const row of rows) {
      body.append(h('tr', {}, ...names.map((name) => h('td', {}, row.metric[name] ?? '')), h('td', { class: 'num' }, row.value)));
    }
    const time = rows.length ? formatMillis(Math.round(Number(rows[0].time) * 1000)) : '';
    const caption = rows.length
      ? `${rows.length} series at ${time}`
      : 'No series at this instant.';
    this.container.hidden = false;
    this.container.replaceChildren(h('table', { class: 'result-table' }, h('caption', {}, caption), h('thead', {}, head), body));
  }
}
