// The rules page: every rule group of the tenant with its rules' state, health and last
// error, and the alerts now pending or firing, from `/prometheus/api/v1/rules` (what
// Grafana's alerting UI reads). Refreshed every 10 seconds; the tenant and the filter
// are kept in the URL.

import { h } from './format.js';

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 10000;

const params = new URLSearchParams(location.search);
$('tenant').value = params.get('tenant') || '';
$('filter').value = params.get('type') || '';

function keepInUrl() {
  const next = new URLSearchParams();
  if ($('tenant').value.trim()) next.set('tenant', $('tenant').value.trim());
  if ($('filter').value) next.set('type', $('filter').value);
  const search = next.toString();
  history.replaceState(null, '', search ? `?${search}` : location.pathname);
}

async function fetchRules() {
  const search = new URLSearchParams();
  if ($('filter').value) search.set('type', $('filter').value);
  const headers = {};
  const tenant = $('tenant').value.trim();
  if (tenant) headers['X-Scope-OrgID'] = tenant;
  const response = await fetch(`/prometheus/api/v1/rules?${search}`, { headers });
  const text = await response.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    // Plain-text error below.
  }
  if (!response.ok || !body || body.status !== 'success') {
    let message = (body && body.error) || text.trim() || `${response.status} ${response.statusText}`;
    if (response.status === 401 && !tenant) message += ' (this server is multi-tenant: fill in the Tenant field)';
    throw new Error(message);
  }
  return body.data.groups || [];
}

function labelChips(labels) {
  return h('span', { class: 'chips' }, ...Object.entries(labels || {}).map(([k, v]) => h('span', { class: 'chip' }, `${k}=${v}`)));
}

function ago(iso) {
  if (!iso || iso.startsWith('0001-')) return 'never';
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return seconds < 90 ? `${seconds}s ago` : `${Math.round(seconds / 60)}m ago`;
}

function badge(text, kind) {
  return h('span', { class: `badge ${kind || text}` }, text);
}

function renderAlerts(groups) {
  const active = [];
  for (const group of groups) {
    for (const rule of group.rules) {
      for (const alert of rule.alerts || []) active.push({ group, rule, alert });
    }
  }
  const box = $('alerts');
  box.replaceChildren();
  box.append(h('h2', {}, active.length ? `Alerts (${active.length})` : 'No alert pending or firing'));
  for (const { group, alert } of active) {
    const summary = alert.annotations.summary || alert.annotations.description || '';
    box.append(h('div', { class: `alert-row ${alert.state}` },
      badge(alert.state),
      h('strong', {}, alert.labels.alertname || ''),
      labelChips(Object.fromEntries(Object.entries(alert.labels).filter(([k]) => k !== 'alertname'))),
      h('span', { class: 'muted' }, `${group.file} / ${group.name} · active since ${ago(alert.activeAt)} · value ${Number(alert.value)}`),
      summary ? h('div', { class: 'summary' }, summary) : null,
    ));
  }
}

function renderGroups(groups) {
  const box = $('groups');
  box.replaceChildren();
  if (!groups.length) {
    box.append(h('p', { class: 'welcome' }, 'No rule groups. Load some with lokitool rules load, or POST /loki/api/v1/rules/<namespace>.'));
    return;
  }
  for (const group of groups) {
    const rows = group.rules.map((rule) => h('tr', { class: `rule ${rule.health}` },
      h('td', {}, rule.type === 'alerting' ? badge(rule.state) : badge('record', 'record')),
      h('td', { class: 'name' }, rule.name),
      h('td', {}, h('code', {}, rule.query)),
      h('td', {}, badge(rule.health, `health-${rule.health}`), rule.lastError ? h('div', { class: 'rule-error' }, rule.lastError) : null),
      h('td', { class: 'muted' }, `${ago(rule.lastEvaluation)} · ${(rule.evaluationTime * 1000).toFixed(1)} ms`),
    ));
    box.append(h('section', { class: 'group' },
      h('h3', {}, h('span', {}, group.name), h('span', { class: 'muted' }, ` ${group.file} · every ${group.interval}s · evaluated ${ago(group.lastEvaluation)}`)),
      h('table', { class: 'rules-table' },
        h('thead', {}, h('tr', {}, ...['State', 'Rule', 'Expression', 'Health', 'Last evaluation'].map((t) => h('th', {}, t)))),
        h('tbody', {}, ...rows),
      ),
    ));
  }
}

async function refresh() {
  keepInUrl();
  $('status').textContent = 'Loading…';
  try {
    const groups = await fetchRules();
    $('error').hidden = true;
    renderAlerts(groups);
    renderGroups(groups);
    const rules = groups.reduce((n, g) => n + g.rules.length, 0);
    $('status').textContent = `${groups.length} groups, ${rules} rules`;
  } catch (error) {
    $('error').textContent = error.message;
    $('error').hidden = false;
    $('status').textContent = '';
  }
}

$('refresh').addEventListener('click', refresh);
$('filter').addEventListener('change', refresh);
$('tenant').addEventListener('change', refresh);
setInterval(refresh, REFRESH_MS);
refresh();
