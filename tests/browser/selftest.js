'use strict';
// The browser driver (cdp.js) against a tiny page of its own, served by
// node's http module on 127.0.0.1 (a free port): navigate, evaluate, click by
// element and by mouse, keys, screenshot, waitFor and its timeout, the
// errors and requests it records, and that Chromium never outlives the
// driver (closed, global timeout, uncaught error, SIGTERM, driver killed).
//   node tests/browser/selftest.js      (exit 77: no Chromium, skipped)
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const cdp = require('./cdp');

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>cdp selftest</title>
<link rel="stylesheet" href="/app.css"></head>
<body>
<h1>cdp selftest</h1>
<button id="b">count</button>
<input id="field" value="">
<svg width="300" height="80"><g id="node" tabindex="0" role="button" data-task="t1">
<rect x="10" y="10" width="120" height="50"></rect><text x="20" y="40">t1</text></g></svg>
<div id="under">under</div><div id="cover">cover</div>
<script src="/app.js"></script>
</body></html>`;

const CSS = `body { background: #e8f0ff; font: 16px sans-serif; }
rect { fill: #4a8; }
#under, #cover { position: absolute; left: 400px; top: 300px; width: 100px; height: 40px; }
#cover { background: #c33; }`;

const JS = `window.clicks = []; window.later = 0;
document.getElementById('b').addEventListener('click', (e) => window.clicks.push(e.isTrusted));
const node = document.getElementById('node');
node.addEventListener('click', () => { node.dataset.activated = 'click'; });
node.addEventListener('keydown', (e) => { if (e.key === 'Enter') node.dataset.activated = 'enter'; });
document.getElementById('under').addEventListener('click', () => { window.underClicked = true; });
setTimeout(() => { window.later = 1; }, 300);`;

const ERR_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>errors</title></head><body>
<script src="/err.js"></script></body></html>`;
const ERR_JS = `console.error('boom-console');
setTimeout(() => { throw new Error('boom-uncaught'); }, 10);
fetch('http://127.0.0.1:1/elsewhere').catch(() => {}).finally(() => { window.done = true; });`;

function serve() {
  const files = {
    '/': ['text/html', PAGE], '/app.css': ['text/css', CSS], '/app.js': ['text/javascript', JS],
    '/errors': ['text/html', ERR_PAGE], '/err.js': ['text/javascript', ERR_JS],
  };
  const server = http.createServer((req, res) => {
    const f = files[req.url];
    if (!f) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': `${f[0]}; charset=utf-8` });
    res.end(f[1]);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// the processes of process group pgid still alive (not zombies)
function groupAlive(pgid) {
  const alive = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch (e) {
      continue;
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // state ppid pgrp ...
    if (Number(f[2]) === pgid && f[0] !== 'Z') alive.push(Number(d));
  }
  return alive;
}

// Chromium's processes: its process group, and those naming its profile
// (the crash handler, which leaves the group)
const chromiumAlive = (pgid, profile) => [...new Set([...groupAlive(pgid), ...(profile ? cdp.namingProfile(profile) : [])])];

async function gone(pgid, ms, profile) {
  const deadline = Date.now() + ms;
  while (chromiumAlive(pgid, profile).length) {
    if (Date.now() > deadline) return false;
    await cdp.sleep(50);
  }
  return true;
}

function pngSize(file) {
  const b = fs.readFileSync(file);
  if (b.length < 24 || b.toString('latin1', 1, 4) !== 'PNG' || b.toString('latin1', 12, 16) !== 'IHDR') return null;
  return [b.readUInt32BE(16), b.readUInt32BE(20)];
}

// A driver in a child process that launches Chromium, prints
// {"pid":..,"profile":..} and then ends the way mode says.
async function child(mode) {
  if (mode === 'timeout') cdp.setGlobalTimeout(4000);
  const b = await cdp.launch();
  await b.newPage();
  console.log(JSON.stringify({ pid: b.pid, profile: b.profile }));
  if (mode === 'throw') setTimeout(() => { throw new Error('thrown on purpose'); }, 200);
  setInterval(() => {}, 1000); // hang until killed or timed out
}

// run a child driver, end it (mode), and check that its Chromium is gone
async function childCase(t, mode, expect) {
  const c = spawn(process.execPath, [__filename, '--child', mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  c.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((r) => c.on('exit', (code, sig) => r(sig || code)));
  const info = await new Promise((resolve, reject) => {
    c.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        try {
          resolve(JSON.parse(out.slice(0, nl)));
        } catch (e) {
          reject(new Error(`child ${mode}: ${out}`));
        }
      }
    });
    exited.then((how) => reject(new Error(`child ${mode} ended (${how}) before starting Chromium: ${err}`)));
  });
  if (mode === 'sigterm') c.kill('SIGTERM');
  if (mode === 'sigkill') c.kill('SIGKILL');
  const how = await exited;
  t.check(String(how) === String(expect), `${mode}: the driver ended (${expect})`, `ended ${how}; stderr: ${err}`);
  // killed drivers leave Chromium to notice its pipe closed
  const ok = await gone(info.pid, mode === 'sigkill' ? 20000 : 5000, info.profile);
  t.check(ok, `${mode}: no Chromium process left`, `still running: ${chromiumAlive(info.pid, info.profile).join(' ')}`);
  if (!ok) for (const p of chromiumAlive(info.pid, info.profile)) try { process.kill(p, 'SIGKILL'); } catch (e) { /* gone */ }
  if (mode === 'sigkill') fs.rmSync(info.profile, { recursive: true, force: true }); // nobody left to do it
  else t.check(!fs.existsSync(info.profile), `${mode}: its profile removed`, info.profile);
}

async function selftest(t) {
  const server = await serve();
  const base = `http://127.0.0.1:${server.address().port}`;
  const shots = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'cdp-selftest-'));
  try {
    const browser = await cdp.launch();
    t.check(/Chrom/.test(browser.version), `launched ${browser.version}`, browser.version);
    const page = await browser.newPage();

    await page.goto(`${base}/`);
    t.check(await page.evaluate('document.title') === 'cdp selftest', 'navigate and evaluate');
    t.check(await page.evaluate('new Promise((r) => setTimeout(() => r(6 * 7), 50))') === 42, 'evaluate awaits a promise');
    t.check((await page.evaluate('({a: [1, "x"]})')).a[1] === 'x', 'evaluate returns by value');
    await page.evaluate('nope.nope').then(() => t.bad('an exception in evaluate is an error'),
      (e) => t.check(/nope is not defined/.test(e.message), 'an exception in evaluate is an error', e.message));

    await page.click('#b');
    await page.mouseClick('#b');
    t.check(JSON.stringify(await page.evaluate('window.clicks')) === '[false,true]',
      'click(): element click; mouseClick(): a trusted mouse click', await page.evaluate('window.clicks'));
    await page.mouseClick('#node');
    t.check(await page.evaluate('document.getElementById("node").dataset.activated') === 'click', 'mouse click on an svg g');
    await page.mouseClick('#under').then(() => t.bad('a covered element is not clicked'),
      (e) => t.check(/covered by div#cover/.test(e.message), 'a covered element is not clicked', e.message));
    t.check(!await page.evaluate('window.underClicked'), '... and got no click');
    await page.mouseClick('#missing').then(() => t.bad('mouse click on a missing element fails'),
      (e) => t.check(/no element #missing/.test(e.message), 'mouse click on a missing element fails', e.message));

    await page.evaluate('document.activeElement && document.activeElement.blur(), document.getElementById("node").dataset.activated = ""');
    let tabs = 0;
    while (tabs < 10 && await page.evaluate('document.activeElement && document.activeElement.id') !== 'node') {
      await page.press('Tab');
      tabs++;
    }
    t.check(tabs === 3, 'Tab moves the focus: button, input, svg node', `${tabs} tabs`);
    await page.press('Enter');
    t.check(await page.evaluate('document.getElementById("node").dataset.activated') === 'enter', 'Enter on the focused node');
    await page.press('Tab', { shift: true });
    await page.press('Tab', { shift: true });
    t.check(await page.evaluate('document.activeElement.id') === 'b', 'Shift+Tab goes back');
    await page.press('Enter');
    t.check(await page.evaluate('window.clicks.length') === 3, 'Enter on a focused button clicks it');

    t.check(await page.waitFor('window.later', 'the later flag', 5000) === 1, 'waitFor: a condition that comes true');
    const t0 = Date.now();
    await page.waitFor('window.never || 0', 'the never flag', 700).then(() => t.bad('waitFor times out'), (e) => {
      const took = Date.now() - t0;
      t.check(/the never flag/.test(e.message) && /last value: 0$/.test(e.message) && took >= 700 && took < 5000,
        `waitFor times out naming what and the last value (${took} ms)`, e.message);
    });

    const png = await page.screenshot(path.join(shots, 'selftest.png'));
    const size = pngSize(png);
    t.check(size && size[0] === 1280 && size[1] === 800, 'screenshot: a 1280x800 png', size);
    if (process.env.CDP_SELFTEST_SHOT) fs.copyFileSync(png, process.env.CDP_SELFTEST_SHOT);

    t.check(page.problems().length === 0, 'a clean page: no errors recorded', page.problems());
    t.check(page.requests.some((r) => r.url === `${base}/app.js`), 'requests are recorded', page.requests);
    const httpErrors = page.httpErrors.filter((e) => !/\/favicon\.ico$/.test(e)); // Chromium asks for it
    t.check(httpErrors.length === 0, 'no HTTP errors', httpErrors);

    await page.goto(`${base}/errors`);
    await page.waitFor('window.done', 'the errors page done', 10000);
    await page.waitFor('true', 'nothing'); // one more round trip for late events
    t.check(page.consoleErrors.some((e) => /boom-console/.test(e)), 'console.error recorded', page.consoleErrors);
    await cdp.sleep(0);
    t.check(page.exceptions.some((e) => /boom-uncaught/.test(e)), 'uncaught exception recorded', page.exceptions);
    t.check(page.failed.some((e) => /127\.0\.0\.1:1\/elsewhere/.test(e)), 'failed request recorded', page.failed);
    t.check(page.offOrigin().includes('http://127.0.0.1:1/elsewhere') && page.offOrigin().length === 1,
      'a request to another origin recorded (only that one)', page.offOrigin());
    await page.goto(`${base}/nothing-here`);
    t.check(page.httpErrors.some((e) => /^404 .*nothing-here/.test(e)), 'HTTP errors recorded', page.httpErrors);

    const { pid, profile } = browser;
    await browser.close();
    t.check(await gone(pid, 5000, profile), 'close(): no Chromium process left', chromiumAlive(pid, profile));
    t.check(!fs.existsSync(profile), 'close(): profile removed', profile);
  } finally {
    server.close();
    fs.rmSync(shots, { recursive: true, force: true });
  }
  await childCase(t, 'timeout', 2);
  await childCase(t, 'throw', 1);
  await childCase(t, 'sigterm', 128 + 15);
  await childCase(t, 'sigkill', 'SIGKILL');
}

if (process.argv[2] === '--child') {
  child(process.argv[3]);
} else {
  const exe = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(exe)) {
    console.log(`skip: no Chromium at ${exe} (cluster/scripts/setup.sh installs it)`);
    process.exit(77);
  }
  cdp.main(selftest, { timeoutMs: 100000 });
}
