/* The job page (/jobs/ID?expand=G&task=T): the header, the task graph
 * (dag.js), the timeline (timeline.js) and a task's panel (task.js). */
import { ENDED_JOB, V1, api, bar, clear, el, errorBox, fmtAge, fmtDur, fmtTime, markReady, markUpdated, num,
         setQuery } from "./common.js";
import { renderGraph } from "./dag.js";
import { renderTimeline } from "./timeline.js";
import { taskPanel } from "./task.js";

export async function pageJob(main, m, ctx) {
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
