/* The accounts page (/accounts): the account tree with shares and usage. */
import { V1, clear, drawn, el, fmtDur, fmtNum, fmtTime, num, pollFetch } from "./common.js";

export async function pageAccounts(main, m, ctx) {
  document.title = "Accounts · Cairn";
  const errBox = el("div");
  const box = el("div", { id: "accounts" });
  const info = el("p", { class: "muted small" });
  main.append(el("h1", { text: "Accounts" }), errBox, box, info);
  ctx.every(5000, async () => {
    const d = await pollFetch(ctx, V1 + "/accounts", errBox);
    if (!d) return;
    renderAccounts(box, d);
    const bits = [];
    if (d.gpu_weight) bits.push("a GPU-second counts as " + d.gpu_weight + " core-seconds");
    if (d.half_life_ms) bits.push("usage half-life " + fmtDur(d.half_life_ms));
    if (d.time_ms) bits.push("as of " + fmtTime(d.time_ms));
    info.textContent = bits.join(" · ");
    drawn();
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
