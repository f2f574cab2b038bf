'use strict';
// A small Chrome DevTools Protocol driver for the browser tests: Node.js >= 18,
// no npm packages. It starts Debian's Chromium headless (/usr/bin/chromium,
// or $CHROMIUM) on a fresh profile, speaks the protocol over
// --remote-debugging-pipe (fd 3: our commands, fd 4: its messages, each one
// JSON followed by a NUL byte) and drives one page target at a time.
//
//   const cdp = require('./cdp');
//   cdp.main(async (t) => {            // t: ok/bad checks, ends the process
//     const browser = await cdp.launch();
//     const page = await browser.newPage();
//     await page.goto('http://127.0.0.1:8080/');
//     await page.waitFor('document.body.dataset.ready === "1"', 'the page rendered');
//     t.ok('rendered');
//   }, { timeoutMs: 120000 });
//
// Chromium never outlives the driver: it runs in a process group of its own,
// killed (SIGKILL) with every child at the process's exit, on an uncaught
// error, on SIGINT/SIGTERM/SIGHUP and at the global deadline; and if the
// driver itself is killed, Chromium sees its pipe close and quits. Its
// profile directory (under $TMPDIR) is removed at the same moments.
//
// Every page records what a person would call breakage: console errors,
// uncaught exceptions, failed requests, and every request's URL, so a test
// can assert that nothing was fetched from another origin.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const live = new Set(); // browsers not yet closed

function killAll() {
  for (const b of live) b.kill();
}

let hooked = false;
function hookProcess() {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      console.error(`cdp: ${sig}: closing Chromium`);
      killAll();
      process.exit(128 + os.constants.signals[sig]);
    });
  }
  process.on('uncaughtException', (e) => {
    console.error(`cdp: uncaught: ${e && e.stack ? e.stack : e}`);
    killAll();
    process.exit(1);
  });
  process.on('unhandledRejection', (e) => {
    console.error(`cdp: unhandled rejection: ${e && e.stack ? e.stack : e}`);
    killAll();
    process.exit(1);
  });
}

// setGlobalTimeout(ms): the whole process ends (exit 2, Chromium killed) after
// ms, whatever it is doing; the timer does not keep the process alive.
function setGlobalTimeout(ms) {
  hookProcess();
  const timer = setTimeout(() => {
    console.error(`FAIL: global timeout: still running after ${ms} ms; Chromium killed`);
    killAll();
    process.exit(2);
  }, ms);
  timer.unref();
  return timer;
}

function chromiumPath() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) {
    if (fs.existsSync(p)) return p;
  }
  throw new Error('no Chromium: install Debian\'s chromium (cluster/scripts/setup.sh) or set $CHROMIUM');
}

