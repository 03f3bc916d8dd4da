// The tenant's jobs: a table paged by cursor ("Load more"), kept fresh by polling with
// If-None-Match, so an unchanged poll costs a bodiless 304: the first page (new jobs, and every
// change to the jobs on it) every two seconds, and each visible unfinished job that only a
// "Load more" page holds.

import { FINISHED, conditionalGet, getJSON, pollJob, query } from "../api.js";
import { h, problemBox, progressBar, replace, statusBadge } from "../dom.js";
import { duration, mainMetric, number, shortId, time } from "../format.js";
import { every } from "../poller.js";

const PAGE_SIZE = 25;
const ROW_POLL_MS = 2000;
const LIST_POLL_MS = 2000;
const STATUSES = ["", "queued", "running", "cancelling", "succeeded", "failed", "cancelled"];

export function render(view) {
  document.title = "Jobs · Adamant";
  const jobs = new Map(); // id -> job, in table order
  const onFirstPage = new Set(); // ids the first-page poll keeps fresh
  const rows = new Map(); // id -> <tr>
  const visible = new Set();
  let cursor = null;
  let status = sessionStorage.getItem("adamant.jobsFilter") || "";

  const tbody = h("tbody");
  const tableEl = h("table.jobs-table", {},
    h("thead", {}, h("tr", {}, ["Job", "Task", "Status", "Progress", "ETA", "Best metric", "Attempt", "Created"].map((t) => h("th", { scope: "col" }, t)))),
    tbody);
  const tableWrap = h("div.table-wrap.collapse-on-phone", {}, tableEl);
  const empty = h("div.empty-state", { hidden: true },
    h("p", {}, "No jobs yet."), h("a.button.primary", { href: "#/submit" }, "Start from a preset"));
  const more = h("button.button", { type: "button", hidden: true, onclick: () => loadMore() }, "Load more");
  const feedback = h("div.feedback");
  const filter = h("select", { id: "status-filter", "aria-label": "Filter by status", onchange: () => {
    status = filter.value;
    sessionStorage.setItem("adamant.jobsFilter", status);
    reload();
  } }, STATUSES.map((s) => h("option", { value: s, selected: s === status }, s || "all statuses")));

  view.append(h("section.page", {},
    h("div.page-head", {}, h("h1", {}, "Jobs"),
      h("div.actions", {}, filter, h("a.button.primary", { href: "#/submit" }, "New job"))),
    feedback, tableWrap, empty, h("div.more", {}, more)));

  const seen = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      const id = entry.target.dataset.jobId;
      if (entry.isIntersecting) visible.add(id);
      else visible.delete(id);
    }
  });

  // One cell, its content in one box: on a phone the row is a card of label | content lines.
  const cell = (label, ...content) => h("td", { "data-label": label }, h("div.cell", {}, content));

  function rowFor(job) {
    const metric = mainMetric(job);
    const p = job.progress || {};
    const running = !FINISHED.has(job.status);
    const took = job.started_at && job.finished_at ? (new Date(job.finished_at) - new Date(job.started_at)) / 1000 : null;
    const stepText = p.total_steps ? `step ${p.step} / ${p.total_steps}` : "";
    return h("tr", { dataset: { jobId: job.id, status: job.status } },
      cell("Job", h("a.job-link", { href: `#/jobs/${encodeURIComponent(job.id)}` }, job.name || "untitled job"),
        h("div.mono.small.muted", { title: job.id }, shortId(job.id))),
      cell("Task", job.task.replaceAll("_", " ")),
      cell("Status", statusBadge(job.status), job.cancel_requested && job.status === "running" ? h("span.small.muted", {}, " cancel requested") : null),
      cell("Progress", progressBar(p.fraction, `${Math.round((p.fraction || 0) * 100)}%`), h("div.small.muted", {}, stepText)),
      cell("ETA", running ? (p.eta_s != null && job.status === "running" ? duration(p.eta_s) : "–") : took != null ? `took ${duration(took)}` : "–"),
      cell("Best metric", metric ? h("span", {}, h("span.muted", {}, `${metric[0]} `), h("strong", {}, number(metric[1]))) : "–"),
      cell("Attempt", String(job.attempt)),
      cell("Created", time(job.created_at)));
  }

  function put(job, { atTop = false } = {}) {
    const row = rowFor(job);
    const old = rows.get(job.id);
    if (old) {
      seen.unobserve(old);
      old.replaceWith(row);
    } else if (atTop) {
      tbody.prepend(row);
    } else {
      tbody.append(row);
    }
    rows.set(job.id, row);
    jobs.set(job.id, job);
    seen.observe(row);
  }

  function showEmpty() {
    empty.hidden = jobs.size > 0;
    tableWrap.hidden = jobs.size === 0;
  }

  async function loadMore() {
    more.disabled = true;
    try {
      const page = await getJSON(query("/v1/jobs", { limit: PAGE_SIZE, cursor, status }));
      page.jobs.forEach((job) => put(job));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      replace(feedback);
    } catch (error) {
      replace(feedback, problemBox(error));
    } finally {
      more.disabled = false;
      showEmpty();
    }
  }

  function reload() {
    for (const row of rows.values()) seen.unobserve(row);
    jobs.clear();
    rows.clear();
    visible.clear();
    tbody.replaceChildren();
    cursor = null;
    return loadMore();
  }

  // New jobs appear at the top; jobs whose state changed elsewhere are redrawn.
  async function refreshList() {
    // A 304 hands back the page this tab last saw, so the loop below finds nothing to redraw.
    const { body: page } = await conditionalGet(query("/v1/jobs", { limit: PAGE_SIZE, status }));
    onFirstPage.clear();
    page.jobs.forEach((job) => onFirstPage.add(job.id));
    for (const job of [...page.jobs].reverse()) {
      const known = jobs.get(job.id);
      if (!known) put(job, { atTop: true });
      else if (known.updated_at !== job.updated_at) put(job);
    }
    showEmpty();
  }

  async function pollRows() {
    const due = [...visible].filter((id) => jobs.has(id) && !onFirstPage.has(id) && !FINISHED.has(jobs.get(id).status));
    await Promise.all(due.map(async (id) => {
      const { job, changed } = await pollJob(id);
      if (changed) put(job);
    }));
  }

  reload().then(refreshList).catch((error) => console.warn("poll failed", error));
  const stops = [every(ROW_POLL_MS, pollRows), every(LIST_POLL_MS, refreshList)];
  return () => {
    stops.forEach((stop) => stop());
    seen.disconnect();
  };
}
