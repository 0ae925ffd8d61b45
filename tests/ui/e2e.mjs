// Browser test of the Skald web UI: drives Debian's headless Chromium through
// playwright-core against a running `skald server`.
//
//   node tests/ui/e2e.mjs <base-url> [screenshot-dir]
//
// Run by crates/skald/tests/ui.rs, which starts the server and pushes the data this
// script expects (the contract, in the server's last hour):
//   {app="checkout", level="info"}   150 lines "order <i> placed", one every 10 s
//   {app="checkout", level="warn"}    30 lines "slow response <i> ms", at the same
//                                     timestamps as info lines (ties across streams)
//   {app="checkout", level="error"}   40 lines "payment failed for order <i>",
//                                     structured metadata trace_id=trace-<i>
//   {app="big"}                    10000 lines "bulk line <i> ..."
// The script pushes {app="tailtest"} lines itself while a live tail is open.
//
// Prints one line per step and exits 0 only when every step passed; on a failure it
// saves failure.png in the screenshot dir.

import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const base = process.argv[2];
const shots = process.argv[3] || 'target/ui-screenshots';
if (!base) {
  console.error('usage: node e2e.mjs <base-url> [screenshot-dir]');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT = 15000;
const results = [];
const figures = {};

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function step(name, body) {
  const started = Date.now();
  try {
    await body();
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name}: ${error.message}`);
    throw error;
  }
}

async function push(labels, lines) {
  const now = BigInt(Date.now()) * 1000000n;
  const values = lines.map((line, i) => [String(now + BigInt(i)), line]);
  const response = await fetch(`${base}/loki/api/v1/push`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ streams: [{ stream: labels, values }] }),
  });
  check(response.status === 204, `push answered ${response.status}: ${await response.text()}`);
}

/** Replaces the editor's text (typed, as a person would) and runs it with Enter. */
async function runQuery(page, query) {
  await page.locator('#query').fill('');
  await page.locator('#query').pressSequentially(query);
  await closeCompletions(page);
  await page.locator('#query').press('Enter');
  await page.waitForFunction(() => !document.body.classList.contains('busy') && document.querySelector('#status').textContent !== 'Running…', null, { timeout: WAIT });
}

async function closeCompletions(page) {
  if (await page.locator('#completions').isVisible()) await page.locator('#query').press('Escape');
}

async function rowTexts(page) {
  return page.locator('#logs .row .line').allTextContents();
}

async function waitForRows(page, count) {
  await page.waitForFunction((n) => document.querySelector('#logs').dataset.complete === 'true'
    && document.querySelectorAll('#logs .row').length >= n, count, { timeout: WAIT });
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
const page = await context.newPage();
const consoleErrors = [];
page.on('console', (message) => { if (message.type() === 'error') consoleErrors.push(message.text()); });
page.on('pageerror', (error) => consoleErrors.push(String(error)));

let failed = false;
try {
  await step('page loads from the binary with no outside requests', async () => {
    const outside = [];
    page.on('request', (request) => { if (!request.url().startsWith(base)) outside.push(request.url()); });
    const response = await page.goto(`${base}/`);
    check(response.status() === 200, `GET / answered ${response.status()}`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: WAIT });
    check(outside.length === 0, `requests left the server: ${outside.join(', ')}`);
  });

  await step('autocompletion offers a label name and a value', async () => {
    const editor = page.locator('#query');
    await editor.click();
    await page.keyboard.type('{');
    await page.waitForSelector('#completions li[data-name="app"]', { timeout: WAIT });
    await page.keyboard.type('ap');
    await page.waitForFunction(() => document.querySelector('#completions li[aria-selected="true"]')?.dataset.name === 'app', null, { timeout: WAIT });
    await page.keyboard.press('Enter');
    check(await editor.inputValue() === '{app', `after accepting a label name: ${await editor.inputValue()}`);
    await page.keyboard.type('=');
    await page.waitForSelector('#completions li[data-name="checkout"]', { timeout: WAIT });
    const values = await page.locator('#completions li').evaluateAll((items) => items.map((li) => li.dataset.name));
    check(values.includes('big') && values.includes('checkout'), `values offered: ${values}`);
    await page.keyboard.type('"che');
    await page.waitForFunction(() => document.querySelector('#completions li[aria-selected="true"]')?.dataset.name === 'checkout', null, { timeout: WAIT });
    await page.keyboard.press('Enter');
    check(await editor.inputValue() === '{app="checkout"', `after accepting a value: ${await editor.inputValue()}`);
    await page.keyboard.type('} | lo');
    await page.waitForSelector('#completions li[data-name="logfmt"]', { timeout: WAIT });
    await page.keyboard.press('Escape');
    // Highlighting: the label, the string and the stage are coloured spans.
    check(await page.locator('#highlight .tok-label', { hasText: 'app' }).count() === 1, 'label name not highlighted');
    check(await page.locator('#highlight .tok-string', { hasText: '"checkout"' }).count() === 1, 'string not highlighted');
  });

  await step('a log query shows lines with filter matches highlighted', async () => {
    await runQuery(page, '{app="checkout"} |= "payment"');
    await waitForRows(page, 40);
    const lines = await rowTexts(page);
    check(lines.length === 40, `expected the 40 payment lines, got ${lines.length}`);
    check(lines.every((line) => line.includes('payment failed')), `a line without the filter: ${lines.find((l) => !l.includes('payment'))}`);
    const marks = await page.locator('#logs .row mark').allTextContents();
    check(marks.length === 40 && marks.every((text) => text === 'payment'), `marks: ${marks.slice(0, 3)} (${marks.length})`);
    // Newest first by default.
    check(lines[0].includes('order 39') && lines[39].includes('order 0'), `order: ${lines[0]} ... ${lines[39]}`);
  });

  await step('expanding a line shows its labels and structured metadata', async () => {
    await page.locator('#logs .row').first().click();
    const details = page.locator('#logs .details');
    await details.waitFor({ timeout: WAIT });
    const labels = await details.locator('table.labels tr').allTextContents();
    check(labels.some((row) => row === 'appcheckout'), `labels: ${labels}`);
    check(labels.some((row) => row === 'levelerror'), `labels: ${labels}`);
    const metadata = await details.locator('table.metadata tr').allTextContents();
    check(metadata.some((row) => row === 'trace_idtrace-39'), `metadata: ${metadata}`);
  });

  await step('the volume histogram shows counts by level', async () => {
    await runQuery(page, '{app="checkout"}');
    await waitForRows(page, 100);
    await page.waitForSelector('#volume svg rect.bar', { timeout: WAIT });
    const legend = await page.locator('#volume .legend-item').allTextContents();
    check(legend.includes('error 40') && legend.includes('warn 30') && legend.includes('info 150'), `volume legend: ${legend}`);
    await page.screenshot({ path: join(shots, 'logs.png') });
  });

  await step('load more fetches older pages without duplicates', async () => {
    // Limit 100 over 220 lines: pages of 100, 100 and 20; warn and info lines share
    // timestamps, so page boundaries fall on ties.
    check(await page.locator('#logs .row').count() === 100, 'first page is not 100 lines');
    await page.locator('#more').click();
    await page.waitForFunction(() => document.querySelectorAll('#logs .row').length > 100 && document.querySelector('#logs').dataset.complete === 'true', null, { timeout: WAIT });
    while (await page.locator('#more').isVisible()) {
      const before = await page.locator('#logs .row').count();
      await page.locator('#more').click();
      await page.waitForFunction((n) => document.querySelectorAll('#logs .row').length > n || document.querySelector('#more').hidden, before, { timeout: WAIT });
      await page.waitForFunction(() => document.querySelector('#logs').dataset.complete === 'true', null, { timeout: WAIT });
    }
    const rows = await page.locator('#logs .row').evaluateAll((items) => items.map((row) => row.textContent));
    check(rows.length === 220, `expected all 220 lines after loading more, got ${rows.length}`);
    check(new Set(rows).size === 220, `duplicates among ${rows.length} rows`);
  });

  await step('oldest first reverses the order', async () => {
    await page.locator('#direction').selectOption('forward');
    await page.waitForFunction(() => document.querySelector('#logs').dataset.complete === 'true' && !document.body.classList.contains('busy'), null, { timeout: WAIT });
    const times = await page.locator('#logs .row .ts').allTextContents();
    check(times.length === 100, `rows: ${times.length}`);
    check(times[0] <= times[times.length - 1], `not oldest first: ${times[0]} .. ${times[times.length - 1]}`);
    check((await rowTexts(page))[0].includes('order 0 placed'), `first line: ${(await rowTexts(page))[0]}`);
    await page.locator('#direction').selectOption('backward');
    await page.waitForFunction(() => !document.body.classList.contains('busy'), null, { timeout: WAIT });
  });

  await step('a metric query draws a graph with a legend', async () => {
    await runQuery(page, 'sum by (level) (count_over_time({app="checkout"}[5m]))');
    await page.waitForSelector('#graph svg path.series', { timeout: WAIT });
    check(await page.locator('#graph svg path.series').count() === 3, 'expected 3 series');
    const legend = await page.locator('#graph .legend-item').allTextContents();
    for (const level of ['error', 'info', 'warn']) check(legend.includes(`{level="${level}"}`), `legend: ${legend}`);
    check(await page.locator('#logs .row').count() === 0, 'log lines still shown under a metric result');
    const box = await page.locator('#graph svg').boundingBox();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
    await page.locator('#graph .tooltip').waitFor({ timeout: WAIT });
    await page.screenshot({ path: join(shots, 'graph.png') });
    // Clicking a legend entry hides that series.
    await page.locator('#graph .legend-item').first().click();
    check(await page.locator('#graph svg path.series').count() === 2, 'legend click did not hide a series');
  });

  await step('an instant query shows a table', async () => {
    await page.locator('#type').selectOption('instant');
    await runQuery(page, 'sum by (level) (count_over_time({app="checkout"}[1h]))');
    await page.waitForSelector('#table table.result-table tbody tr', { timeout: WAIT });
    const rows = await page.locator('#table tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    check(rows.length === 3, `rows: ${JSON.stringify(rows)}`);
    check(JSON.stringify(rows) === JSON.stringify([['info', '150'], ['error', '40'], ['warn', '30']]), `table: ${JSON.stringify(rows)}`);
    await page.screenshot({ path: join(shots, 'table.png') });
    await page.locator('#type').selectOption('range');
    await page.waitForFunction(() => !document.body.classList.contains('busy'), null, { timeout: WAIT });
  });

  await step('a bad query shows the parse error at its position', async () => {
    await runQuery(page, '{app="checkout" |= "x"}');
    const error = page.locator('#error');
    await error.waitFor({ timeout: WAIT });
    const message = await error.locator('.message').textContent();
    check(/parse error at line 1, col 17/.test(message), `message: ${message}`);
    check(await error.getAttribute('data-col') === '17', 'column not recorded');
    const marked = await page.locator('#highlight .error-mark').textContent();
    check(marked === '|', `marked character: ${JSON.stringify(marked)}`);
    const pointer = await error.locator('.pointer').textContent();
    check(pointer.split('\n')[1] === `${' '.repeat(16)}^`, `pointer: ${JSON.stringify(pointer)}`);
    await page.screenshot({ path: join(shots, 'error.png') });
    // Fixing the query clears the error (validated as you type).
    await page.locator('#query').fill('{app="checkout"} |= "x"');
    await page.locator('#query').press('End');
    await page.keyboard.type(' ');
    await page.waitForFunction(() => document.querySelector('#error').hidden, null, { timeout: WAIT });
  });

  await step('a shared URL restores the query and range', async () => {
    await page.locator('#range').selectOption('now-6h');
    await runQuery(page, '{app="checkout"} |= "slow"');
    await page.locator('#direction').selectOption('forward');
    await page.waitForFunction(() => !document.body.classList.contains('busy') && document.querySelector('#logs').dataset.complete === 'true', null, { timeout: WAIT });
    const shared = page.url();
    check(shared.includes('from=now-6h') && shared.includes('direction=forward'), `URL: ${shared}`);
    const other = await context.newPage();
    await other.goto(shared);
    await other.waitForFunction(() => document.querySelector('#logs').dataset.complete === 'true', null, { timeout: WAIT });
    check(await other.locator('#query').inputValue() === '{app="checkout"} |= "slow"', 'query not restored');
    check(await other.locator('#range').inputValue() === 'now-6h', 'range not restored');
    check(await other.locator('#direction').inputValue() === 'forward', 'direction not restored');
    check(await other.locator('#logs .row').count() === 30, 'results not shown from the link');
    // An absolute range round-trips too.
    const to = Date.now();
    const from = to - 2 * 3600 * 1000;
    await other.goto(`${base}/?query=${encodeURIComponent('{app="checkout"}')}&from=${from}&to=${to}`);
    await other.waitForFunction(() => document.querySelector('#logs').dataset.complete === 'true', null, { timeout: WAIT });
    check(await other.locator('#range').inputValue() === 'absolute', 'absolute range not restored');
    check(!(await other.locator('#absolute').isHidden()), 'absolute inputs hidden');
    const fromInput = await other.locator('#from').inputValue();
    check(fromInput.length >= 16 && new Date(fromInput).getTime() === Math.floor(from / 1000) * 1000, `from input: ${fromInput}`);
    await other.close();
    await page.locator('#range').selectOption('now-1h');
    await page.locator('#direction').selectOption('backward');
    await page.waitForFunction(() => !document.body.classList.contains('busy'), null, { timeout: WAIT });
  });

  await step('live tail shows new lines, and holds them while paused', async () => {
    const nonce = Date.now().toString(36);
    await page.locator('#query').fill(`{app="tailtest"}`);
    await page.locator('#live').click();
    await page.waitForSelector('#tailbar[data-state="live"]', { timeout: WAIT });
    await push({ app: 'tailtest' }, [`first tail line ${nonce}`]);
    await page.locator('#logs .row', { hasText: `first tail line ${nonce}` }).waitFor({ timeout: WAIT });
    await page.locator('#pause').click();
    await page.waitForSelector('#tailbar[data-state="paused"]', { timeout: WAIT });
    await push({ app: 'tailtest' }, [`second tail line ${nonce}`]);
    await page.waitForFunction(() => /1 new line held/.test(document.querySelector('#tail-state').textContent), null, { timeout: WAIT });
    await page.waitForTimeout(1500);
    check(await page.locator('#logs .row', { hasText: `second tail line ${nonce}` }).count() === 0, 'a line arrived while paused');
    await page.screenshot({ path: join(shots, 'tail-paused.png') });
    await page.locator('#pause').click();
    await page.locator('#logs .row', { hasText: `second tail line ${nonce}` }).waitFor({ timeout: WAIT });
    const lines = await rowTexts(page);
    check(lines[0].includes('second') && lines[1].includes('first'), `live order (newest on top): ${lines.slice(0, 2)}`);
    await page.screenshot({ path: join(shots, 'tail.png') });
    await page.locator('#stop').click();
    await page.waitForFunction(() => document.querySelector('#live').textContent === 'Live', null, { timeout: WAIT });
  });

  await step('10,000 lines render and the page stays responsive', async () => {
    const started = Date.now();
    await page.goto(`${base}/?query=${encodeURIComponent('{app="big"}')}&from=now-1h&to=now&limit=10000`);
    await page.waitForFunction(() => document.querySelector('#logs').dataset.complete === 'true'
      && document.querySelector('#logs').dataset.rendered === '10000', null, { timeout: 60000 });
    const wall = Date.now() - started;
    const renderMs = Number(await page.locator('#logs').getAttribute('data-render-ms'));
    check(await page.locator('#logs .row').count() === 10000, 'not 10,000 rows');
    // Responsiveness: scroll to the end and back, timing the frames it takes.
    const scrollMs = await page.evaluate(async () => {
      const t0 = performance.now();
      window.scrollTo(0, document.body.scrollHeight);
      await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
      window.scrollTo(0, 0);
      await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
      return performance.now() - t0;
    });
    figures.render10k = renderMs;
    figures.load10k = wall;
    figures.scroll10k = scrollMs;
    console.log(`     render 10,000 lines: ${renderMs.toFixed(0)} ms in the page (DOM built and laid out); ${wall} ms from navigation (page load + query + render); scroll to end and back: ${scrollMs.toFixed(0)} ms`);
    check(renderMs < 5000, `rendering 10,000 lines took ${renderMs} ms`);
    await page.screenshot({ path: join(shots, 'big.png') });
  });

  await step('dark mode follows the system', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(`${base}/?query=${encodeURIComponent('{app="checkout"} |= "payment"')}`);
    await waitForRows(page, 40);
    await page.locator('#logs .row').first().click();
    await page.waitForSelector('#volume svg rect.bar', { timeout: WAIT });
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    check(background === 'rgb(17, 20, 24)', `dark background: ${background}`);
    await page.screenshot({ path: join(shots, 'logs-dark.png') });
  });

  await step('the rules page lists a group, its rules and the firing alert', async () => {
    await page.emulateMedia({ colorScheme: 'light' });
    const group = [
      'name: ui-checks',
      'interval: 1s',
      'rules:',
      '  - alert: PaymentsFailing',
      '    expr: sum by (app) (count_over_time({app="checkout", level="error"}[1h])) > 0',
      '    labels:',
      '      severity: page',
      '    annotations:',
      "      summary: '{{ $labels.app }}: {{ $value }} failed payments'",
      '  - record: checkout:errors:count1h',
      '    expr: sum(count_over_time({app="checkout", level="error"}[1h]))',
      '',
    ].join('\n');
    const response = await fetch(`${base}/loki/api/v1/rules/ui`, { method: 'POST', body: group });
    check(response.status === 202, `loading the rules answered ${response.status}: ${await response.text()}`);
    await page.goto(`${base}/rules`);
    const deadline = Date.now() + WAIT;
    let alerts = '';
    // Both rules evaluated (the page may first show the group between its two rules).
    while (!alerts.includes('PaymentsFailing') || (await page.locator('#groups .badge.health-ok').count()) !== 2) {
      check(Date.now() < deadline, `no firing alert and two healthy rules on the rules page: ${alerts}`);
      await page.waitForTimeout(500);
      await page.locator('#refresh').click();
      alerts = await page.locator('#alerts').textContent();
    }
    check(alerts.includes('firing') && alerts.includes('checkout: 40 failed payments') && alerts.includes('severity=page'), `alerts: ${alerts}`);
    const groups = await page.locator('#groups').textContent();
    check(groups.includes('ui-checks') && groups.includes('checkout:errors:count1h') && groups.includes('count_over_time'), `groups: ${groups}`);
    check((await page.locator('#groups .badge.health-ok').count()) === 2, 'both rules healthy');
    await page.selectOption('#filter', 'record');
    await page.waitForFunction(() => !document.querySelector('#groups').textContent.includes('PaymentsFailing'), null, { timeout: WAIT });
    check(new URL(page.url()).searchParams.get('type') === 'record', `the filter is in the URL: ${page.url()}`);
    await page.selectOption('#filter', '');
    await page.screenshot({ path: join(shots, 'rules.png'), fullPage: true });
  });

  await step('no errors in the browser console', async () => {
    // The bad query's 400s are expected; anything else is not.
    const unexpected = consoleErrors.filter((text) => !/status of 400/.test(text));
    check(unexpected.length === 0, `console errors: ${unexpected.join(' | ')}`);
  });
} catch {
  failed = true;
  await page.screenshot({ path: join(shots, 'failure.png') }).catch(() => {});
  if (consoleErrors.length) console.log(`browser console errors: ${consoleErrors.join(' | ')}`);
} finally {
  await browser.close();
}

const passed = results.filter((r) => r.ok).length;
console.log(`figures: ${JSON.stringify(figures)}`);
console.log(`screenshots in ${shots}`);
console.log(`browser: ${passed} passed, ${results.length - passed} failed`);
process.exit(failed ? 1 : 0);