// the processes whose command line names dir (Linux /proc), but this one
function namingProfile(dir) {
  const found = [];
  let entries = [];
  try {
    entries = fs.readdirSync('/proc');
  } catch (e) {
    return found;
  }
  for (const d of entries) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/cmdline`, 'latin1').includes(dir)) found.push(Number(d));
    } catch (e) { /* gone, or not ours to read */ }
  }
  return found;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Browser {
  constructor(child, profile) {
    this.child = child;
    this.pid = child.pid;
    this.profile = profile;
    this.nextId = 1;
    this.pending = new Map(); // id -> {resolve, reject, method}
    this.sessions = new Map(); // sessionId -> Page
    this.buf = Buffer.alloc(0);
    this.stderr = '';
    this.closed = false;
    this.exited = false;
    this.exitWaiters = [];
    child.stdio[4].on('data', (d) => this.onData(d));
    child.stdio[4].on('error', () => {});
    child.stdio[3].on('error', () => {});
    child.stderr.on('data', (d) => {
      if (process.env.CDP_VERBOSE) process.stderr.write(d);
      this.stderr = (this.stderr + d.toString()).slice(-8192);
    });
    child.on('exit', (code, sig) => {
      this.exited = true;
      const why = `Chromium exited (${sig || code})` +
        (this.closed ? '' : `; its last words:\n${this.stderr.slice(-2000)}`);
      for (const p of this.pending.values()) p.reject(new Error(`${p.method}: ${why}`));
      this.pending.clear();
      for (const w of this.exitWaiters) w();
    });
  }

  onData(d) {
    this.buf = Buffer.concat([this.buf, d]);
    let end;
    while ((end = this.buf.indexOf(0)) >= 0) {
      const text = this.buf.subarray(0, end).toString('utf8');
      this.buf = this.buf.subarray(end + 1);
      let msg;
      try {
        msg = JSON.parse(text);
      } catch (e) {
        console.error(`cdp: unreadable message from Chromium: ${text.slice(0, 200)}`);
        continue;
      }
      this.dispatch(msg);
    }
  }

  dispatch(msg) {
    if (msg.id !== undefined) {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}${msg.error.data ? ` (${msg.error.data})` : ''}`));
      else p.resolve(msg.result || {});
      return;
    }
    const page = msg.sessionId ? this.sessions.get(msg.sessionId) : null;
    if (page) page.onEvent(msg.method, msg.params || {});
  }

  // send(method, params, sessionId): the command's result, or an error naming it
  send(method, params = {}, sessionId = undefined) {
    if (this.exited) return Promise.reject(new Error(`${method}: Chromium is not running`));
    const id = this.nextId++;
    const msg = { id, method, params };
    if (sessionId) msg.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.child.stdio[3].write(JSON.stringify(msg) + '\0');
    });
  }

  // newPage(): a new tab, attached (flatten), its domains enabled, the
  // viewport 1280x800 at scale 1
  async newPage(opts = {}) {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true });
    const page = new Page(this, targetId, sessionId);
    this.sessions.set(sessionId, page);
    await Promise.all([
      page.send('Page.enable'),
      page.send('Page.setLifecycleEventsEnabled', { enabled: true }),
      page.send('Runtime.enable'),
      page.send('Network.enable'),
      page.send('Log.enable'),
      page.send('Emulation.setDeviceMetricsOverride', {
        width: opts.width || 1280, height: opts.height || 800, deviceScaleFactor: 1, mobile: false,
      }),
    ]);
    return page;
  }

  // kill(): at once and for sure (the whole process group), profile removed;
  // synchronous, so it works in an 'exit' handler
  kill() {
    this.closed = true;
    if (!this.exited) {
      try { process.kill(-this.pid, 'SIGKILL'); } catch (e) { /* gone */ }
      try { process.kill(this.pid, 'SIGKILL'); } catch (e) { /* gone */ }
    }
    for (const p of namingProfile(this.profile)) {
      try { process.kill(p, 'SIGKILL'); } catch (e) { /* gone */ }
    }
    try { fs.rmSync(this.profile, { recursive: true, force: true }); } catch (e) { /* best effort */ }
    live.delete(this);
  }

  // close(): ask politely (Browser.close), wait at most 5 s, then kill; the
  // profile is removed and the process group gone when it returns
  async close() {
    if (!live.has(this)) return;
    this.closed = true;
    if (!this.exited) {
      const exited = new Promise((r) => this.exitWaiters.push(r));
      this.send('Browser.close').catch(() => {});
      await Promise.race([exited, sleep(5000)]);
    }
    this.kill(); // the rest of the group (a renderer, the zygote) too
  }
}

class Page {
  constructor(browser, targetId, sessionId) {
    this.browser = browser;
    this.targetId = targetId;
    this.sessionId = sessionId;
    this.listeners = new Map(); // method -> [fn]
    this.consoleErrors = []; // 'console.error: text (url:line)'
    this.exceptions = []; // uncaught exceptions' descriptions
    this.logErrors = []; // Log.entryAdded errors (CSP violations...), not network ones
    this.requests = []; // every request: {url, method, type}
    this.failed = []; // Network.loadingFailed, not cancelled: 'url: errorText'
    this.httpErrors = []; // responses with status >= 400: 'status url'
    this.reqUrl = new Map(); // requestId -> url
    this.origin = null; // the origin of the last page navigated to
  }

  send(method, params = {}) {
    return this.browser.send(method, params, this.sessionId);
  }

  on(method, fn) {
    if (!this.listeners.has(method)) this.listeners.set(method, []);
    this.listeners.get(method).push(fn);
    return () => {
      const l = this.listeners.get(method);
      const i = l.indexOf(fn);
      if (i >= 0) l.splice(i, 1);
    };
  }

