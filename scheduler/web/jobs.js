/* The jobs page (/jobs?state=&user=&account=): a filtered table. */
import { V1, badge, bar, clear, drawn, el, fmtAge, fmtTime, jobLink, num, pollFetch,
         setQuery } from "./common.js";

export async function pageJobs(main, m, ctx) {
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
    poll = ctx.every(2000, async () => {
      const p = new URLSearchParams();
      if (stateSel.value) p.set("state", stateSel.value);
      if (userIn.value.trim()) p.set("user", userIn.value.trim());
      if (acctIn.value.trim()) p.set("account", acctIn.value.trim());
      p.set("limit", "200");
      const d = await pollFetch(ctx, V1 + "/jobs?" + p.toString(), errBox);
      if (!d) return;
      renderJobs(tbody, d.jobs || []);
      foot.textContent = (d.jobs || []).length + " jobs" + (d.truncated ? " (more matched: narrow the filter)" : "");
      drawn();
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
