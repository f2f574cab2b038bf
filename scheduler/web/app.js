/* Cairn dashboard: one page, routed by location.pathname, reading the
 * read-only JSON API (docs/api.md). Plain JS, no build step. The scheduler's
 * Content-Security-Policy forbids inline scripts and styles: every element
 * is built with the DOM API, styles set only through element.style. */
"use strict";

(function () {
  // ------------------------------------------------------------ helpers
  const SVGNS = "http://www.w3.org/2000/svg";
  const TASK_STATES = ["waiting", "pending", "running", "retry_wait", "succeeded", "failed", "cancelled",
                       "upstream_failed"];
  const ENDED_JOB = { succeeded: 1, failed: 1, cancelled: 1 };

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, kids);
    return e;
  }
  function sv(tag, attrs, ...kids) {
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
  function clear(e) {
    while (e && e.firstChild) e.removeChild(e.firstChild);
    return e;
  }
  function num(x) {
    const n = Number(x);
    return Number.isFinite(n) ? n : 0;
  }
  function fmtBytes(b) {
    b = num(b);
    const u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let i = 0;
    while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return (i === 0 ? b.toFixed(0) : b < 10 ? b.toFixed(1) : b.toFixed(0)) + " " + u[i];
  }
  function fmtDur(ms) {
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
  function fmtAge(t) {
    if (!num(t)) return "";
    return fmtDur(Date.now() - num(t)) + " ago";
  }
  function fmtTime(t) {
    if (!num(t)) return "";
    const d = new Date(num(t));
    return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }
  function fmtNum(x, digits) {
    if (x === null || x === undefined) return "–";
    const n = Number(x);
    if (!Number.isFinite(n)) return String(x);
    return n.toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 2 : digits });
  }
  function badge(state, text) {
    const s = String(state || "unknown");
    return el("span", { class: "badge st-" + s, title: "state: " + s }, text || s.replace(/_/g, " "));
  }
  function bar(frac, text, cls) {
    const f = el("div", { class: "fill" + (cls ? " " + cls : "") });
    f.style.width = Math.max(0, Math.min(1, num(frac))) * 100 + "%";
    return el("div", { class: "bar", role: "img", "aria-label": text }, f, el("span", { class: "txt" }, text));
  }
  function errorBox(err) {
    const msg = err && err.message ? err.message : String(err);
    const code = err && err.code ? err.code + ": " : "";
    return el("div", { class: "error", role: "alert" }, code + msg,
              err && err.leader ? " (the leader: " + err.leader + ")" : null);
  }
  function jobLink(id, text) {
    return el("a", { href: "/jobs/" + encodeURIComponent(id), "data-link": "" }, text || "job " + id);
  }
  function labelsOf(labels) {
    // NodeInfo.labels: repeated KeyValue ({key, value}) or, as cairn --json
    // writes it, an object
    if (!labels) return [];
    if (Array.isArray(labels)) return labels.map((kv) => [kv.key, kv.value]);
    return Object.keys(labels).map((k) => [k, labels[k]]);
  }

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }
  // GET a JSON document; throws ApiError with the API's message.
  async function api(path) {
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
  const V1 = "/api/v1";

  // ------------------------------------------------------------ page life
  // A page is a function(main, params, ctx) that renders into main and
  // polls through ctx.every(); ctx.alive() turns false when the user leaves.
  let gen = 0;
  let timers = [];
  let cleanups = [];

  function markUpdated() {
    const b = document.body;
    b.dataset.updated = String(num(b.dataset.updated) + 1);
    const live = document.getElementById("live");
    if (live) live.textContent = "updated " + new Date().toLocaleTimeString();
  }
  function markReady() {
    document.body.dataset.ready = "1";
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

  const routes = [
    [/^\/$/, "cluster", pageCluster],
    [/^\/jobs\/?$/, "jobs", pageJobs],
    [/^\/jobs\/(\d+)\/?$/, "job", pageJob],
    [/^\/capacity\/?$/, "capacity", pageCapacity],
    [/^\/accounts\/?$/, "accounts", pageAccounts],
  ];

  function route() {
    gen++;
    for (const t of timers) clearTimeout(t);
    timers = [];
    for (const c of cleanups) { try { c(); } catch (e) { console.error(e); } }
    cleanups = [];
    const path = location.pathname;
    const main = clear(document.getElementById("main"));
    const b = document.body;
    b.dataset.ready = "0";
    b.dataset.updated = "0";
    let found = null;
    for (const [re, name, fn] of routes) {
      const m = path.match(re);
      if (m) { found = [name, fn, m]; break; }
    }
    for (const a of document.querySelectorAll("header.top nav a")) a.removeAttribute("aria-current");
    if (!found) {
      b.dataset.page = "notfound";
      document.title = "Not found · Cairn";
      main.appendChild(el("h1", { text: "Not found" }));
      main.appendChild(errorBox({ code: "NOT_FOUND", message: "no dashboard page at " + path }));
      markReady();
      return;
    }
    const [name, fn, m] = found;
    b.dataset.page = name;
    const nav = document.getElementById("nav-" + (name === "job" ? "jobs" : name));
    if (nav) nav.setAttribute("aria-current", "page");
    fn(main, m, makeCtx(gen)).catch((e) => {
      console.error(e);
      main.appendChild(errorBox(e));
      markReady();
    });
  }

  function navigate(href, replace) {
    const u = new URL(href, location.href);
    if (u.origin !== location.origin) { location.href = href; return; }
    if (replace) history.replaceState(null, "", u.pathname + u.search + u.hash);
    else history.pushState(null, "", u.pathname + u.search + u.hash);
    route();
    if (!replace) window.scrollTo(0, 0);
  }

  document.addEventListener("click", (ev) => {
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    const a = ev.target.closest && ev.target.closest("a[href]");
    if (!a || a.target || a.hasAttribute("download")) return;
    const u = new URL(a.getAttribute("href"), location.href);
    if (u.origin !== location.origin || u.pathname.startsWith("/api/") || u.pathname.startsWith("/assets/")
        || u.pathname === "/metrics" || u.pathname === "/status") return;
    if (u.pathname === location.pathname && u.search === location.search && u.hash) return;
    ev.preventDefault();
    navigate(u.href);
  });
  window.addEventListener("popstate", route);

  function setQuery(params) {
    const u = new URL(location.href);
    for (const k of Object.keys(params)) {
      if (params[k] === "" || params[k] === null || params[k] === undefined) u.searchParams.delete(k);
      else u.searchParams.set(k, params[k]);
    }
    history.replaceState(null, "", u.pathname + u.search);
  }

  // ------------------------------------------------------------ cluster
  async function pageCluster(main, m, ctx) {
    document.title = "Cluster · Cairn";
    const sumBox = el("div", { class: "summary", id: "cluster-summary" });
    const errBox = el("div");
    const nodesBox = el("div", { class: "nodes", id: "nodes" });
    const queueBox = el("div", { class: "queue", id: "queued-work" });
    main.append(el("h1", { text: "Cluster" }), sumBox, errBox, el("h2", { text: "Nodes" }), nodesBox,
                el("h2", { text: "Queued work" }), queueBox);

    let report = null, reportErr = null, reportAt = 0;
    let first = true;
    ctx.every(2000, async () => {
      const [nodes, status, jobs] = await Promise.all([
        api(V1 + "/nodes").catch((e) => e),
        api("/status").catch((e) => e),
        api(V1 + "/jobs?state=pending,running&limit=200").catch((e) => e),
      ]);
      if (Date.now() - reportAt > 15000) {
        reportAt = Date.now();
        try {
          report = await api(V1 + "/report?from_ms=" + (Date.now() - 3600e3) + "&to_ms=" + Date.now());
          reportErr = null;
        } catch (e) { report = null; reportErr = e; }
      }
      if (!ctx.alive()) return;
      clear(errBox);
      if (nodes instanceof Error) errBox.appendChild(errorBox(nodes));
      else renderNodes(nodesBox, nodes.nodes || []);
      renderSummary(sumBox, nodes instanceof Error ? null : nodes.nodes || [],
                    status instanceof Error ? null : status, jobs instanceof Error ? null : jobs.jobs || []);
      renderQueue(queueBox, jobs, status, report, reportErr);
      if (first) { first = false; markReady(); }
      markUpdated();
    });
  }

  function stat(v, k, id) {
    return el("div", { class: "stat", id: id }, el("div", { class: "v" }, v), el("div", { class: "k" }, k));
  }

  function renderSummary(box, nodes, status, jobs) {
    clear(box);
    if (nodes) {
      const by = {};
      for (const n of nodes) by[n.state] = (by[n.state] || 0) + 1;
      let gt = 0, gf = 0;
      for (const n of nodes) for (const g of n.gpus || []) { gt++; if (!g.used && !num(g.job_id)) gf++; }
      const other = nodes.length - (by.up || 0) - (by.down || 0);
      box.append(stat(String(by.up || 0), "nodes up", "sum-nodes-up"),
                 stat(String(by.down || 0), "nodes down", "sum-nodes-down"));
      if (other > 0) {
        const parts = Object.keys(by).filter((s) => s !== "up" && s !== "down").map((s) => by[s] + " " + s);
        box.append(stat(String(other), parts.join(", "), "sum-nodes-other"));
      }
      box.append(stat(gf + " / " + gt, "GPUs free / total", "sum-gpus"));
    }
    let running = null, pending = null;
    if (status && status.tasks) {
      // /status names the core's states (pending: on needs, ready: for
      // resources, retrying, queued: on a node behind another attempt);
      // the API's names (waiting, pending, retry_wait) are taken too
      const t = status.tasks;
      running = num(t.running);
      pending = 0;
      for (const k of ["pending", "ready", "retrying", "queued", "waiting", "retry_wait"]) pending += num(t[k]);
    } else if (jobs) {
      running = 0; pending = 0;
      for (const j of jobs) { running += num(j.tasks_running); pending += num(j.tasks_pending); }
    }
    if (running !== null) {
      box.append(stat(String(running), "tasks running", "sum-running"),
                 stat(String(pending), "tasks pending", "sum-pending"));
    }
  }

  function renderNodes(box, nodes) {
    // keyed by name: replace each card in place; a focused link inside a
    // card is focused again in its new card
    const act = document.activeElement;
    let refocus = null;
    if (act && box.contains(act) && act.closest("[data-node]"))
      refocus = [act.closest("[data-node]").dataset.node, act.getAttribute("href")];
    const old = new Map();
    for (const c of box.children) old.set(c.dataset.node, c);
    const seen = new Set();
    let prev = null;
    for (const n of nodes) {
      const card = nodeCard(n);
      seen.add(n.name);
      const o = old.get(n.name);
      if (o) o.replaceWith(card);
      else if (prev && prev.nextSibling) box.insertBefore(card, prev.nextSibling);
      else if (prev) box.appendChild(card);
      else box.insertBefore(card, box.firstChild);
      prev = card;
    }
    for (const [name, c] of old) if (!seen.has(name)) c.remove();
    if (refocus) {
      const card = [...box.children].find((c) => c.dataset.node === refocus[0]);
      const a = card && [...card.querySelectorAll("a[href]")].find((x) => x.getAttribute("href") === refocus[1]);
      if (a) a.focus();
    }
    if (!nodes.length && !box.querySelector(".muted"))
      box.appendChild(el("p", { class: "muted", text: "No nodes have registered." }));
    else if (nodes.length) for (const p of box.querySelectorAll(":scope > p.muted")) p.remove();
  }

  function nodeCard(n) {
    const state = String(n.state || "unknown");
    const coresUsed = num(n.cores_total) - num(n.cores_free);
    const memUsed = num(n.memory_total_bytes) - num(n.memory_free_bytes);
    // data-state: one of up, draining, down, returning, removed (a drained
    // node, draining and idle, counts as draining); data-node-state: the
    // API's own word
    const card = el("section", {
      class: "node", "data-node": n.name, "data-state": state === "drained" ? "draining" : state,
      "data-node-state": state, "aria-label": "node " + n.name + ", " + state,
    });
    const head = el("div", { class: "head" }, el("span", { class: "name" }, n.name), badge(state));
    if (n.drained && state !== "draining" && state !== "drained") head.append(badge("draining", "drained by operator"));
    const att = num(n.running_attempts);
    const q = num(n.queued_attempts);
    head.append(el("span", { class: "muted small" }, att + " running" + (q ? " (+" + q + " queued)" : "")));
    card.append(head);
    if (n.drain_reason) card.append(el("div", { class: "drain-reason" }, "drain reason: " + n.drain_reason));
    const labels = labelsOf(n.labels);
    if (labels.length)
      card.append(el("div", { class: "labels" }, labels.map(([k, v]) => el("span", { class: "label" }, k + "=" + v))));
    card.append(
      el("div", { class: "meter" }, el("span", { text: "cores" }),
         bar(n.cores_total ? coresUsed / n.cores_total : 0, coresUsed + " / " + num(n.cores_total) + " used")),
      el("div", { class: "meter" }, el("span", { text: "memory" }),
         bar(n.memory_total_bytes ? memUsed / n.memory_total_bytes : 0,
             fmtBytes(memUsed) + " / " + fmtBytes(n.memory_total_bytes) + " used")));
    if (n.last_heartbeat_ms)
      card.append(el("div", { class: "muted small" }, "heartbeat " + fmtAge(n.last_heartbeat_ms) +
                     (n.worker_version ? " · worker " + n.worker_version : "")));
    const gpus = n.gpus || [];
    if (gpus.length) {
      const g = el("div", { class: "gpus" });
      for (const gpu of gpus) g.append(gpuTile(gpu));
      card.append(g);
    }
    return card;
  }

  function gpuUtil(gpu) {
    for (const k of ["utilization", "utilisation", "util_percent", "utilization_percent", "gpu_util", "util"]) {
      if (gpu[k] !== undefined && gpu[k] !== null) return num(gpu[k]);
    }
    return null;
  }

  function gpuTile(gpu) {
    const job = num(gpu.job_id);
    const task = gpu.task_name !== undefined ? gpu.task_name : gpu.task;
    const held = job > 0 || gpu.used;
    const attrs = {
      class: "gpu" + (held ? " used" : ""), "data-gpu-index": num(gpu.index),
      "data-gpu-model": gpu.model || "", title: [gpu.model, gpu.uuid].filter(Boolean).join("\n"),
    };
    if (job > 0) attrs["data-job"] = String(gpu.job_id);
    const t = el("div", attrs,
                 el("div", { class: "gi" }, "GPU " + num(gpu.index)),
                 el("div", { class: "gm" }, shortModel(gpu.model) + (gpu.memory_bytes ? " · " + fmtBytes(gpu.memory_bytes) : "")));
    if (job > 0) {
      t.append(el("div", { class: "gj" }, jobLink(gpu.job_id, "job " + gpu.job_id)),
               task ? el("div", { class: "gj", title: task }, task) : null);
    } else if (held) {
      t.append(el("div", { class: "gj" }, "in use"));
    } else {
      t.append(el("div", { class: "free" }, "free"));
    }
    const u = gpuUtil(gpu);
    if (u !== null) t.append(el("div", { class: "small" }, "util " + fmtNum(u, 0) + "%"));
    return t;
  }

  function shortModel(m) {
    if (!m) return "";
    return String(m).replace(/^NVIDIA\s+/, "").replace(/^AMD\s+/, "");
  }

  function renderQueue(box, jobs, status, report, reportErr) {
    clear(box);
    const p1 = el("div", { class: "panel", id: "queue-jobs" }, el("h3", { text: "Pending and running jobs" }));
    if (jobs instanceof Error) p1.append(errorBox(jobs));
    else {
      const list = (jobs.jobs || []).filter((j) => num(j.tasks_pending) > 0 || num(j.tasks_running) > 0);
      if (!list.length) p1.append(el("p", { class: "muted", text: "Nothing queued or running." }));
      else {
        const tb = el("tbody");
        for (const j of list.slice(0, 30))
          tb.append(el("tr", null, el("td", null, jobLink(j.job_id, String(j.job_id))), el("td", null, j.name),
                       el("td", null, badge(j.state)), el("td", { class: "num" }, String(num(j.tasks_running))),
                       el("td", { class: "num" }, String(num(j.tasks_pending))), el("td", null, j.submitter || "")));
        p1.append(el("table", { class: "t" }, el("thead", null, el("tr", null, el("th", { text: "job" }),
                  el("th", { text: "name" }), el("th", { text: "state" }), el("th", { class: "num", text: "running" }),
                  el("th", { class: "num", text: "pending" }), el("th", { text: "submitter" }))), tb));
        if (list.length > 30) p1.append(el("p", { class: "muted small" }, "and " + (list.length - 30) + " more"));
      }
    }
    const p2 = el("div", { class: "panel", id: "queue-states" }, el("h3", { text: "Tasks by state" }));
    if (status && !(status instanceof Error) && status.tasks) {
      const dl = el("div", { class: "legend" });
      const core = "ready" in status.tasks || "retrying" in status.tasks;
      // [style, words] per /status key
      const names = core ? { pending: ["waiting", "waiting on needs"], ready: ["pending", "pending (resources)"],
                             retrying: ["retry_wait", "retry wait"], queued: ["pending", "queued on a node"] }
                         : { queued: ["pending", "queued on a node"] };
      for (const k of Object.keys(status.tasks)) {
        if (k === "unspecified" || !num(status.tasks[k])) continue;
        const [cls, words] = names[k] || [k, k.replace(/_/g, " ")];
        dl.append(el("span", { "data-task-state": k }, badge(cls, words + ": " + num(status.tasks[k]))));
      }
      if (!dl.children.length) dl.append(el("span", { class: "muted", text: "no tasks" }));
      p2.append(dl);
    } else {
      p2.append(el("p", { class: "muted small", text: "/status is not available." }));
    }
    const p3 = el("div", { class: "panel", id: "queue-shapes" }, el("h3", { text: "Queue by shape (now)" }));
    if (reportErr) p3.append(errorBox(reportErr));
    else if (report && Array.isArray(report.waits)) {
      const rows = report.waits.filter((w) => num(w.queued) > 0);
      if (!rows.length) p3.append(el("p", { class: "muted", text: "No task is waiting for resources." }));
      else {
        const tb = el("tbody");
        for (const w of rows)
          tb.append(el("tr", { "data-shape": w.shape }, el("td", null, w.shape), el("td", { class: "num" }, String(num(w.queued))),
                       el("td", { class: "num" }, fmtDur(num(w.p50_s) * 1000)),
                       el("td", { class: "num" }, fmtDur(num(w.p95_s) * 1000))));
        p3.append(el("table", { class: "t" }, el("thead", null, el("tr", null, el("th", { text: "shape" }),
                  el("th", { class: "num", text: "queued" }), el("th", { class: "num", text: "wait p50 (1 h)" }),
                  el("th", { class: "num", text: "wait p95 (1 h)" }))), tb));
      }
    } else p3.append(el("p", { class: "muted small", text: "loading…" }));
    box.append(p1, p2, p3);
  }

  // ------------------------------------------------------------ jobs
  async function pageJobs(main, m, ctx) {
    document.title = "Jobs · Cairn";
    const q = new URLSearchParams(location.search);
    const stateSel = el("select", { id: "filter-state", "aria-label": "state" });
    for (const [v, t] of [["", "any state"], ["pending,running", "pending or running"], ["pending", "pending"],
                          ["running", "running"], ["succeeded", "succeeded"], ["failed", "failed"],
                          ["cancelled", "cancelled"]]) stateSel.append(el("option", { value: v }, t));
    const want = q.get("state") || "";
    if (![...stateSel.options].some((o) => o.value === want)) stateSel.append(el("option", { value: want }, want));
    stateSel.value = want;
    const userIn = el("input", { id: "filter-user", type: "text", placeholder: "anyone", "aria-label": "user",
                                 value: q.get("user") || "", size: 14 });
    const acctIn = el("input", { id: "filter-account", type: "text", placeholder: "any", "aria-label": "account",
                                 value: q.get("account") || "", size: 12 });
    const form = el("form", { class: "filters", role: "search" },
                    el("label", null, "State", stateSel), el("label", null, "User", userIn),
                    el("label", null, "Account", acctIn), el("button", { type: "submit", text: "Filter" }));
    const errBox = el("div");
    const tbody = el("tbody", { id: "jobs-body" });
    const table = el("table", { class: "t", id: "jobs-table" },
                     el("thead", null, el("tr", null, ["id", "name", "state", "progress", "submitter", "account", "age"]
                        .map((h) => el("th", { text: h, class: h === "id" ? "num" : null })))), tbody);
    const foot = el("p", { class: "muted small" });
    main.append(el("h1", { text: "Jobs" }), form, errBox, table, foot);

    let poll = null;
    const start = () => {
      if (poll) poll.stop();
      let first = true;
      poll = ctx.every(2000, async () => {
        const p = new URLSearchParams();
        if (stateSel.value) p.set("state", stateSel.value);
        if (userIn.value.trim()) p.set("user", userIn.value.trim());
        if (acctIn.value.trim()) p.set("account", acctIn.value.trim());
        p.set("limit", "200");
        let d;
        try { d = await api(V1 + "/jobs?" + p.toString()); } catch (e) {
          if (!ctx.alive()) return;
          clear(errBox).append(errorBox(e));
          if (first) { first = false; markReady(); }
          markUpdated();
          return;
        }
        if (!ctx.alive()) return;
        clear(errBox);
        renderJobs(tbody, d.jobs || []);
        foot.textContent = (d.jobs || []).length + " jobs" + (d.truncated ? " (more matched: narrow the filter)" : "");
        if (first) { first = false; markReady(); }
        markUpdated();
      });
    };
    const apply = () => {
      setQuery({ state: stateSel.value, user: userIn.value.trim(), account: acctIn.value.trim() });
      start();
    };
    form.addEventListener("submit", (ev) => { ev.preventDefault(); apply(); });
    stateSel.addEventListener("change", apply);
    let typing = null;
    for (const inp of [userIn, acctIn])
      inp.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(apply, 400); });
    ctx.onLeave(() => clearTimeout(typing));
    start();
  }

  function renderJobs(tbody, jobs) {
    const focusedJob = document.activeElement && document.activeElement.closest &&
      document.activeElement.closest("tr[data-job]") ? document.activeElement.closest("tr[data-job]").dataset.job : null;
    clear(tbody);
    if (!jobs.length) {
      tbody.append(el("tr", null, el("td", { colspan: 7, class: "muted", text: "No jobs match." })));
      return;
    }
    for (const j of jobs) {
      const total = num(j.tasks_total);
      const done = num(j.tasks_succeeded);
      const failed = num(j.tasks_failed);
      let txt = done + " / " + total + " succeeded";
      if (failed) txt += ", " + failed + " failed";
      if (num(j.tasks_running)) txt += ", " + num(j.tasks_running) + " running";
      const link = jobLink(j.job_id, String(j.job_id));
      tbody.append(el("tr", { "data-job": String(j.job_id), "data-state": j.state },
                      el("td", { class: "num" }, link), el("td", null, j.name || ""), el("td", null, badge(j.state)),
                      el("td", null, bar(total ? done / total : 0, txt, failed ? "bad" : "ok")),
                      el("td", null, j.submitter || "anonymous"), el("td", null, j.account || ""),
                      el("td", { title: fmtTime(j.submit_time_ms) }, fmtAge(j.submit_time_ms))));
      if (focusedJob === String(j.job_id)) link.focus();
    }
  }

  // ------------------------------------------------------------ job
  async function pageJob(main, m, ctx) {
    const id = m[1];
    document.title = "Job " + id + " · Cairn";
    const head = el("div", { id: "job-head" });
    const errBox = el("div");
    const tools = el("div", { class: "graph-tools" });
    const graphWrap = el("div", { class: "graph-wrap", id: "graph-wrap" });
    const timeline = el("div", { id: "timeline" });
    const tlNote = el("div", { class: "muted small" });
    const back = el("div", { class: "small" }, el("a", { href: "/jobs", "data-link": "", id: "back-to-jobs" }, "‹ all jobs"));
    const jobMain = el("div", { class: "job-main" }, back, head, errBox, el("h2", { text: "Tasks" }), tools, graphWrap,
                       el("h2", { text: "Timeline" }), tlNote, timeline);
    const layout = el("div", { class: "job-layout" }, jobMain);
    main.append(layout);

    const st = {
      id, expand: new Set((new URLSearchParams(location.search).get("expand") || "").split(",").filter(Boolean)),
      key: null, layout: null, job: null, ended: false, panel: null, selected: null, ready: false,
    };
    const selTask = new URLSearchParams(location.search).get("task");

    let graphPoll = null, tlPoll = null;
    let firstGraph = true;
    const refreshGraph = async () => {
      const p = new URLSearchParams();
      if (st.expand.size) p.set("expand", [...st.expand].join(","));
      let g;
      try {
        g = await api(V1 + "/jobs/" + id + "/graph" + (p.toString() ? "?" + p : ""));
      } catch (e) {
        if (!ctx.alive()) return;
        clear(errBox).append(errorBox(e));
        if (firstGraph) {
          // no graph (an older scheduler): show the status at least
          firstGraph = false;
          if (e.status !== 404 && e.status !== 403) try {
            const s = await api(V1 + "/jobs/" + id + "?summary=1");
            if (ctx.alive()) { st.job = s.job; renderJobHead(head, s.job); }
          } catch (e2) { /* the graph's error says it */ }
          markReady();
        }
        markUpdated();
        if (e.status === 404 || e.status === 403) graphPoll.stop();
        return;
      }
      if (!ctx.alive()) return;
      clear(errBox);
      st.job = g.job;
      renderJobHead(head, g.job);
      renderGraph(graphWrap, tools, g, st, openTask, toggleGroup);
      const ended = !!ENDED_JOB[g.job && g.job.state];
      if (ended && graphPoll) graphPoll.stop();
      if (firstGraph) {
        firstGraph = false;
        markReady();
        if (selTask) openTask(selTask);
      }
      markUpdated();
      if (ended && !st.ended) {
        st.ended = true;
        // one last timeline read with the final attempts, then stop
        if (tlPoll) { tlPoll.stop(); tlPoll = ctx.every(3600e3, refreshTimeline); }
      }
    };
    const refreshTimeline = async () => {
      let d;
      try { d = await api(V1 + "/jobs/" + id + "?limit=2000"); } catch (e) {
        if (!ctx.alive()) return;
        clear(timeline).append(errorBox(e));
        if ((e.status === 404 || e.status === 403) && tlPoll) tlPoll.stop();
        return;
      }
      if (!ctx.alive()) return;
      renderTimeline(timeline, tlNote, d, openTask);
      if (ENDED_JOB[d.job && d.job.state] && tlPoll) tlPoll.stop();
    };
    function toggleGroup(name) {
      if (st.expand.has(name)) st.expand.delete(name);
      else st.expand.add(name);
      setQuery({ expand: [...st.expand].join(",") });
      st.focusAfter = name;
      refreshGraph();
    }
    function openTask(name) {
      if (st.panel) st.panel.close();
      st.selected = name;
      for (const g of graphWrap.querySelectorAll("g[data-task]"))
        g.classList.toggle("selected", g.dataset.task === name);
      setQuery({ task: name });
      st.panel = taskPanel(layout, id, name, ctx, () => {
        st.panel = null;
        st.selected = null;
        setQuery({ task: "" });
        for (const g of graphWrap.querySelectorAll("g.selected")) g.classList.remove("selected");
      });
    }
    graphPoll = ctx.every(1000, refreshGraph);
    tlPoll = ctx.every(5000, refreshTimeline);
  }

  function renderJobHead(head, job) {
    if (!job) return;
    clear(head);
    const total = num(job.tasks_total), ok = num(job.tasks_succeeded);
    head.append(
      el("div", { class: "job-head" },
         el("h1", null, "Job " + job.job_id + (job.name ? " · " + job.name : "")),
         el("span", { class: "badge st-" + job.state, id: "job-state" }, job.state),
         el("div", { class: "job-progress" }, bar(total ? ok / total : 0, ok + " / " + total + " succeeded",
                                                   num(job.tasks_failed) ? "bad" : "ok"))),
      el("div", { class: "kv" },
         kv("submitter", job.submitter || "anonymous"), kv("account", job.account || ""),
         kv("submitted", fmtAge(job.submit_time_ms)),
         job.start_time_ms ? kv("started", fmtTime(job.start_time_ms)) : null,
         job.end_time_ms ? kv("ended", fmtTime(job.end_time_ms)) : null,
         job.start_time_ms ? kv("run time", fmtDur((num(job.end_time_ms) || Date.now()) - num(job.start_time_ms))) : null,
         kv("tasks", total + " (" + num(job.tasks_running) + " running, " + num(job.tasks_pending) + " pending, " +
            ok + " succeeded, " + num(job.tasks_failed) + " failed, " + num(job.tasks_cancelled) + " cancelled)"),
         kv("seed", String(job.seed === undefined ? "" : job.seed))));
  }
  function kv(k, v) {
    return el("span", null, el("b", null, k), v);
  }

  // State icons for the graph: a distinct shape per state, drawn in a
  // 14x14 box at (x, y).
  function stateIcon(state, x, y) {
    const c = "ic ic-" + state, f = "ic-fill ic-" + state;
    const g = sv("g", { transform: "translate(" + x + "," + y + ")", "aria-hidden": "true" });
    switch (state) {
      case "succeeded":
        g.append(sv("circle", { cx: 7, cy: 7, r: 7, class: f }),
                 sv("path", { d: "M3.5 7.5 L6 10 L10.5 4.5", class: "ic" }));
        g.lastChild.setAttribute("stroke", "#fff");
        break;
      case "failed":
        g.append(sv("rect", { x: 0, y: 0, width: 14, height: 14, class: f }),
                 sv("path", { d: "M3.5 3.5 L10.5 10.5 M10.5 3.5 L3.5 10.5", class: "ic" }));
        g.lastChild.setAttribute("stroke", "#fff");
        break;
      case "running":
        g.append(sv("path", { d: "M2 0 L14 7 L2 14 Z", class: f }));
        break;
      case "pending":
        g.append(sv("circle", { cx: 7, cy: 7, r: 6, class: c }), sv("path", { d: "M7 3 L7 7 L10 9", class: c }));
        break;
      case "waiting":
        g.append(sv("circle", { cx: 2, cy: 7, r: 1.8, class: f }), sv("circle", { cx: 7, cy: 7, r: 1.8, class: f }),
                 sv("circle", { cx: 12, cy: 7, r: 1.8, class: f }));
        break;
      case "retry_wait":
        g.append(sv("path", { d: "M7 0 L14 7 L7 14 L0 7 Z", class: c }), sv("path", { d: "M5 5 A2.5 2.5 0 1 1 5 9", class: c }));
        break;
      case "cancelled":
        g.append(sv("circle", { cx: 7, cy: 7, r: 6, class: c }), sv("path", { d: "M2.8 11.2 L11.2 2.8", class: c }));
        break;
      case "upstream_failed":
        g.append(sv("path", { d: "M0 1 L14 1 L7 13 Z", class: c }), sv("path", { d: "M7 4 L7 8", class: c }));
        break;
      default:
        g.append(sv("rect", { x: 2, y: 2, width: 10, height: 10, class: "ic", stroke: "#888" }));
    }
    return g;
  }

  function nodeLabel(n) {
    return n.group ? n.id + " ×" + num(n.tasks) : n.id;
  }
  function countsText(n) {
    return (n.states || []).filter((s) => num(s.count)).map((s) => num(s.count) + " " + String(s.state).replace(/_/g, " ")).join(" · ");
  }
  function ariaFor(n) {
    let s = (n.group ? "group " : "task ") + n.id + ", " + String(n.state).replace(/_/g, " ");
    if (n.group) s += ", " + num(n.tasks) + " tasks: " + countsText(n) + "; press Enter to expand";
    if (n.expanded_from && n.parent) s += ", member of " + n.parent;
    return s;
  }
  const CH = 7.2; // px per character at 12px
  function nodeSize(n) {
    const line1 = nodeLabel(n).length + String(n.state).length + 3;
    const line2 = n.group ? countsText(n).length : 0;
    const w = Math.min(360, Math.max(110, 34 + CH * Math.max(line1 * 0.95, line2 * 0.92)));
    return { width: Math.round(w), height: n.group ? 48 : 32 };
  }

  function renderGraph(wrap, tools, g, st, openTask, toggleGroup) {
    const nodes = g.nodes || [];
    const edges = g.edges || [];
    // toolbar: expanded groups (collapse buttons), counts, truncation;
    // rebuilt only when it changes (a focused button stays focused)
    const toolsKey = nodes.length + "/" + edges.length + "/" + [...st.expand].join(",") + "/" + !!g.truncated;
    if (st.toolsKey !== toolsKey) {
      st.toolsKey = toolsKey;
      clear(tools);
      tools.append(el("span", { class: "muted" }, nodes.length + " nodes, " + edges.length + " edges"));
      for (const name of st.expand)
        tools.append(el("button", { type: "button", "data-collapse": name, onclick: () => toggleGroup(name) },
                        "fold " + name));
      if (g.truncated) tools.append(el("span", { class: "note" }, "An expanded group has more members than are shown."));
      tools.append(legend());
    }

    const key = nodes.map((n) => n.id + (n.group ? "#g" : "")).join("\u0001") + "\u0002" +
                edges.map((e) => e.from + ">" + e.to).join(",");
    if (nodes.length > 300) {
      if (st.key !== key || !wrap.querySelector("ul.task-list")) {
        st.key = key;
        clear(wrap);
        wrap.append(el("div", { class: "note" }, "This graph has " + nodes.length +
                       " nodes: too many to draw readably, so it is listed instead (fold groups to draw it)."));
        const ul = el("ul", { class: "task-list", id: "dag-list" });
        for (const n of nodes) ul.append(listItem(n, openTask, toggleGroup));
        wrap.append(ul);
      } else {
        const items = wrap.querySelectorAll("li[data-task]");
        nodes.forEach((n, i) => { if (items[i]) items[i].replaceWith(listItem(n, openTask, toggleGroup)); });
      }
      return;
    }
    if (st.key !== key || !wrap.querySelector("svg#dag")) {
      st.key = key;
      st.layout = layoutGraph(nodes, edges);
      drawGraph(wrap, st, nodes, edges, openTask, toggleGroup);
    } else {
      restyleGraph(wrap, st, nodes);
    }
    if (st.focusAfter) {
      const f = wrap.querySelector('g[data-task="' + cssEscape(st.focusAfter) + '"]') ||
                wrap.querySelector('g[data-parent="' + cssEscape(st.focusAfter) + '"]');
      if (f) f.focus();
      st.focusAfter = null;
    }
  }
  function cssEscape(s) {
    return window.CSS && CSS.escape ? CSS.escape(s) : String(s).replace(/["\\]/g, "\\$&");
  }

  function listItem(n, openTask, toggleGroup) {
    const li = el("li", { "data-task": n.id, "data-state": n.state, tabindex: 0, role: "button", "aria-label": ariaFor(n) },
                  badge(n.state), " ", nodeLabel(n), n.group ? el("span", { class: "muted" }, " " + countsText(n)) : null);
    if (n.group) li.dataset.group = "1";
    const act = () => (n.group ? toggleGroup(n.id) : openTask(n.id));
    li.addEventListener("click", act);
    li.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); act(); }
    });
    return li;
  }

  function legend() {
    const l = el("span", { class: "legend", "aria-label": "legend" });
    for (const s of TASK_STATES) l.append(badge(s));
    return l;
  }

  function layoutGraph(nodes, edges) {
    const out = { nodes: [], edges: [], width: 0, height: 0 };
    if (typeof dagre === "undefined") {
      // no layout library: a plain column per node index
      nodes.forEach((n, i) => {
        const s = nodeSize(n);
        out.nodes.push({ x: 20 + s.width / 2, y: 20 + i * 56 + s.height / 2, width: s.width, height: s.height });
      });
      out.width = 400;
      out.height = nodes.length * 56 + 40;
      return out;
    }
    const G = new dagre.graphlib.Graph({ multigraph: false });
    G.setGraph({ rankdir: "LR", nodesep: 14, ranksep: 56, edgesep: 8, marginx: 14, marginy: 14 });
    G.setDefaultEdgeLabel(() => ({}));
    nodes.forEach((n, i) => G.setNode(String(i), nodeSize(n)));
    for (const e of edges) {
      if (e.from >= nodes.length || e.to >= nodes.length) continue;
      G.setEdge(String(e.from), String(e.to));
    }
    dagre.layout(G);
    nodes.forEach((n, i) => out.nodes.push(G.node(String(i))));
    for (const e of edges) {
      const ge = G.edge(String(e.from), String(e.to));
      out.edges.push(ge ? ge.points : []);
    }
    const gg = G.graph();
    out.width = Math.ceil(gg.width || 400);
    out.height = Math.ceil(gg.height || 100);
    return out;
  }

  function drawGraph(wrap, st, nodes, edges, openTask, toggleGroup) {
    const L = st.layout;
    const svg = sv("svg", { id: "dag", width: Math.max(L.width, 200), height: Math.max(L.height, 60),
                            viewBox: "0 0 " + Math.max(L.width, 200) + " " + Math.max(L.height, 60),
                            role: "group", "aria-label": "task graph" });
    const defs = sv("defs", null, sv("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7,
                                                 markerHeight: 7, orient: "auto-start-reverse" },
                                     sv("path", { d: "M0 0 L10 5 L0 10 z" })));
    svg.append(defs);
    const eg = sv("g", { class: "edges" });
    edges.forEach((e, i) => {
      const pts = L.edges[i];
      if (!pts || !pts.length) return;
      const d = "M" + pts.map((p) => p.x.toFixed(1) + " " + p.y.toFixed(1)).join(" L");
      const path = sv("path", { d, class: "edge" + (num(e.count) > 1 ? " thick" : ""), "marker-end": "url(#arrow)" });
      if (num(e.count) > 1) path.append(sv("title", null, num(e.count) + " task-level edges"));
      eg.append(path);
    });
    svg.append(eg);
    const ng = sv("g", { class: "nodes" });
    nodes.forEach((n, i) => {
      const p = L.nodes[i];
      const g = sv("g", { class: "n", "data-task": n.id, "data-state": n.state, tabindex: 0, role: "button",
                          transform: "translate(" + (p.x - p.width / 2).toFixed(1) + "," + (p.y - p.height / 2).toFixed(1) + ")" });
      if (n.group) g.setAttribute("data-group", "1");
      if (n.parent) g.setAttribute("data-parent", n.parent);
      fillNode(g, n, p);
      const act = () => (n.group ? toggleGroup(n.id) : openTask(n.id));
      g.addEventListener("click", act);
      g.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); act(); }
        else if ((ev.key === "Backspace" || ev.key === "Delete") && n.expanded_from && n.parent) {
          ev.preventDefault(); toggleGroup(n.parent);
        }
      });
      if (st.selected === n.id) g.classList.add("selected");
      ng.append(g);
    });
    svg.append(ng);
    clear(wrap).append(svg);
  }

  function fillNode(g, n, p) {
    clear(g);
    g.setAttribute("data-state", n.state);
    g.setAttribute("aria-label", ariaFor(n));
    const w = p.width, h = p.height;
    g.append(sv("title", null, ariaFor(n) + (n.attempts ? " · " + num(n.attempts) + " attempts" : "") +
                (n.kind ? " · kind " + n.kind : "") + (num(n.replicas) > 1 ? " · gang of " + num(n.replicas) : "")));
    g.append(sv("rect", { class: "ring", x: -3, y: -3, width: w + 6, height: h + 6, rx: 8, fill: "none", stroke: "none" }));
    if (n.group) {
      // a stack: two offset boxes behind
      g.append(sv("rect", { class: "box sf-" + n.state, x: 4, y: -4, width: w, height: h, rx: 6 }));
    }
    g.append(sv("rect", { class: "box sf-" + n.state, x: 0, y: 0, width: w, height: h, rx: 6 }));
    g.append(stateIcon(n.state, 8, n.group ? 8 : (h - 14) / 2));
    const t1 = sv("text", { x: 28, y: n.group ? 19 : h / 2 + 4 });
    const label = nodeLabel(n);
    t1.append(sv("tspan", { class: "id" }, label + " "), sv("tspan", { class: "sub" }, String(n.state).replace(/_/g, " ")));
    g.append(t1);
    if (n.group) g.append(sv("text", { class: "sub", x: 28, y: 37 }, countsText(n)));
    else if (num(n.replicas) > 1) g.append(sv("text", { class: "sub", x: w - 30, y: h / 2 + 4 }, "×" + num(n.replicas)));
  }

  function restyleGraph(wrap, st, nodes) {
    const gs = wrap.querySelectorAll("svg#dag g.n");
    nodes.forEach((n, i) => {
      const g = gs[i];
      if (!g) return;
      const sig = JSON.stringify(n);
      if (g.__sig === sig) return;
      g.__sig = sig;
      const p = st.layout.nodes[i];
      // keep the layout box size; only the contents change
      const had = document.activeElement === g;
      fillNode(g, n, p);
      if (had) g.focus();
    });
  }

  // Gantt of attempts: a row per node, or per GPU on nodes with GPUs.
  function renderTimeline(box, note, d, openTask) {
    const bars = [];
    let t0 = Infinity, t1 = 0;
    const now = Date.now();
    for (const t of d.tasks || []) {
      for (const a of t.attempts || []) {
        if (!num(a.start_time_ms)) continue;
        const start = num(a.start_time_ms), end = num(a.end_time_ms) || now;
        t0 = Math.min(t0, start);
        t1 = Math.max(t1, end);
        const outcome = a.end_reason && a.end_reason !== "unspecified" ? a.end_reason : (num(a.end_time_ms) ? "succeeded" : "running");
        const places = [];
        if (Array.isArray(a.replicas) && a.replicas.length) {
          for (const r of a.replicas) places.push({ node: r.node, gpus: r.gpus || [], rank: r.rank });
        } else {
          places.push({ node: String(a.node || "?").split(",")[0], gpus: a.gpus || [], rank: 0 });
        }
        for (const pl of places) {
          const rows = pl.gpus.length ? pl.gpus.map((g) => pl.node + " · GPU " + num(typeof g === "object" ? g.index : g))
                                      : [pl.node + " · cores"];
          for (const row of rows)
            bars.push({ row, node: pl.node, start, end, outcome, task: t.name, a, rank: pl.rank, replica: t.replica });
        }
      }
    }
    clear(box);
    if (!bars.length) {
      box.append(el("p", { class: "muted", text: "No attempt has started yet." }));
      note.textContent = "";
      return;
    }
    note.textContent = (d.more ? "The first " + (d.tasks || []).length + " tasks. " : "") + "Time from " +
      fmtTime(t0) + " to " + (t1 >= now - 1500 ? "now" : fmtTime(t1)) + " (" + fmtDur(t1 - t0) + ").";
    // rows sorted by node then GPU index; lanes so overlapping bars do not hide each other
    const rowNames = [...new Set(bars.map((b) => b.row))].sort((x, y) => x.localeCompare(y, "en", { numeric: true }));
    const MAXL = 6;
    const lanesOf = new Map();
    for (const r of rowNames) lanesOf.set(r, []);
    bars.sort((x, y) => x.start - y.start);
    for (const b of bars) {
      const lanes = lanesOf.get(b.row);
      let li = lanes.findIndex((end) => end <= b.start);
      if (li < 0) { li = lanes.length < MAXL ? lanes.length : lanes.indexOf(Math.min(...lanes)); }
      lanes[li] = Math.max(lanes[li] || 0, b.end);
      b.lane = li;
    }
    const LH = 12, LABW = 170, W = Math.max(600, box.clientWidth - 20 || 900);
    const span = Math.max(1, t1 - t0);
    const x = (t) => LABW + ((t - t0) / span) * (W - LABW - 10);
    let y = 22;
    const rowY = new Map();
    for (const r of rowNames) { rowY.set(r, y); y += Math.max(1, lanesOf.get(r).length) * LH + 8; }
    const svg = sv("svg", { width: W, height: y + 4, role: "img", "aria-label": "timeline of attempts by node and GPU" });
    // axis ticks
    for (let i = 0; i <= 5; i++) {
      const tx = x(t0 + (span * i) / 5);
      svg.append(sv("line", { class: "axis", x1: tx, x2: tx, y1: 16, y2: y }));
      if (i < 5) svg.append(sv("text", { x: tx + 2, y: 12 }, i ? "+" + fmtDur((span * i) / 5) : fmtTime(t0).slice(11)));
    }
    for (const r of rowNames) {
      const ry = rowY.get(r), rh = Math.max(1, lanesOf.get(r).length) * LH + 4;
      svg.append(sv("rect", { class: "row-bg", x: 0, y: ry - 2, width: W, height: rh }),
                 sv("text", { x: 4, y: ry + 10 }, r));
    }
    for (const b of bars) {
      const bx = x(b.start), bw = Math.max(2, x(b.end) - bx);
      const rect = sv("rect", { class: "att oc-" + b.outcome, x: bx.toFixed(1), y: rowY.get(b.row) + b.lane * LH,
                                width: bw.toFixed(1), height: LH - 2, "data-task": b.task, "data-outcome": b.outcome });
      rect.append(sv("title", null, b.task + (b.replica ? " replica " + b.replica : "") + " · attempt " + num(b.a.number) +
                     " · " + b.row + " · " + b.outcome.replace(/_/g, " ") + " · " + fmtDur(b.end - b.start) +
                     (num(b.a.exit_code) ? " · exit " + b.a.exit_code : "")));
      rect.addEventListener("click", () => openTask(b.task));
      svg.append(rect);
    }
    box.append(svg);
  }

  // The side panel of one task: attempts, explain, provenance, logs.
  function taskPanel(layout, id, name, ctx, onClose) {
    const old = document.getElementById("task-panel");
    if (old) old.remove();
    const enc = encodeURIComponent(name);
    const base = V1 + "/jobs/" + id + "/tasks/" + enc;
    const attempts = el("div", { id: "task-attempts" }, el("p", { class: "muted", text: "loading…" }));
    const explain = el("pre", { id: "task-explain" }, "loading…");
    const prov = el("div", { id: "task-provenance" }, el("p", { class: "muted", text: "loading…" }));
    const logs = el("pre", { id: "task-logs", tabindex: 0, "aria-label": "log output" });
    const logErr = el("div");
    const follow = el("input", { type: "checkbox", id: "task-follow" });
    const stream = el("select", { id: "task-stream", "aria-label": "stream" }, el("option", { value: "stdout" }, "stdout"),
                      el("option", { value: "stderr" }, "stderr"));
    const logState = el("span", { class: "muted", id: "task-log-state" });
    const closeBtn = el("button", { type: "button", "aria-label": "close task panel", text: "✕" });
    const stateBadge = el("span");
    const panel = el("aside", { id: "task-panel", "data-task": name, "aria-label": "task " + name, tabindex: -1 },
                     el("div", { class: "ph" }, el("h2", null, name), stateBadge, closeBtn),
                     el("h3", { text: "Attempts" }), attempts,
                     el("h3", { text: "Explain" }), explain,
                     el("h3", { text: "Provenance" }), prov,
                     el("h3", { text: "Logs" }),
                     el("div", { class: "logbar" }, stream, el("label", null, follow, " follow"), logState),
                     logErr, logs);
    layout.append(panel);
    let open = true;
    let logTimer = null;
    let logGen = 0;
    const close = () => {
      if (!open) return;
      open = false;
      clearTimeout(logTimer);
      clearTimeout(metaTimer);
      panel.remove();
      onClose();
    };
    closeBtn.addEventListener("click", close);
    panel.addEventListener("keydown", (ev) => { if (ev.key === "Escape") close(); });
    ctx.onLeave(() => { open = false; clearTimeout(logTimer); });
    const alive = () => open && ctx.alive();

    // attempts, explain and provenance: again every 3 s while the task has
    // not ended; the first answer decides whether the logs follow
    const explainErr = el("div");
    explain.after(explainErr);
    let metaTimer = null;
    let firstMeta = true;
    const TERMINAL = { succeeded: 1, failed: 1, cancelled: 1, upstream_failed: 1 };
    const loadMeta = async () => {
      const [st, ex, pv] = await Promise.all([
        api(base).catch((e) => e), api(base + "/explain").catch((e) => e),
        api(V1 + "/jobs/" + id + "/provenance?task=" + enc).catch((e) => e)]);
      if (!alive()) return;
      let state = "";
      if (st instanceof Error) clear(attempts).append(errorBox(st));
      else {
        renderAttempts(attempts, st);
        const tasks = st.tasks || [];
        state = tasks.length ? tasks[0].state : "";
        clear(stateBadge).append(badge(state));
      }
      clear(explainErr);
      if (ex instanceof Error) {
        explain.textContent = "(no explanation: see the error below)";
        explainErr.append(errorBox(ex));
      } else {
        let t = ex.text || "(no explanation)";
        if (Array.isArray(ex.reasons) && ex.reasons.length)
          t += "\n\n" + ex.reasons.map((r) => r.reason + ": " + r.count + " nodes").join("\n");
        explain.textContent = t;
      }
      if (pv instanceof Error) clear(prov).append(errorBox(pv));
      else renderProvenance(prov, pv, name);
      if (firstMeta) {
        firstMeta = false;
        if ((state === "running" || state === "pending" || state === "retry_wait") && !follow.checked) {
          follow.checked = true;
          if (logOffset !== null) scheduleLogs(1000);
        }
      }
      if (state && !TERMINAL[state]) metaTimer = setTimeout(loadMeta, 3000);
    };
    ctx.onLeave(() => clearTimeout(metaTimer));
    loadMeta();

    // logs: read to the end (keeping the tail), then follow from next_offset
    const TAIL = 64 * 1024;
    let logOffset = null;
    let logText = "";
    const readLogs = async (myGen) => {
      let pages = 0;
      for (;;) {
        let d;
        try {
          d = await api(base + "/logs?stream=" + stream.value + "&offset=" + (logOffset || 0) + "&max_bytes=65536");
        } catch (e) {
          if (!alive() || myGen !== logGen) return;
          clear(logErr).append(errorBox(e));
          logState.textContent = "";
          if (!logText) logs.textContent = "(logs not available)";
          if (logOffset === null) logOffset = 0;
          follow.checked = false;
          return;
        }
        if (!alive() || myGen !== logGen) return;
        clear(logErr);
        if (d.error) logErr.append(errorBox({ message: d.error }));
        const txt = d.text !== undefined ? d.text : "";
        if (txt) {
          const atBottom = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 8;
          logText += txt;
          if (logText.length > TAIL) logText = "…\n" + logText.slice(logText.length - TAIL);
          logs.textContent = logText;
          if (atBottom || pages === 0) logs.scrollTop = logs.scrollHeight;
        }
        const prev = logOffset || 0;
        logOffset = num(d.next_offset);
        pages++;
        if (d.eof) {
          logState.textContent = "end of output (" + fmtBytes(logOffset) + ")";
          if (!logText) logs.textContent = "(no output)";
          follow.checked = false;
          return;
        }
        logState.textContent = fmtBytes(logOffset) + " read";
        // more already there: keep reading (bounded), else wait
        if (logOffset > prev && txt.length >= 60000 && pages < 64) continue;
        if (!logText) logs.textContent = "(no output yet)";
        if (follow.checked) scheduleLogs(1000);
        return;
      }
    };
    const scheduleLogs = (ms) => {
      clearTimeout(logTimer);
      const my = logGen;
      logTimer = setTimeout(() => { if (alive() && my === logGen) readLogs(my); }, ms);
    };
    follow.addEventListener("change", () => { if (follow.checked) scheduleLogs(0); else clearTimeout(logTimer); });
    stream.addEventListener("change", () => {
      logGen++;
      logOffset = null;
      logText = "";
      logs.textContent = "";
      clear(logErr);
      readLogs(logGen);
    });
    readLogs(logGen);
    panel.focus();
    return { close };
  }

  function renderAttempts(box, d) {
    clear(box);
    const tasks = d.tasks || [];
    const rows = [];
    for (const t of tasks) {
      for (const a of t.attempts || []) rows.push([t, a]);
    }
    const info = [];
    for (const t of tasks) {
      if (t.pending_detail) info.push(el("p", { class: "small" }, (tasks.length > 1 ? "replica " + t.replica + ": " : "") + t.pending_detail));
      if (num(t.next_attempt_time_ms)) info.push(el("p", { class: "small" }, "next attempt " + fmtTime(t.next_attempt_time_ms)));
    }
    box.append(...info);
    if (!rows.length) { box.append(el("p", { class: "muted", text: "No attempts yet." })); return; }
    const tb = el("tbody");
    for (const [t, a] of rows) {
      const gpus = (a.gpus || []).map((g) => (typeof g === "object" ? g.index : g)).join(",");
      const outcome = a.end_reason && a.end_reason !== "unspecified" ? a.end_reason : num(a.start_time_ms) ? "running" : "not started";
      const dur = num(a.start_time_ms) ? fmtDur((num(a.end_time_ms) || Date.now()) - num(a.start_time_ms)) : "";
      let extra = "";
      if (num(a.exit_code)) extra += "exit " + a.exit_code;
      if (num(a.signal)) extra += (extra ? ", " : "") + "signal " + a.signal;
      if (a.error) extra += (extra ? ", " : "") + a.error;
      if (num(a.cached_from_job)) extra += (extra ? ", " : "") + "cached from job " + a.cached_from_job;
      tb.append(el("tr", { "data-attempt": String(a.number) },
                   el("td", { class: "num" }, String(num(a.number)) + (tasks.length > 1 ? "/r" + t.replica : "")),
                   el("td", null, a.node || ""), el("td", null, gpus),
                   el("td", null, outcome.replace(/_/g, " ")), el("td", { class: "num" }, dur), el("td", null, extra)));
    }
    box.append(el("table", { class: "t" }, el("thead", null, el("tr", null, el("th", { class: "num", text: "#" }),
               el("th", { text: "node" }), el("th", { text: "gpus" }), el("th", { text: "end" }),
               el("th", { class: "num", text: "time" }), el("th", { text: "" }))), tb));
  }

  function renderProvenance(box, d, name) {
    clear(box);
    const job = d && d.job && typeof d.job === "object" ? d.job : d;
    const task = (job.tasks || []).find((t) => t.name === name) || (job.tasks || [])[0];
    if (!task) { box.append(el("p", { class: "muted", text: "No provenance recorded." })); return; }
    const atts = task.attempts || [];
    const a = atts[atts.length - 1];
    const dl = el("dl");
    const row = (k, v) => { if (v !== undefined && v !== null && v !== "") dl.append(el("dt", null, k), el("dd", null, String(v))); };
    row("spec sha256", job.spec_sha256 ? String(job.spec_sha256).slice(0, 16) + "…" : "");
    row("argv", (task.argv || []).join(" "));
    if (a) {
      row("attempt", num(a.number) + (num(a.rank) ? " rank " + a.rank : ""));
      row("seed", a.seed);
      row("node", a.node + (a.node_fingerprint ? " (" + a.node_fingerprint + ")" : ""));
      row("gpus", (a.gpus || []).map((g) => "GPU " + num(g.index) + (g.model ? " " + shortModel(g.model) : "")).join(", "));
      row("driver / cuda", [a.driver_version, a.cuda_version].filter(Boolean).join(" / "));
      row("worker", a.worker_version);
      row("end", a.end || (num(a.start_time_ms) ? "running" : ""));
      row("exit code", a.end ? a.exit_code : "");
      if (num(a.signal)) row("signal", a.signal);
      row("error", a.error);
      row("peak RSS", num(a.peak_rss_bytes) ? fmtBytes(a.peak_rss_bytes) : "");
      row("cache key", a.cache_key ? String(a.cache_key).slice(0, 16) + "…" : "");
      if (num(a.cached_from_job)) row("cached from", "job " + a.cached_from_job + " " + (a.cached_from_task || ""));
      row("checkpoint", a.checkpoint_end_digest ? "end " + String(a.checkpoint_end_digest).slice(0, 12) + "…" : "");
      if (num(a.resumed_from_attempt)) row("resumed from", "attempt " + a.resumed_from_attempt);
      row("outputs", (a.outputs || []).length ? (a.outputs || []).length + " hashed" : "");
    } else {
      row("attempts", "none yet");
    }
    box.append(dl);
  }

  // ------------------------------------------------------------ capacity
  const WINDOWS = [["1h", 3600e3, "last 1 h"], ["24h", 86400e3, "last 24 h"], ["7d", 7 * 86400e3, "last 7 d"]];

  async function pageCapacity(main, m, ctx) {
    document.title = "Capacity · Cairn";
    const q = new URLSearchParams(location.search);
    let win = q.get("window") || (q.get("from_ms") ? "custom" : "24h");
    const toLocal = (t) => {
      const d = new Date(t - new Date(t).getTimezoneOffset() * 60000);
      return d.toISOString().slice(0, 16);
    };
    const fromIn = el("input", { type: "datetime-local", id: "cap-from", "aria-label": "from" });
    const toIn = el("input", { type: "datetime-local", id: "cap-to", "aria-label": "to" });
    fromIn.value = toLocal(num(q.get("from_ms")) || Date.now() - 86400e3);
    toIn.value = toLocal(num(q.get("to_ms")) || Date.now());
    const btns = WINDOWS.map(([k, , label]) => el("button", { type: "button", "data-window": k }, label));
    const customBtn = el("button", { type: "button", "data-window": "custom" }, "custom");
    const applyBtn = el("button", { type: "button", id: "cap-apply" }, "show");
    const picker = el("div", { class: "windows", role: "group", "aria-label": "window" }, btns, customBtn,
                      el("label", null, "from ", fromIn), el("label", null, "to ", toIn), applyBtn);
    const info = el("p", { class: "muted small", id: "cap-window" });
    const errBox = el("div");
    const mk = (id, title) => {
      const canvas = el("canvas", { id, role: "img", "aria-label": title });
      const table = el("div", { class: "small" });
      return { canvas, table, box: el("div", { class: "chart-box" }, el("h3", { text: title }),
                                      el("div", { class: "cv" }, canvas), table) };
    };
    const c1 = mk("chart-gpu-hours", "GPU-hours by GPU model: allocated vs used");
    const c2 = mk("chart-waits", "Queue waits by shape (p50 / p95, minutes)");
    const c3 = mk("chart-frag", "Fragmentation: idle GPU-hours while GPU tasks waited");
    const extra = el("div", { class: "charts" });
    const cap = el("div", { id: "capacity" }, el("div", { class: "charts" }, c1.box, c2.box, c3.box), extra);
    main.append(el("h1", { text: "Capacity" }), picker, info, errBox, cap);
    const charts = {};
    ctx.onLeave(() => { for (const k of Object.keys(charts)) charts[k].destroy(); });

    const range = () => {
      if (win === "custom") {
        const f = new Date(fromIn.value).getTime(), t = new Date(toIn.value).getTime();
        return [Number.isFinite(f) ? f : Date.now() - 86400e3, Number.isFinite(t) ? t : Date.now()];
      }
      const w = WINDOWS.find((x) => x[0] === win) || WINDOWS[1];
      const now = Date.now();
      return [now - w[1], now];
    };
    const mark = () => {
      for (const b of [...btns, customBtn]) {
        b.classList.toggle("active", b.dataset.window === win);
        b.setAttribute("aria-pressed", b.dataset.window === win ? "true" : "false");
      }
      fromIn.disabled = toIn.disabled = applyBtn.disabled = win !== "custom";
    };
    let poll = null;
    let first = true;
    const load = () => {
      mark();
      if (win !== "custom") {
        const [f, t] = range();
        fromIn.value = toLocal(f);
        toIn.value = toLocal(t);
      }
      if (win === "custom") {
        const [f, t] = range();
        setQuery({ window: "", from_ms: String(f), to_ms: String(t) });
      } else setQuery({ window: win === "24h" ? "" : win, from_ms: "", to_ms: "" });
      if (poll) poll.stop();
      poll = ctx.every(win === "custom" ? 3600e3 : 30000, async () => {
        const [f, t] = range();
        let r;
        try { r = await api(V1 + "/report?from_ms=" + Math.round(f) + "&to_ms=" + Math.round(t)); } catch (e) {
          if (!ctx.alive()) return;
          clear(errBox).append(errorBox(e));
          if (first) { first = false; markReady(); }
          markUpdated();
          return;
        }
        if (!ctx.alive()) return;
        clear(errBox);
        info.textContent = "From " + fmtTime(r.from_ms || f) + " to " + fmtTime(r.to_ms || t) + ".";
        drawCapacity(r, charts, c1, c2, c3, extra);
        if (first) { first = false; markReady(); }
        markUpdated();
      });
    };
    for (const b of btns) b.addEventListener("click", () => { win = b.dataset.window; load(); });
    customBtn.addEventListener("click", () => { win = "custom"; mark(); fromIn.focus(); });
    applyBtn.addEventListener("click", () => { win = "custom"; load(); });
    load();
  }

  const H = (s) => (s === null || s === undefined ? null : num(s) / 3600);

  function chartOf(charts, key, canvas, cfg) {
    if (typeof Chart === "undefined") return null;
    if (charts[key]) {
      const c = charts[key];
      c.data.labels = cfg.data.labels;
      c.data.datasets.forEach((ds, i) => { ds.data = cfg.data.datasets[i] ? cfg.data.datasets[i].data : []; });
      c.update("none");
      return c;
    }
    cfg.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false,
                                  plugins: { legend: { position: "bottom" } } }, cfg.options || {});
    charts[key] = new Chart(canvas, cfg);
    return charts[key];
  }

  function tableOf(headers, rows) {
    return el("table", { class: "t" }, el("thead", null, el("tr", null, headers.map((h, i) =>
      el("th", { class: i ? "num" : null, text: h })))),
      el("tbody", null, rows.map((r) => el("tr", null, r.map((c, i) => el("td", { class: i ? "num" : null }, c))))));
  }

  function drawCapacity(r, charts, c1, c2, c3, extra) {
    // GPU-hours by model
    const models = r.gpu_models || [];
    const anyUsed = models.some((g) => g.gpu_used_s !== null && g.gpu_used_s !== undefined);
    chartOf(charts, "gpu", c1.canvas, {
      type: "bar",
      data: { labels: models.map((g) => shortModel(g.name) + " (" + num(g.gpus) + ")"),
              datasets: [{ label: "capacity", data: models.map((g) => H(g.gpu_capacity_s)), backgroundColor: "#d5dae0" },
                         { label: "allocated", data: models.map((g) => H(g.gpu_allocated_s)), backgroundColor: "#0072b2" },
                         { label: "used", data: models.map((g) => H(g.gpu_used_s)), backgroundColor: "#e69f00" }] },
      options: { scales: { y: { title: { display: true, text: "GPU-hours" }, beginAtZero: true } } },
    });
    clear(c1.table).append(
      models.length ? tableOf(["model", "GPUs", "capacity h", "allocated h", "used h"],
        models.map((g) => [shortModel(g.name), String(num(g.gpus)), fmtNum(H(g.gpu_capacity_s)),
                           fmtNum(H(g.gpu_allocated_s)) + (num(g.gpu_capacity_s) ? " (" +
                             fmtNum((100 * num(g.gpu_allocated_s)) / num(g.gpu_capacity_s), 0) + "%)" : ""),
                           g.gpu_used_s === null || g.gpu_used_s === undefined ? "not reported" : fmtNum(H(g.gpu_used_s))]))
                    : el("p", { class: "muted", text: "No GPUs in this window." }),
      models.length && !anyUsed ? el("p", { class: "muted", text: "Used GPU time: the GPUs did not report utilisation." }) : null);

    // waits by shape
    const waits = r.waits || [];
    chartOf(charts, "waits", c2.canvas, {
      type: "bar",
      data: { labels: waits.map((w) => w.shape),
              datasets: [{ label: "p50", data: waits.map((w) => num(w.p50_s) / 60), backgroundColor: "#56b4e9" },
                         { label: "p95", data: waits.map((w) => num(w.p95_s) / 60), backgroundColor: "#0072b2" }] },
      options: { scales: { y: { title: { display: true, text: "minutes" }, beginAtZero: true } } },
    });
    clear(c2.table).append(waits.length ? tableOf(["shape", "started", "p50", "p95", "max", "still queued", "never started"],
      waits.map((w) => [w.shape, String(num(w.tasks)), fmtDur(num(w.p50_s) * 1000), fmtDur(num(w.p95_s) * 1000),
                        fmtDur(num(w.max_s) * 1000), String(num(w.queued)), String(num(w.never_started))]))
      : el("p", { class: "muted", text: "No task waited in this window." }));

    // fragmentation: every number field of the census, in GPU-hours
    const frag = r.fragmentation || {};
    const keys = Object.keys(frag).filter((k) => typeof frag[k] === "number");
    const fl = (k) => k.replace(/_s$/, "").replace(/_/g, " ");
    chartOf(charts, "frag", c3.canvas, {
      type: "bar",
      data: { labels: keys.map(fl),
              datasets: [{ label: "GPU-hours", data: keys.map((k) => H(frag[k])), backgroundColor: "#cc79a7" }] },
      options: { indexAxis: "y", scales: { x: { title: { display: true, text: "GPU-hours" }, beginAtZero: true } },
                 plugins: { legend: { display: false } } },
    });
    clear(c3.table).append(keys.length ? tableOf(["", "GPU-hours"], keys.map((k) => [fl(k), fmtNum(H(frag[k]), 3)]))
                                       : el("p", { class: "muted", text: "No fragmentation figures." }));

    // the rest, as tables: nodes, wait reasons, lost GPU time
    clear(extra);
    const nodes = r.nodes || [];
    if (nodes.length)
      extra.append(el("div", { class: "chart-box" }, el("h3", { text: "Nodes" }),
        tableOf(["node", "GPUs", "GPU alloc h", "cores", "core alloc %", "present"],
          nodes.map((n) => [n.name, String(num(n.gpus)), fmtNum(H(n.gpu_allocated_s)), String(num(n.cores)),
                            num(n.core_capacity_s) ? fmtNum((100 * num(n.core_allocated_s)) / num(n.core_capacity_s), 1) + "%" : "–",
                            fmtDur(num(n.present_s) * 1000)]))));
    const reasons = r.wait_reasons || [];
    if (reasons.length)
      extra.append(el("div", { class: "chart-box" }, el("h3", { text: "Why tasks waited" }),
        tableOf(Object.keys(reasons[0]).map((k) => k.replace(/_s$/, " (h)").replace(/_/g, " ")), reasons.map((w) => Object.keys(reasons[0]).map((k) =>
          typeof w[k] === "number" && /_s$/.test(k) ? fmtNum(w[k] / 3600, 3) : String(w[k]))))));
    const lost = r.lost_gpu;
    if (lost && typeof lost === "object")
      extra.append(el("div", { class: "chart-box" }, el("h3", { text: "GPU time lost" }),
        tableOf(["", "value"], Object.keys(lost).filter((k) => typeof lost[k] === "number").map((k) =>
          [k.replace(/_s$/, "").replace(/_/g, " "), /_s$/.test(k) ? fmtNum(lost[k] / 3600, 3) + " GPU-h" : String(lost[k])]))));
    const groups = r.groups || [];
    if (groups.length)
      extra.append(el("div", { class: "chart-box" }, el("h3", { text: "By " + (r.by || "user") }),
        tableOf([r.by || "user", "attempts", "GPU h", "core h", "wait p50", "wait p95"],
          groups.map((g) => [g.key, String(num(g.attempts)), fmtNum(H(g.gpu_s)), fmtNum(H(g.core_s)),
                             fmtDur(num(g.wait_p50_s) * 1000), fmtDur(num(g.wait_p95_s) * 1000)]))));
  }

  // ------------------------------------------------------------ accounts
  async function pageAccounts(main, m, ctx) {
    document.title = "Accounts · Cairn";
    const errBox = el("div");
    const box = el("div", { id: "accounts" });
    const info = el("p", { class: "muted small" });
    main.append(el("h1", { text: "Accounts" }), errBox, box, info);
    let first = true;
    ctx.every(5000, async () => {
      let d;
      try { d = await api(V1 + "/accounts"); } catch (e) {
        if (!ctx.alive()) return;
        clear(errBox).append(errorBox(e));
        if (first) { first = false; markReady(); }
        markUpdated();
        return;
      }
      if (!ctx.alive()) return;
      clear(errBox);
      renderAccounts(box, d);
      const bits = [];
      if (d.gpu_weight) bits.push("a GPU-second counts as " + d.gpu_weight + " core-seconds");
      if (d.half_life_ms) bits.push("usage half-life " + fmtDur(d.half_life_ms));
      if (d.time_ms) bits.push("as of " + fmtTime(d.time_ms));
      info.textContent = bits.join(" · ");
      if (first) { first = false; markReady(); }
      markUpdated();
    });
  }

  function limitOf(a, k) {
    if (!a) return null;
    if (a[k] !== undefined && a[k] !== null) return a[k];
    if (a.limits && a.limits[k] !== undefined && a.limits[k] !== null) return a.limits[k];
    return null;
  }

  function renderAccounts(box, d) {
    const accts = d.accounts || [];
    const usage = new Map();
    for (const u of d.usage || []) usage.set(u.name, u);
    // accounts may carry usage fields themselves (cairn account usage --json)
    for (const a of accts) if (!usage.has(a.name) && a.norm_share !== undefined) usage.set(a.name, a);
    const byName = new Map(accts.map((a) => [a.name, a]));
    for (const [n, u] of usage) if (!byName.has(n)) byName.set(n, u);
    const kids = new Map();
    const roots = [];
    for (const a of byName.values()) {
      const p = a.parent || "";
      if (p && byName.has(p)) { if (!kids.has(p)) kids.set(p, []); kids.get(p).push(a); }
      else roots.push(a);
    }
    const order = [];
    const walk = (a, depth) => {
      order.push([a, depth]);
      for (const c of kids.get(a.name) || []) walk(c, depth + 1);
    };
    for (const r of roots) walk(r, 0);
    const tb = el("tbody");
    for (const [a, depth] of order) {
      const u = usage.get(a.name) || {};
      const lim = [];
      for (const [k, t] of [["max_gpus", "GPUs"], ["max_cpus", "CPUs"], ["max_running", "running"], ["max_priority", "priority"]]) {
        const v = limitOf(a, k) !== null ? limitOf(a, k) : limitOf(u, k);
        if (v !== null) lim.push(t + " ≤ " + v);
      }
      const members = [...(a.users || []), ...(a.groups || []).map((g) => "@" + g)];
      const nameCell = el("td", { class: "depth-" + Math.min(depth, 5) },
                          depth ? el("span", { class: "tree-mark", "aria-hidden": "true" }, "└") : null,
                          el("strong", null, a.name),
                          a.builtin ? el("span", { class: "muted small" }, " built-in") : null,
                          a.is_default || a.default ? el("span", { class: "muted small" }, " default") : null);
      tb.append(el("tr", { "data-account": a.name, "data-parent": a.parent || "", "aria-level": depth + 1 },
                   nameCell, el("td", { class: "num" }, String(num(a.share || u.share))),
                   el("td", { class: "num" }, u.norm_share !== undefined ? fmtNum(100 * num(u.norm_share), 1) + "%" : "–"),
                   el("td", { class: "num" }, u.usage !== undefined ? fmtNum(num(u.usage) / 3600, 2) + " h" : "–"),
                   el("td", { class: "num" }, u.norm_usage !== undefined ? fmtNum(100 * num(u.norm_usage), 1) + "%" : "–"),
                   el("td", { class: "num" }, u.fairshare !== undefined ? fmtNum(u.fairshare, 3) : "–"),
                   el("td", { class: "num" }, u.rank !== undefined ? String(u.rank) : "–"),
                   el("td", { class: "num" }, u.gpus !== undefined ? num(u.gpus) + " GPUs, " + num(u.cpus) + " CPUs, " + num(u.running) + " attempts" : "–"),
                   el("td", null, lim.join(", ") || el("span", { class: "muted" }, "none")),
                   el("td", { class: "small" }, members.join(", "))));
    }
    clear(box).append(el("table", { class: "t", id: "accounts-table" },
      el("thead", null, el("tr", null, ["account", "share", "norm. share", "usage (core-h, decayed)", "norm. usage",
                                        "fair share", "rank", "now", "limits", "members"]
        .map((h, i) => el("th", { class: i >= 1 && i <= 7 ? "num" : null, text: h })))), tb));
    if (!order.length) box.append(el("p", { class: "muted", text: "No accounts." }));
  }

  // ------------------------------------------------------------ start
  function whoami() {
    api(V1 + "/whoami").then((w) => {
      const e = document.getElementById("whoami");
      if (e) e.textContent = w.anonymous ? "anonymous" + (w.tls ? "" : " (HTTP)") : "signed in as " + w.user;
    }).catch(() => {});
  }
  function start() {
    whoami();
    route();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