  once(method, timeoutMs, what) {
    return new Promise((resolve, reject) => {
      const off = this.on(method, (p) => {
        clearTimeout(timer);
        off();
        resolve(p);
      });
      const timer = setTimeout(() => {
        off();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what || method}`));
      }, timeoutMs);
    });
  }

  onEvent(method, p) {
    switch (method) {
      case 'Runtime.consoleAPICalled':
        if (p.type === 'error' || p.type === 'assert') {
          const text = (p.args || []).map((a) => (a.value !== undefined ? String(a.value) : a.description || a.type)).join(' ');
          const f = p.stackTrace && p.stackTrace.callFrames && p.stackTrace.callFrames[0];
          this.consoleErrors.push(`console.${p.type}: ${text}${f ? ` (${f.url}:${f.lineNumber + 1})` : ''}`);
        }
        break;
      case 'Runtime.exceptionThrown': {
        const d = p.exceptionDetails || {};
        const desc = (d.exception && d.exception.description) || d.text || 'exception';
        this.exceptions.push(`${desc}${d.url ? ` (${d.url}:${d.lineNumber + 1})` : ''}`);
        break;
      }
      case 'Log.entryAdded': {
        const e = p.entry || {};
        // network ones ("Failed to load resource: 404") are counted by the
        // Network domain; the rest (CSP violations, ...) are errors here
        if (e.level === 'error' && e.source !== 'network') this.logErrors.push(`${e.source}: ${e.text}${e.url ? ` (${e.url})` : ''}`);
        break;
      }
      case 'Network.requestWillBeSent':
        this.reqUrl.set(p.requestId, p.request.url);
        this.requests.push({ url: p.request.url, method: p.request.method, type: p.type });
        break;
      case 'Network.responseReceived':
        if (p.response && p.response.status >= 400) this.httpErrors.push(`${p.response.status} ${p.response.url}`);
        break;
      case 'Network.loadingFailed':
        if (!p.canceled) this.failed.push(`${this.reqUrl.get(p.requestId) || p.requestId}: ${p.errorText}${p.blockedReason ? ` (${p.blockedReason})` : ''}`);
        break;
      default:
        break;
    }
    const l = this.listeners.get(method);
    if (l) for (const fn of l.slice()) fn(p);
  }

  // goto(url): navigate and wait for that navigation's load event (at most
  // timeoutMs). A navigation aborted by another (the new tab's own
  // about:blank still loading) is tried again.
  async goto(url, timeoutMs = 30000) {
    this.origin = new URL(url).origin;
    const deadline = Date.now() + timeoutMs;
    const loaded = new Set();
    let wake = () => {};
    const off = this.on('Page.lifecycleEvent', (p) => {
      if (p.name === 'load') {
        loaded.add(p.loaderId);
        wake();
      }
    });
    try {
      for (let tries = 1; ; tries++) {
        const r = await this.send('Page.navigate', { url });
        if (r.errorText === 'net::ERR_ABORTED' && tries < 3) continue;
        if (r.errorText) throw new Error(`cannot load ${url}: ${r.errorText}`);
        while (!loaded.has(r.loaderId)) {
          const left = deadline - Date.now();
          if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${url} to load`);
          await new Promise((resolve) => {
            wake = resolve;
            setTimeout(resolve, Math.min(left, 250));
          });
        }
        return;
      }
    } finally {
      off();
    }
  }

  // reload(): the page's URL loaded again, waited for
  async reload(timeoutMs = 30000) {
    await this.goto(await this.evaluate('location.href'), timeoutMs);
  }

  // evaluate(expression): its value (returned by value, promises awaited);
  // an exception thrown by it is an error here
  async evaluate(expression) {
    const r = await this.send('Runtime.evaluate', {
      expression, returnByValue: true, awaitPromise: true, userGesture: true,
    });
    if (r.exceptionDetails) {
      const d = r.exceptionDetails;
      throw new Error(`evaluate ${expression.slice(0, 80)}: ${(d.exception && d.exception.description) || d.text}`);
    }
    return r.result ? r.result.value : undefined;
  }

  // waitFor(expression, what, timeoutMs): poll until the expression is truthy
  // and return its value; past the deadline, fail naming what was awaited
  // and the expression's last value (or the last error evaluating it)
  async waitFor(expression, what, timeoutMs = 10000, intervalMs = 100) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
      try {
        const v = await this.evaluate(expression);
        if (v) return v;
        last = v;
      } catch (e) {
        last = `error: ${e.message}`; // e.g. a navigation in between: poll on
        if (this.browser.exited) throw e;
      }
      if (Date.now() >= deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)}`);
      }
      await sleep(intervalMs);
    }
  }

  // click(selector): the element's own click() (scrolled into view first)
  async click(selector) {
    const found = await this.evaluate(`(() => {
      const el = document.querySelector(${JSON.stringify(selector)});
      if (!el) return false;
      el.scrollIntoView({ block: 'center', inline: 'center' });
      if (typeof el.click === 'function') el.click();
      else el.dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true, view: window }));
      return true;
    })()`);
    if (!found) throw new Error(`click: no element ${selector}`);
  }

  // box(selector): the element's box in the viewport after scrolling it into
  // view, and what a click at its centre would hit
  async box(selector) {
    return this.evaluate(`(() => {
      const el = document.querySelector(${JSON.stringify(selector)});
      if (!el) return null;
      el.scrollIntoView({ block: 'center', inline: 'center' });
      const r = el.getBoundingClientRect();
      const x = r.left + r.width / 2, y = r.top + r.height / 2;
      const hit = document.elementFromPoint(x, y);
      const name = (e) => e ? e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
        (e.getAttribute && e.getAttribute('class') ? '.' + e.getAttribute('class').trim().split(/\\s+/).join('.') : '') : 'nothing';
      return { x, y, width: r.width, height: r.height, hits: !!hit && (hit === el || el.contains(hit)), hit: name(hit) };
    })()`);
  }

  // mouseClick(selector): a real click (Input.dispatchMouseEvent: move,
  // press, release) at the centre of the element's box; fails if the element
  // is missing, has no size, or something else covers its centre
  async mouseClick(selector) {
    const b = await this.box(selector);
    if (!b) throw new Error(`mouse click: no element ${selector}`);
    if (!(b.width > 0 && b.height > 0)) throw new Error(`mouse click: ${selector} has no size (${b.width}x${b.height})`);
    if (!b.hits) throw new Error(`mouse click: the centre of ${selector} is covered by ${b.hit}`);
    const at = { x: b.x, y: b.y };
    await this.send('Input.dispatchMouseEvent', { type: 'mouseMoved', ...at });
    await this.send('Input.dispatchMouseEvent', { type: 'mousePressed', ...at, button: 'left', buttons: 1, clickCount: 1 });
    await this.send('Input.dispatchMouseEvent', { type: 'mouseReleased', ...at, button: 'left', buttons: 0, clickCount: 1 });
  }

  // press(key, {shift}): a key down and up as a keyboard would send them
  // (Tab, Enter, Space, Escape, arrows); Enter and Space carry their text, so
  // they activate a focused button or link
  async press(key, opts = {}) {
    const keys = {
      Tab: { code: 'Tab', vk: 9 },
      Enter: { code: 'Enter', vk: 13, text: '\r' },
      ' ': { code: 'Space', vk: 32, text: ' ' },
      Space: { key: ' ', code: 'Space', vk: 32, text: ' ' },
      Escape: { code: 'Escape', vk: 27 },
      ArrowDown: { code: 'ArrowDown', vk: 40 },
      ArrowUp: { code: 'ArrowUp', vk: 38 },
      ArrowLeft: { code: 'ArrowLeft', vk: 37 },
      ArrowRight: { code: 'ArrowRight', vk: 39 },
    };
    const k = keys[key];
    if (!k) throw new Error(`press: unknown key ${key}`);
    const base = {
      key: k.key || key, code: k.code, windowsVirtualKeyCode: k.vk, nativeVirtualKeyCode: k.vk,
      modifiers: opts.shift ? 8 : 0,
    };
    await this.send('Input.dispatchKeyEvent', { type: k.text ? 'keyDown' : 'rawKeyDown', ...base, ...(k.text ? { text: k.text, unmodifiedText: k.text } : {}) });
    await this.send('Input.dispatchKeyEvent', { type: 'keyUp', ...base });
  }

  // screenshot(file): the viewport as a png
  async screenshot(file) {
    const { data } = await this.send('Page.captureScreenshot', { format: 'png', fromSurface: true });
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, Buffer.from(data, 'base64'));
    return file;
  }

  // offOrigin(): the requests that went anywhere but the page's own origin
  // (data:, blob: and about: URLs are the page's own)
  offOrigin() {
    return this.requests.filter((r) => {
      if (/^(data|blob|about):/.test(r.url)) return false;
      try {
        return new URL(r.url).origin !== this.origin;
      } catch (e) {
        return true;
      }
    }).map((r) => r.url);
  }

  // problems(): everything a person would call broken, as lines
  problems() {
    return [
      ...this.consoleErrors,
      ...this.exceptions.map((e) => `uncaught exception: ${e}`),
      ...this.logErrors.map((e) => `browser error: ${e}`),
      ...this.failed.map((e) => `request failed: ${e}`),
      ...this.offOrigin().map((u) => `request to another origin: ${u}`),
    ];
  }
}

// launch(): Chromium headless on a fresh profile, connected
async function launch(opts = {}) {
  hookProcess();
  const exe = chromiumPath();
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-chromium-'));
  const args = [
    '--headless=new', '--remote-debugging-pipe', `--user-data-dir=${profile}`,
    `--window-size=${opts.width || 1280},${opts.height || 800}`,
    '--no-first-run', '--no-default-browser-check', '--disable-gpu', '--disable-extensions',
    '--disable-background-networking', '--disable-sync', '--metrics-recording-only', '--mute-audio',
    '--disable-crash-reporter',
  ];
  if (typeof process.getuid === 'function' && process.getuid() === 0) args.push('--no-sandbox');
  args.push('about:blank');
  let child;
  try {
    child = spawn(exe, args, {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
      detached: true, // a process group of its own: killed as one
      // Chromium's crash handler (crashpad) daemonizes out of our process
      // group; with its database in the profile (XDG_CONFIG_HOME) its command
      // line names the profile, and kill() finds it there. Nothing is
      // written to ~/.config or ~/.cache.
      env: { ...process.env, XDG_CONFIG_HOME: path.join(profile, 'config'), XDG_CACHE_HOME: path.join(profile, 'cache') },
    });
  } catch (e) {
    fs.rmSync(profile, { recursive: true, force: true });
    throw e;
  }
  const b = new Browser(child, profile);
  live.add(b);
  const spawned = new Promise((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (e) => reject(new Error(`cannot start ${exe}: ${e.message}`)));
  });
  try {
    await spawned;
    const v = await Promise.race([
      b.send('Browser.getVersion'),
      sleep(opts.startMs || 30000).then(() => { throw new Error(`${exe} did not answer in ${opts.startMs || 30000} ms:\n${b.stderr.slice(-2000)}`); }),
    ]);
    b.version = v.product;
  } catch (e) {
    b.kill();
    throw e;
  }
  return b;
}

// main(fn, {timeoutMs}): run a test. fn(t) gets t.ok(what), t.bad(what),
// t.check(cond, what, detail), t.section(name, async fn) (a failure ends the
// section, reported, and the test goes on) and t.failed. Prints ok:/FAIL:
// lines like the shell tests; exit 0 when all passed, 1 otherwise, 2 at the
// global timeout. Chromium is killed on every path.
function main(fn, opts = {}) {
  setGlobalTimeout(opts.timeoutMs || 120000);
  const t = {
    failed: 0,
    ok(what) { console.log(`ok: ${what}`); },
    bad(what) { console.log(`FAIL: ${what}`); t.failed++; },
    check(cond, what, detail) {
      if (cond) t.ok(what);
      else t.bad(detail === undefined ? what : `${what}: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);
      return !!cond;
    },
    async section(name, f) {
      try {
        return await f();
      } catch (e) {
        t.bad(`${name}: ${e.message}`);
        if (process.env.CDP_VERBOSE) console.error(e.stack);
        return undefined;
      }
    },
  };
  Promise.resolve()
    .then(() => fn(t))
    .then(async () => {
      for (const b of live) await b.close();
      process.exit(t.failed ? 1 : 0);
    }, (e) => {
      console.log(`FAIL: ${e && e.message ? e.message : e}`);
      if (process.env.CDP_VERBOSE && e && e.stack) console.error(e.stack);
      killAll();
      process.exit(1);
    });
}

module.exports = { launch, main, setGlobalTimeout, sleep, killAll, namingProfile, Browser, Page };
