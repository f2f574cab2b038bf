/* Cairn dashboard: what every page shares. DOM building, formatting, the
 * API's fetch helper and its errors, the markers the browser tests read
 * (body's data-ready and data-updated), the query string, polling.
 * The scheduler's Content-Security-Policy forbids inline scripts and
 * styles: every element is built with the DOM API, styles set only
 * through element.style. */

// ------------------------------------------------------------ DOM and formatting
const SVGNS = "http://www.w3.org/2000/svg";
export const TASK_STATES = ["waiting", "pending", "running", "retry_wait", "succeeded", "failed", "cancelled",
                            "upstream_failed"];
export const ENDED_JOB = { succeeded: 1, failed: 1, cancelled: 1 };

export function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  setAttrs(e, attrs);
  append(e, kids);
  return e;
}
export function sv(tag, attrs, ...kids) {
  const e = document.createElementNS(SVGNS, tag);
  setAttrs(e, attrs);
  append(e, kids);
  return e;
}
function setAttrs(e, attrs) {
  if (!attrs) return;
  for (const k of Object.keys(attrs)) {
    const v = attrs[k];
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k === "class") e.setAttribute("class", v);
    else if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
}
function append(e, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === undefined || k === null || k === false) continue;
    e.appendChild(typeof k === "string" || typeof k === "number" ? document.createTextNode(String(k)) : k);
  }
}
export function clear(e) {
  while (e && e.firstChild) e.removeChild(e.firstChild);
  return e;
}
export function num(x) {
  const n = Number(x);
  return Number.isFinite(n) ? n : 0;
}
export function fmtBytes(b) {
  b = num(b);
  const u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
  return (i === 0 ? b.toFixed(0) : b < 10 ? b.toFixed(1) : b.toFixed(0)) + " " + u[i];
}
export function fmtDur(ms) {
  ms = Math.max(0, num(ms));
  const s = Math.round(ms / 1000);
  if (ms < 1000) return Math.round(ms) + " ms";
  if (ms < 10000) return (ms / 1000).toFixed(1) + " s";
  if (s < 60) return s + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + "m " + (s % 60) + "s";
  const h = Math.floor(m / 60);
  if (h < 48) return h + "h " + (m % 60) + "m";
  return Math.floor(h / 24) + "d " + (h % 24) + "h";
}
export function fmtAge(t) {
  if (!num(t)) return "";
  return fmtDur(Date.now() - num(t)) + " ago";
}
export function fmtTime(t) {
  if (!num(t)) return "";
  const d = new Date(num(t));
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}
export function fmtNum(x, digits) {
  if (x === null || x === undefined) return "–";
  const n = Number(x);
  if (!Number.isFinite(n)) return String(x);
  return n.toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 2 : digits });
}
export function badge(state, text) {
  const s = String(state || "unknown");
  return el("span", { class: "badge st-" + s, title: "state: " + s }, text || s.replace(/_/g, " "));
}
export function bar(frac, text, cls) {
  const f = el("div", { class: "fill" + (cls ? " " + cls : "") });
  f.style.width = Math.max(0, Math.min(1, num(frac))) * 100 + "%";
  return el("div", { class: "bar", role: "img", "aria-label": text }, f, el("span", { class: "txt" }, text));
}
export function errorBox(err) {
  const msg = err && err.message ? err.message : String(err);
  const code = err && err.code ? err.code + ": " : "";
  return el("div", { class: "error", role: "alert" }, code + msg,
            err && err.leader ? " (the leader: " + err.leader + ")" : null);
}
export function jobLink(id, text) {
  return el("a", { href: "/jobs/" + encodeURIComponent(id), "data-link": "" }, text || "job " + id);
}
export function labelsOf(labels) {
  // NodeInfo.labels: repeated KeyValue ({key, value}) or, as cairn --json
  // writes it, an object
  if (!labels) return [];
  if (Array.isArray(labels)) return labels.map((kv) => [kv.key, kv.value]);
  return Object.keys(labels).map((k) => [k, labels[k]]);
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}
// GET a JSON document; throws ApiError with the API's message.
export async function api(path) {
  let r;
  try {
    r = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
  } catch (e) {
    throw new ApiError(0, "UNREACHABLE", "cannot reach the scheduler (" + e.message + ")");
  }
  let body = null;
  const text = await r.text();
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
  if (!r.ok || (body && body.error && typeof body.error === "object")) {
    const e = body && body.error && typeof body.error === "object" ? body.error : null;
    const err = new ApiError(r.status, e ? e.code : "HTTP_" + r.status,
                             e ? e.message : "HTTP " + r.status + " " + (r.statusText || "") + " for " + path);
    if (e && e.leader) err.leader = e.leader; // NOT_LEADER: a standby names the leader
    throw err;
  }
  if (body === null) throw new ApiError(r.status, "BAD_ANSWER", "not JSON: " + path);
  return body;
}
export const V1 = "/api/v1";

// ------------------------------------------------------------ page life

export function markUpdated() {
  const b = document.body;
  b.dataset.updated = String(num(b.dataset.updated) + 1);
  const live = document.getElementById("live");
  if (live) live.textContent = "updated " + new Date().toLocaleTimeString();
}
export function markReady() {
  document.body.dataset.ready = "1";
}

// The answer of path for a page that polls it (ctx): null when the page has
// gone, or after showing why not in errBox (the page then counts as ready
// and refreshed all the same, so that nobody waits on it).
export async function pollFetch(ctx, path, errBox) {
  let d;
  try { d = await api(path); } catch (e) {
    if (ctx.alive()) { clear(errBox).append(errorBox(e)); markReady(); markUpdated(); }
    return null;
  }
  if (!ctx.alive()) return null;
  clear(errBox);
  return d;
}
// A page drew what pollFetch gave it: ready, and one more refresh.
export function drawn() {
  markReady();
  markUpdated();
}

export function setQuery(params) {
  const u = new URL(location.href);
  for (const k of Object.keys(params)) {
    if (params[k] === "" || params[k] === null || params[k] === undefined) u.searchParams.delete(k);
    else u.searchParams.set(k, params[k]);
  }
  history.replaceState(null, "", u.pathname + u.search);
}

export function shortModel(m) {
  if (!m) return "";
  return String(m).replace(/^NVIDIA\s+/, "").replace(/^AMD\s+/, "");
}

// ------------------------------------------------------------ polling
// A page is a function(main, params, ctx) that renders into main and
// polls through ctx.every(); ctx.alive() turns false when the user leaves.
let gen = 0;
let timers = [];
let cleanups = [];

// Leave the page shown (its polls and timers stop, its onLeave functions
// run) and return the next page's ctx.
export function newPage() {
  gen++;
  for (const t of timers) clearTimeout(t);
  timers = [];
  for (const c of cleanups) { try { c(); } catch (e) { console.error(e); } }
  cleanups = [];
  return makeCtx(gen);
}

function makeCtx(myGen) {
  const ctx = {
    alive: () => myGen === gen,
    // Run fn now and then every ms after each run ends (no overlap);
    // returns a handle with stop().
    every(ms, fn) {
      const h = { stopped: false, t: null };
      const tick = async () => {
        if (h.stopped || !ctx.alive()) return;
        try { await fn(); } catch (e) { console.error(e); }
        if (h.stopped || !ctx.alive()) return;
        h.t = setTimeout(tick, ms);
        timers.push(h.t);
      };
      h.stop = () => { h.stopped = true; if (h.t) clearTimeout(h.t); };
      cleanups.push(h.stop);
      tick();
      return h;
    },
    onLeave(fn) { cleanups.push(fn); },
  };
  return ctx;
}
