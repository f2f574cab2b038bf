/* The job's timeline: a Gantt of attempts, a row per node or GPU. */
import { clear, el, fmtDur, fmtTime, num, sv } from "./common.js";

// Gantt of attempts: a row per node, or per GPU on nodes with GPUs.
export function renderTimeline(box, note, d, openTask) {
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
