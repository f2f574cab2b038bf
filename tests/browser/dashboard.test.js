'use strict';
// The scheduler's web dashboard as a person sees it, in Chromium headless:
//   node tests/browser/dashboard.test.js URL JOBID OUTDIR
// URL: the dashboard (`cairn up` prints `dashboard: URL`); JOBID: a job of a
// prep task, a matrix `train` whose members each hold a GPU and run until
// released, and an eval task needing train (tests/cli/dashboard.sh submits
// it). While train runs it checks the cluster, jobs and job pages against the
// JSON API (fetched here), opens the task panel by mouse and by keyboard;
// then prints `release: ...` on a line of its own, and the caller lets the
// tasks end; once the job has succeeded a second load of the job page must
// show it so; last the capacity page. Screenshots cluster.png, job.png and
// capacity.png (1280x800) go to OUTDIR. Any console error, uncaught
// exception, failed request or request to another origin fails it.
// Exit 0: all passed; 1: something failed; 2: the global deadline
// ($DASHBOARD_TIMEOUT_MS, default 240 s) passed. Chromium is killed on
// every path.
const path = require('node:path');
const cdp = require('./cdp');

const [url, job, outdir] = process.argv.slice(2);
if (!url || !/^\d+$/.test(job || '') || !outdir) {
  console.error('usage: node dashboard.test.js URL JOBID OUTDIR');
  process.exit(64);
}
const base = new URL('/', url).href; // http://127.0.0.1:PORT/
const ENDED = ['succeeded', 'failed', 'cancelled'];

// GET /api/v1/P as JSON; an HTTP error or a reply that is not JSON is an
// error naming the path
async function api(p) {
  let r;
  try {
    r = await fetch(new URL(`api/v1/${p}`, base), { signal: AbortSignal.timeout(10000) });
  } catch (e) {
    throw new Error(`GET /api/v1/${p}: ${e.cause ? e.cause.message || e.cause.code : e.message}`);
  }
  const text = await r.text();
  let j;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new Error(`GET /api/v1/${p}: HTTP ${r.status}, not JSON: ${text.slice(0, 200)}`);
  }
  if (!r.ok) throw new Error(`GET /api/v1/${p}: HTTP ${r.status}: ${JSON.stringify(j.error || j)}`);
  return j;
}

// until(fn, what, ms): call fn until it returns {ok: true}; past the
// deadline, fail naming what and fn's last detail
async function until(fn, what, timeoutMs = 10000, intervalMs = 200) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last && last.ok) return last;
    } catch (e) {
      last = { detail: `error: ${e.message}` };
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last && last.detail)}`);
    }
    await cdp.sleep(intervalMs);
  }
}

const q = JSON.stringify; // a string as a JS literal, for page expressions
const cssAttr = (v) => `"${String(v).replace(/["\\]/g, '\\$&')}"`; // attribute value in a selector

// pageUntil(expr, what, ms): until the page expression (one returning
// {ok, detail}) is ok; past the deadline, fail naming what and the detail
const pageUntil = (page, expr, what, timeoutMs = 10000) =>
  until(() => page.evaluate(expr.replace(/\n\s*/g, ' ')), what, timeoutMs, 100);

// the page of name (cluster, job, ...) has rendered its first data
function pageReady(page, name) {
  return pageUntil(page, `(() => { const b = document.body || {dataset: {}};
    return {ok: b.dataset.page === ${q(name)} && b.dataset.ready === '1',
      detail: {page: b.dataset.page, ready: b.dataset.ready, path: location.pathname, title: document.title}}; })()`,
  `the ${name} page rendered (body.dataset.page=${name}, ready=1)`, 20000);
}

// the graph nodes drawn: [{id, state, group}]
const DAG_NODES = `Array.from(document.querySelectorAll('svg#dag g[data-task]')).map((g) =>
  ({id: g.dataset.task, state: g.dataset.state, group: g.dataset.group === '1'}))`;

