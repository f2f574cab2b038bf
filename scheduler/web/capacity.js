/* The capacity page (/capacity?window=1h|7d or ?from_ms=&to_ms=): the
 * report's charts (vendor/chart.js, a global loaded before the app) and
 * tables. */
import { V1, clear, drawn, el, fmtDur, fmtNum, fmtTime, num, pollFetch, setQuery,
         shortModel } from "./common.js";

const WINDOWS = [["1h", 3600e3, "last 1 h"], ["24h", 86400e3, "last 24 h"], ["7d", 7 * 86400e3, "last 7 d"]];

export async function pageCapacity(main, m, ctx) {
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
      const r = await pollFetch(ctx, V1 + "/report?from_ms=" + Math.round(f) + "&to_ms=" + Math.round(t), errBox);
      if (!r) return;
      info.textContent = "From " + fmtTime(r.from_ms || f) + " to " + fmtTime(r.to_ms || t) + ".";
      drawCapacity(r, charts, c1, c2, c3, extra);
      drawn();
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
