// One job, live: status, progress and ETA, charts fed by incremental metric polls, checkpoints,
// history, logs, cancel and resume.
//
// Polling: every second while the job is unfinished, the status is asked for with If-None-Match
// (unchanged: a bodiless 304) and the metrics with ?after=<cursor> (only new points). The first
// load reads the whole history downsampled (?max_points=500) and continues from there.

import { FINISHED, getJSON, pollJob, postJSON } from "../api.js";
import { ChartBoard } from "../charts.js";
import { h, problemBox, replace } from "../dom.js";
import { MetricSeries } from "../metric_series.js";
import { every } from "../poller.js";
import { checkpointsSection, jobHeader, historyList, progressSection, resultSection, specSection } from "./job_sections.js";
import { predictBox } from "./predict_box.js";

const POLL_MS = 1000;
const IDLE_POLL_MS = 10_000; // a finished job changes only if someone resumes it
const HISTORY_POINTS = 500;
// The downsampled history carries no cursor, so the incremental polls start this many points
// before its newest seq: points written while the history was read are not lost (duplicates
// are harmless, the store keeps one value per (name, step)).
const HISTORY_OVERLAP = 500;
const PAGE_LIMIT = 5000;
const LOG_LINES_KEPT = 1000;

export function render(view, { id }) {
  document.title = "Job · Adamant";
  const base = `/v1/jobs/${encodeURIComponent(id)}`;
  const store = new MetricSeries();
  let job = null;
  let cursor = 0;
  let logCursor = 0;
  let historyAttempt = null;
  let ticks = 0;
  let settled = false; // the finished job's last metrics, logs and checkpoints are in
  let checkpointIds = null;
  let left = false;

  const feedback = h("div.feedback");
  const header = h("div.job-header");
  const progress = h("div.job-progress");
  const result = h("div.job-result");
  const charts = h("div.charts", { id: "charts" });
  const checkpoints = h("div.job-checkpoints");
  const history = h("div.job-history");
  const logs = h("pre.logs", { id: "logs", tabindex: "0", "aria-label": "Logs" });
  const predict = h("div.job-predict");
  const spec = h("div.job-spec");

  view.append(h("section.page.job-page", { dataset: { jobId: id } },
    h("a.back", { href: "#/jobs" }, "← Jobs"),
    header, feedback, progress,
    h("h2", {}, "Charts"), charts,
    result,
    h("h2", {}, "Checkpoints"), checkpoints,
    h("div.two-columns", {},
      h("div", {}, h("h2", {}, "History"), history),
      h("div", {}, h("h2", {}, "Logs"), logs)),
    predict, spec));
  const board = new ChartBoard(charts, store);

  const actions = {
    cancel: () => act("cancel"),
    resume: () => act("resume"),
  };

  async function act(verb) {
    try {
      show(await postJSON(`${base}/${verb}`));
      settled = false;
      replace(feedback);
    } catch (error) {
      replace(feedback, problemBox(error, { onClose: () => replace(feedback) }));
    }
  }

  let headerKey = null;

  function show(next) {
    const first = job === null;
    job = next;
    document.title = `${job.name || job.id} · Adamant`;
    // Redraw the header (and its buttons) only when they change: a half-confirmed cancel
    // button must survive the progress updates that arrive every second.
    const key = `${job.status}|${job.cancel_requested}|${job.name}`;
    if (key !== headerKey) {
      headerKey = key;
      replace(header, jobHeader(job, actions));
    }
    replace(progress, progressSection(job));
    replace(history, historyList(job.history || []));
    replace(result, resultSection(job));
    if (first) {
      replace(spec, specSection(job));
      replace(predict, predictBox(job));
    }
  }

  async function loadHistory() {
    const page = await getJSON(`${base}/metrics?max_points=${HISTORY_POINTS}`);
    const points = Object.values(page.series).flat();
    store.add(points);
    const running = !FINISHED.has(page.job_status);
    cursor = Math.max(0, store.maxSeq - (running ? HISTORY_OVERLAP : 0));
    historyAttempt = job.attempt;
    board.update();
  }

  async function pollMetrics() {
    for (;;) {
      const page = await getJSON(`${base}/metrics?after=${cursor}&limit=${PAGE_LIMIT}`);
      store.add(page.points);
      cursor = page.next_cursor;
      if (page.points.length < PAGE_LIMIT) break;
    }
    board.update();
  }

  async function pollLogs() {
    const page = await getJSON(`${base}/logs?after=${logCursor}`);
    logCursor = page.next_cursor;
    if (!page.lines.length) return;
    const atBottom = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
    logs.append(page.lines.map((line) => `${new Date((line.time || 0) * 1000).toLocaleTimeString()}  ${line.level.padEnd(7)} ${line.message}\n`).join(""));
    const text = logs.textContent.split("\n");
    if (text.length > LOG_LINES_KEPT + 1) logs.textContent = text.slice(-LOG_LINES_KEPT - 1).join("\n");
    if (atBottom) logs.scrollTop = logs.scrollHeight;
  }

  async function refreshCheckpoints() {
    const page = await getJSON(`${base}/checkpoints`);
    const ids = page.checkpoints.map((c) => `${c.id}:${c.is_best}`).join();
    if (ids === checkpointIds) return;
    checkpointIds = ids;
    replace(checkpoints, checkpointsSection(job, page.checkpoints, (error) => replace(feedback, problemBox(error, { onClose: () => replace(feedback) }))));
  }

  async function tick() {
    const { job: next, changed } = await pollJob(id);
    if (changed) show(next);
    ticks += 1;
    if (job.attempt !== historyAttempt && store.size()) {
      // Another attempt (a resume, a requeue) rewrites the steps past its checkpoint: reread.
      store.byName.clear();
      store.version += 1;
      await loadHistory();
    }
    const finished = FINISHED.has(job.status);
    if (finished && settled) return;
    if (job.status !== "queued") await pollMetrics();
    if (finished || ticks % 2 === 0) await pollLogs();
    if (finished || changed && ticks % 5 === 0) await refreshCheckpoints();
    settled = finished;
  }

  let stop = () => {};
  (async () => {
    try {
      const first = await pollJob(id);
      show(first.job);
      await Promise.all([loadHistory(), pollLogs(), refreshCheckpoints()]);
      await tick();
      if (!left) stop = every(() => (settled ? IDLE_POLL_MS : POLL_MS), tick);
    } catch (error) {
      replace(feedback, problemBox(error));
    }
  })();
  return () => {
    left = true;
    stop();
    board.destroy();
  };
}