// what differs between the nodes drawn and the API's graph (empty: nothing)
function graphDiff(dom, graph) {
  const diff = [];
  const drawn = new Map();
  for (const d of dom) {
    if (drawn.has(d.id)) diff.push(`${d.id} drawn twice`);
    drawn.set(d.id, d);
  }
  for (const n of graph.nodes || []) {
    const d = drawn.get(n.id);
    if (!d) diff.push(`${n.id} (${n.state}) not drawn`);
    else {
      if (d.state !== n.state) diff.push(`${n.id}: data-state ${d.state}, API ${n.state}`);
      if (d.group !== !!n.group) diff.push(`${n.id}: data-group ${d.group ? '1' : 'absent'}, API group ${!!n.group}`);
      drawn.delete(n.id);
    }
  }
  for (const id of drawn.keys()) diff.push(`${id} drawn, not in the API's graph`);
  return diff;
}

async function heldGpus(name) {
  const nodes = await api('nodes');
  const n = (nodes.nodes || []).find((x) => x.name === name);
  return n ? n.gpus.filter((g) => String(g.job_id) === job).map((g) => g.index).sort((a, b) => a - b) : [];
}

async function test(t) {
  // A server that does not answer fails at once, not section by section.
  const answers = await t.section(`the dashboard answers at ${base}`, async () => {
    let r;
    try {
      r = await fetch(base, { signal: AbortSignal.timeout(10000) });
    } catch (e) {
      throw new Error(`GET ${base}: ${e.cause ? e.cause.message || e.cause.code : e.message}`);
    }
    const type = r.headers.get('content-type') || '';
    if (r.status !== 200 || !/^text\/html/.test(type)) throw new Error(`GET ${base}: HTTP ${r.status}, ${type || 'no Content-Type'}`);
    await api('nodes');
    t.ok(`the dashboard answers at ${base} (the page and /api/v1/nodes)`);
    return true;
  });
  if (!answers) {
    console.log('release: the dashboard does not answer');
    return;
  }
  const browser = await cdp.launch();
  t.ok(`Chromium: ${browser.version}`);
  const page = await browser.newPage();
  const shot = async (name) => {
    const f = await page.screenshot(path.join(outdir, name));
    t.ok(`screenshot ${f}`);
  };
  let members = []; // train's members, from the API

  // The job runs: train's members hold their GPUs until released.
  const running = await t.section('the job runs', async () => {
    await until(async () => {
      const s = await api(`jobs/${job}?summary=1`);
      const r = Number(s.job.tasks_running || 0);
      return { ok: r >= 3, detail: `${s.job.state}, ${r} tasks running` };
    }, `job ${job} running 3 tasks (API)`, 60000);
    t.ok(`job ${job} runs 3 tasks (API)`);
    return true;
  });

  await t.section('cluster page (/)', async () => {
    await page.goto(base);
    await pageReady(page, 'cluster');
    const nav = await page.evaluate(`['nav-cluster', 'nav-jobs', 'nav-capacity', 'nav-accounts']
      .filter((id) => !document.querySelector('a#' + id))`);
    t.check(nav.length === 0, 'nav links a#nav-cluster, a#nav-jobs, a#nav-capacity, a#nav-accounts', `missing: ${nav}`);
    const apiNodes = (await api('nodes')).nodes || [];
    t.check(apiNodes.length === 1, 'the API lists one node', apiNodes.map((n) => n.name));
    for (const n of apiNodes) {
      const sel = `[data-node=${cssAttr(n.name)}]`;
      const got = await pageUntil(page, `(() => { const e = document.querySelector(${q(sel)});
        return {ok: !!e && e.dataset.state === ${q(n.state)}, detail: e ? 'data-state ' + e.dataset.state : 'no ' + ${q(sel)}}; })()`,
      `node ${n.name} shown ${n.state}`).then(() => 'ok', (e) => e.message);
      if (!t.check(got === 'ok', `node ${n.name}: [data-node][data-state=${n.state}]`, got)) continue;
      const tiles = await page.evaluate(`Array.from(document.querySelectorAll(${q(`${sel} [data-gpu-index]`)}))
        .map((e) => ({i: e.dataset.gpuIndex, model: e.dataset.gpuModel, job: e.dataset.job || ''}))`);
      t.check(tiles.length === 8 && n.gpus.length === 8, `node ${n.name}: exactly 8 GPU tiles`, `${tiles.length} tiles, API ${n.gpus.length} GPUs`);
      const idx = tiles.map((x) => x.i).sort((a, b) => a - b).join(',');
      t.check(idx === n.gpus.map((g) => g.index).sort((a, b) => a - b).join(','), 'the tiles are the API\'s GPU indices', idx);
      const models = tiles.filter((x) => !x.model || !n.gpus.some((g) => g.model.toLowerCase().includes(x.model.toLowerCase())));
      t.check(models.length === 0, 'every tile has data-gpu-model, the API\'s model', models);
    }
    if (running) {
      // the page polls: wait until it shows the API's holders (train's 3 GPUs)
      const want = await heldGpus(apiNodes[0].name);
      t.check(want.length === 3, `the API: job ${job} holds 3 GPUs`, want);
      const holders = `Array.from(document.querySelectorAll('[data-gpu-index]')).map((e) => e.dataset.gpuIndex + ':' + (e.dataset.job || '')).sort().join(' ')`;
      const apiHolders = async () => {
        const n = (await api('nodes')).nodes[0];
        return n.gpus.map((g) => `${g.index}:${g.job_id && g.job_id !== '0' ? g.job_id : ''}`).sort().join(' ');
      };
      await until(async () => {
        const [dom, a] = [await page.evaluate(holders), await apiHolders()];
        return { ok: dom === a, detail: `page ${dom}; API ${a}` };
      }, `the tiles held by job ${job} (data-job) to match the API`, 10000);
      t.ok(`GPU tiles ${want.join(',')} carry data-job=${job}, the others none`);
    }
    await shot('cluster.png');
  });

  await t.section('jobs page (nav link)', async () => {
    await page.mouseClick('a#nav-jobs');
    const sel = `tr[data-job=${cssAttr(job)}]`;
    await page.waitFor(`document.body.dataset.page === 'jobs' && location.pathname === '/jobs' &&
      !!document.querySelector(${q(sel)})`.replace(/\n\s*/g, ' '), `the jobs page with ${sel}`, 10000);
    const want = (await api(`jobs/${job}?summary=1`)).job.state;
    const got = await pageUntil(page, `(() => { const e = document.querySelector(${q(sel)});
      return {ok: !!e && e.dataset.state === ${q(want)}, detail: e && e.dataset.state}; })()`,
    `${sel} in state ${want}`).then(() => 'ok', (e) => e.message);
    t.check(got === 'ok', `/jobs: ${sel}[data-state=${want}]`, got);
  });

  let graph;
  await t.section('job page (/jobs/ID)', async () => {
    await page.goto(`${base}jobs/${job}`);
    await pageReady(page, 'job');
    await page.waitFor(`document.querySelectorAll('svg#dag g[data-task]').length > 0`, 'svg#dag with g[data-task] nodes', 10000);
    graph = await api(`jobs/${job}/graph`);
    const ids = (graph.nodes || []).map((n) => `${n.id}${n.group ? `(group of ${n.tasks})` : ''}`).join(' ');
    t.check(ids === 'prep train(group of 3) eval', 'the API\'s graph: prep, train (a group of 3), eval', ids);
    await until(async () => {
      const d = graphDiff(await page.evaluate(DAG_NODES), await api(`jobs/${job}/graph`));
      return { ok: d.length === 0, detail: d };
    }, 'svg#dag to show every node of the API\'s graph in its state', 10000);
    t.ok('svg#dag: one g[data-task] per API graph node, data-state and data-group as the API says');
    const st = await page.evaluate(`(document.querySelector('#job-state') || {}).textContent`);
    t.check(st && /\brunning\b/i.test(st), '#job-state says running', st);
    t.check(await page.evaluate(`!!document.querySelector('div#timeline')`), 'div#timeline');

    // a click on the group expands it: its members drawn, as the API expands them
    await page.mouseClick('svg#dag g[data-task="train"][data-group="1"]');
    const expanded = await api(`jobs/${job}/graph?expand=train`);
    members = (expanded.nodes || []).filter((n) => n.parent === 'train' || /^train\[/.test(n.id)).map((n) => n.id);
    t.check(members.length === 3, 'the API expands train into 3 members', members);
    await until(async () => {
      const d = graphDiff(await page.evaluate(DAG_NODES), await api(`jobs/${job}/graph?expand=train`));
      return { ok: d.length === 0, detail: d };
    }, 'a click on the train group to show its members as the API expands them', 10000);
    t.ok(`clicking the train group shows its members: ${members.join(' ')}`);
    await shot('job.png');
  });

  const panelOpen = (task) => pageUntil(page, `(() => {
      const p = document.querySelector('aside#task-panel');
      const no = (detail) => ({ok: false, detail});
      if (!p) return no('no aside#task-panel');
      if (p.dataset.task !== ${q(task)}) return no('the panel of ' + p.dataset.task);
      const r = p.getBoundingClientRect();
      if (!(r.width > 0 && r.height > 0) || getComputedStyle(p).visibility === 'hidden') return no('the panel not visible');
      const x = p.querySelector('pre#task-explain');
      return x && x.textContent.trim() ? {ok: true} : no('pre#task-explain empty');
    })()`, `aside#task-panel[data-task=${task}] shown with its explain text`);

  const explainMatches = async (task) => {
    await until(async () => {
      const a = (await api(`jobs/${job}/tasks/${encodeURIComponent(task)}/explain`)).text.trim();
      const p = await page.evaluate(`(document.querySelector('aside#task-panel pre#task-explain') || {}).textContent`);
      return { ok: (p || '').trim() === a, detail: { page: p, api: a } };
    }, `pre#task-explain of ${task} to be the API's explain text`, 10000);
    t.ok(`${task}: pre#task-explain is the API's explain text`);
  };

  await t.section('task panel by mouse', async () => {
    const task = members[0] || 'prep';
    await page.mouseClick(`svg#dag g[data-task=${cssAttr(task)}]`);
    await panelOpen(task);
    t.ok(`a click on ${task} opens aside#task-panel`);
    await explainMatches(task);
    const parts = await page.evaluate(`['#task-attempts', '#task-provenance', 'pre#task-logs', 'input#task-follow[type="checkbox"]']
      .filter((s) => !document.querySelector('aside#task-panel ' + s))`);
    t.check(parts.length === 0, 'the panel has #task-attempts, #task-provenance, pre#task-logs, input#task-follow', `missing: ${parts}`);
  });

  await t.section('task panel by keyboard', async () => {
    const task = 'prep';
    await page.evaluate(`document.activeElement && document.activeElement.blur && document.activeElement.blur(), window.scrollTo(0, 0)`);
    const focused = `(() => { const a = document.activeElement; const g = a && a.closest && a.closest('g[data-task]');
      return g ? 'task:' + g.dataset.task : (a ? a.tagName.toLowerCase() + (a.id ? '#' + a.id : '') : 'none'); })()`.replace(/\n\s*/g, ' ');
    const seen = [];
    for (let i = 0; i < 200; i++) {
      await page.press('Tab');
      const f = await page.evaluate(focused);
      seen.push(f);
      if (f === `task:${task}`) break;
    }
    if (seen[seen.length - 1] !== `task:${task}`) {
      throw new Error(`Tab never focused the ${task} node (${seen.length} tabs; focused: ${[...new Set(seen)].slice(0, 20).join(' ')})`);
    }
    t.ok(`${seen.length} Tabs focus the ${task} node`);
    await page.press('Enter');
    await panelOpen(task);
    t.ok(`Enter on the focused ${task} opens aside#task-panel`);
    await explainMatches(task);
  });

  // The tasks may end now (the caller waits for this line).
  console.log(`release: the browser has looked at job ${job} running`);
  const ended = await t.section('the job ends', async () => {
    const s = await until(async () => {
      const j = (await api(`jobs/${job}?summary=1`)).job;
      return { ok: ENDED.includes(j.state), detail: j.state, state: j.state };
    }, `job ${job} to end (API)`, running ? 90000 : 15000, 250);
    t.check(s.state === 'succeeded', `job ${job} succeeded (API)`, s.state);
    return true;
  });

  await t.section('the ended job, loaded again', async () => {
    if (!ended) throw new Error('skipped: the job did not end');
    await page.goto(`${base}jobs/${job}`);
    await pageReady(page, 'job');
    const st = await pageUntil(page, `(() => { const e = document.querySelector('#job-state'); const s = e && e.textContent.trim();
      return {ok: !!s && /\\bsucceeded\\b/i.test(s), detail: e ? s : 'no #job-state'}; })()`, '#job-state "succeeded"');
    t.ok(`#job-state: ${st.detail}`);
    const dom = await page.waitFor(`(() => { const n = ${DAG_NODES}; return n.length ? n : null; })()`, 'the ended job\'s DAG', 10000);
    const notDone = dom.filter((n) => n.state !== 'succeeded');
    t.check(notDone.length === 0, `every g[data-task] (${dom.length}) data-state="succeeded"`, notDone);
    const d = graphDiff(dom, await api(`jobs/${job}/graph`));
    t.check(d.length === 0, 'the DAG is the API\'s', d);
  });

  await t.section('capacity page (/capacity)', async () => {
    await page.goto(`${base}capacity`);
    await pageReady(page, 'capacity');
    const missing = await page.evaluate(`['div#capacity', 'canvas#chart-gpu-hours', 'canvas#chart-waits', 'canvas#chart-frag']
      .filter((s) => !document.querySelector(s))`);
    t.check(missing.length === 0, 'div#capacity with canvas#chart-gpu-hours, #chart-waits, #chart-frag', `missing: ${missing}`);
    const drawn = await page.evaluate(`(() => {
      const c = document.querySelector('canvas#chart-gpu-hours');
      if (!c) return 'no canvas';
      const r = c.getBoundingClientRect();
      if (!(c.width > 0 && c.height > 0 && r.width > 0 && r.height > 0)) return 'no size: ' + c.width + 'x' + c.height;
      const x = c.getContext('2d');
      if (!x) return 'no 2d context';
      const d = x.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
      return n;
    })()`.replace(/\n\s*/g, ' '));
    t.check(typeof drawn === 'number' && drawn > 0, 'canvas#chart-gpu-hours is drawn', drawn);
    // the screenshot once the charts stop changing (chart.js animates them)
    const pixels = `Array.from(document.querySelectorAll('#capacity canvas')).map((c) => {
      const x = c.getContext('2d'); if (!x || !c.width || !c.height) return 0;
      const d = x.getImageData(0, 0, c.width, c.height).data; let h = 0;
      for (let i = 0; i < d.length; i += 7) h = (h * 31 + d[i]) | 0;
      return h; }).join(',')`;
    let before = null;
    await until(async () => {
      const now = await page.evaluate(pixels.replace(/\n\s*/g, ' '));
      const same = now === before;
      before = now;
      return { ok: same, detail: 'the charts still change' };
    }, 'the charts to settle', 10000, 300).catch((e) => console.log(`note: ${e.message}`));
    await shot('capacity.png');
  });

  await t.section('navigation', async () => {
    await page.mouseClick('a#nav-accounts');
    await page.waitFor(`document.body.dataset.page === 'accounts' && location.pathname === '/accounts'`, 'the accounts page by its nav link', 10000);
    await page.mouseClick('a#nav-cluster');
    await page.waitFor(`document.body.dataset.page === 'cluster' && location.pathname === '/' && !!document.querySelector('[data-node]')`,
      'the cluster page by its nav link', 10000);
    t.ok('nav links: accounts, cluster');
  });

  const problems = new Map(); // each once, with how often (every page load repeats them)
  for (const p of page.problems()) problems.set(p, (problems.get(p) || 0) + 1);
  for (const [p, n] of problems) t.bad(n > 1 ? `${p} (${n} times)` : p);
  if (!problems.size) {
    t.ok(`no console error, uncaught exception, failed request or request to another origin (${page.requests.length} requests, all to ${page.origin})`);
  }
  for (const e of new Set(page.httpErrors)) console.log(`note: HTTP ${e}`);
}

cdp.main(test, { timeoutMs: Number(process.env.DASHBOARD_TIMEOUT_MS) || 240000 });
