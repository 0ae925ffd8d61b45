// Calls to the Loki HTTP API of the server that served this page (same origin).
// Errors come back as plain text (Loki's convention); a LogQL parse error names its
// line and column, which `ApiError` exposes so the editor can mark the spot.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
    const position = /parse error at line (\d+), col (\d+)/.exec(message);
    this.line = position ? Number(position[1]) : null;
    this.col = position ? Number(position[2]) : null;
  }
}

let tenant = '';

/** The tenant sent as `X-Scope-OrgID` (needed when the server runs with `auth_enabled`). */
export function setTenant(value) {
  tenant = value.trim();
}

async function request(path, params, { categorize = false, signal } = {}) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, String(value));
  }
  const headers = {};
  if (categorize) headers['X-Loki-Response-Encoding-Flags'] = 'categorize-labels';
  if (tenant) headers['X-Scope-OrgID'] = tenant;
  let response;
  try {
    response = await fetch(`${path}?${search}`, { headers, signal });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, `cannot reach the server: ${error.message}`);
  }
  const text = await response.text();
  if (!response.ok) {
    let message = text.trim() || `${response.status} ${response.statusText}`;
    if (response.status === 401 && !tenant) message += ' (this server is multi-tenant: fill in the Tenant field)';
    throw new ApiError(response.status, message);
  }
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError(response.status, `the server answered something that is not JSON: ${text.slice(0, 200)}`);
  }
  if (body.status && body.status !== 'success') {
    throw new ApiError(response.status, body.error || `status ${body.status}`);
  }
  return body;
}

/** `query_range`: `{resultType, result, stats}`. Times are BigInt nanoseconds. */
export async function queryRange({ query, startNs, endNs, limit, direction, step }, signal) {
  const body = await request('/loki/api/v1/query_range', {
    query, start: startNs, end: endNs, limit, direction, step,
  }, { categorize: true, signal });
  return body.data;
}

/** Instant `query` at `timeNs`. */
export async function queryInstant({ query, timeNs, limit, direction }, signal) {
  const body = await request('/loki/api/v1/query', { query, time: timeNs, limit, direction }, { categorize: true, signal });
  return body.data;
}

/** Label names seen in the range. */
export async function labelNames(startNs, endNs) {
  const body = await request('/loki/api/v1/labels', { start: startNs, end: endNs });
  return body.data || [];
}

/** Values of one label in the range. */
export async function labelValues(name, startNs, endNs) {
  const body = await request(`/loki/api/v1/label/${encodeURIComponent(name)}/values`, { start: startNs, end: endNs });
  return body.data || [];
}

/** Asks the server to parse (and pretty-print) a query; throws ApiError when it does not parse. */
export async function formatQuery(query, signal) {
  const body = await request('/loki/api/v1/format_query', { query }, { signal });
  return body.data;
}

/** The websocket URL of a live tail. */
export function tailUrl(query, startNs, limit) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const search = new URLSearchParams({ query, start: String(startNs), limit: String(limit) });
  return `${scheme}://${location.host}/loki/api/v1/tail?${search}`;
}
