/* A task's side panel on the job page: attempts, explain, provenance and
 * logs (followed while the task runs). */
import { V1, api, badge, clear, el, errorBox, fmtBytes, fmtDur, fmtTime, num, shortModel } from "./common.js";

// The side panel of one task: attempts, explain, provenance, logs.
export function taskPanel(layout, id, name, ctx, onClose) {
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
