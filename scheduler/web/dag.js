/* The job's task graph: an SVG laid out by dagre (vendor/dagre, a global
 * loaded before the app), or a list when it has more than 300 nodes. */
import { TASK_STATES, badge, clear, el, num, sv } from "./common.js";

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

export function renderGraph(wrap, tools, g, st, openTask, toggleGroup) {
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
