/* The cluster page (/): nodes with their GPUs, a summary, the queue. */
import { V1, api, badge, bar, clear, el, errorBox, fmtAge, fmtBytes, fmtDur, fmtNum, jobLink, labelsOf, markReady,
         markUpdated, num, shortModel } from "./common.js";

export async function pageCluster(main, m, ctx) {
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

// The GPU's utilisation as of the worker's latest report (NodeGpu's
// utilization_percent, memory_used_bytes), or null when it reported none
// (no NVML): then the tile says nothing about it, not "0%".
function gpuUtil(gpu) {
  if (gpu.utilization_reported !== true) return null;
  return { percent: Math.max(0, Math.min(100, num(gpu.utilization_percent))), memUsed: num(gpu.memory_used_bytes),
           memTotal: num(gpu.memory_bytes) };
}

function gpuTile(gpu) {
  const job = num(gpu.job_id);
  const task = gpu.task_name !== undefined ? gpu.task_name : gpu.task;
  const held = job > 0 || gpu.used;
  const attrs = {
    class: "gpu" + (held ? " used" : "") + (gpu.unhealthy ? " sick" : ""), "data-gpu-index": num(gpu.index),
    "data-gpu-model": gpu.model || "", title: [gpu.model, gpu.uuid].filter(Boolean).join("\n"),
  };
  if (job > 0) attrs["data-job"] = String(gpu.job_id);
  if (gpu.unhealthy) attrs["data-gpu-health"] = "unhealthy";
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
  if (gpu.unhealthy)
    t.append(el("div", { class: "gsick", title: "takes no new work until 'cairn gpu enable'" },
                "✖ unhealthy: " + (gpu.unhealthy_reason || "error")));
  if (held && gpu.user) t.append(el("div", { class: "gu", title: "job submitted by " + gpu.user }, "by " + gpu.user));
  const u = gpuUtil(gpu);
  if (u) {
    const pct = fmtNum(u.percent, 0) + "%";
    const mem = fmtBytes(u.memUsed) + (u.memTotal ? " / " + fmtBytes(u.memTotal) : "");
    const b = bar(u.percent / 100, pct, "util");
    b.setAttribute("aria-label", "utilisation " + pct);
    t.append(el("div", { class: "gutil", title: "utilisation " + pct + ", memory " + mem + " used" },
                b, el("div", { class: "gmem" }, mem + " used")));
  }
  return t;
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
