/* Cairn dashboard: one page, routed by location.pathname, reading the
 * read-only JSON API (docs/api.md). Plain ES modules, no build step: this
 * file routes; each page is a module of its own (README.md). */
import { V1, api, clear, el, errorBox, markReady, newPage } from "./common.js";
import { pageCluster } from "./cluster.js";
import { pageJobs } from "./jobs.js";
import { pageJob } from "./job.js";
import { pageCapacity } from "./capacity.js";
import { pageAccounts } from "./accounts.js";

const routes = [
  [/^\/$/, "cluster", pageCluster],
  [/^\/jobs\/?$/, "jobs", pageJobs],
  [/^\/jobs\/(\d+)\/?$/, "job", pageJob],
  [/^\/capacity\/?$/, "capacity", pageCapacity],
  [/^\/accounts\/?$/, "accounts", pageAccounts],
];

function route() {
  const ctx = newPage();
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
  fn(main, m, ctx).catch((e) => {
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

function whoami() {
  api(V1 + "/whoami").then((w) => {
    const e = document.getElementById("whoami");
    if (e) e.textContent = w.anonymous ? "anonymous" + (w.tls ? "" : " (HTTP)") : "signed in as " + w.user;
  }).catch(() => {});
}

// A module runs once the document is parsed, after the deferred vendor
// scripts (dagre, Chart) that index.html lists before it.
whoami();
route();
