// The parts of a job page that are drawn from the job alone: header and actions, progress,
// result, checkpoints, history and spec. Each returns fresh nodes; job.js decides when.

import { download } from "../api.js";
import { confirmButton, fact, h, problemBox, progressBar, statusBadge, table } from "../dom.js";
import { bytes, duration, mainMetric, number, shortId, time } from "../format.js";

const CANCELLABLE = new Set(["queued", "running"]);
const RESUMABLE = new Set(["cancelled", "failed"]);

export function jobHeader(job, { cancel, resume }) {
  const buttons = [];
  if (CANCELLABLE.has(job.status) && !job.cancel_requested) {
    buttons.push(confirmButton("Cancel job", "Confirm cancel", cancel, { id: "cancel-job", class: "danger" }));
  }
  if (RESUMABLE.has(job.status)) {
    buttons.push(h("button.button.primary", { type: "button", id: "resume-job", onclick: resume }, "Resume"));
  }
  return [
    h("div.page-head", {},
      h("div.title-block", {},
        h("h1", {}, job.name || "untitled job"),
        h("div.muted.small", {}, h("span.mono", { title: job.id }, job.id), " · ", job.task.replaceAll("_", " "),
          " · ", job.spec?.dataset?.ref || "")),
      h("div.actions", {}, statusBadge(job.status), buttons)),
  ];
}

const DATA_PHASES = { reading: "Reading", converting: "Rewriting the CSV as Parquet:", preparing: "Preparing" };
const TIMED_PHASES = new Set(["reading", "converting"]); // a rate and an ETA make sense while rows go by once

// "Reading 1.2M / 10M rows · 850k rows/s · ETA 11s" while the table is read or prepared; null otherwise.
export function dataPhaseLine(job) {
  const d = job.progress?.data;
  if (!d || !DATA_PHASES[d.phase] || job.status !== "running") return null;
  const rows = d.rows_total ? `${count(d.rows_read)} / ${count(d.rows_total)} rows` : `${count(d.rows_read)} rows`;
  const parts = [`${DATA_PHASES[d.phase]} ${rows}`];
  if (TIMED_PHASES.has(d.phase) && d.rows_per_s) parts.push(`${count(d.rows_per_s)} rows/s`);
  if (TIMED_PHASES.has(d.phase) && d.eta_s !== null && d.eta_s !== undefined) parts.push(`ETA ${duration(d.eta_s)}`);
  return h("p.muted", { id: "data-progress" }, parts.join(" · "));
}

// 1234 -> "1.2k", 10000000 -> "10M": row counts at a glance.
function count(value) {
  const abs = Math.abs(value);
  for (const [size, unit] of [[1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
    if (abs >= size) return `${Number((value / size).toPrecision(abs >= 100 * size ? 3 : 2))}${unit}`;
  }
  return String(Math.round(value));
}

export function progressSection(job) {
  const p = job.progress || {};
  const metric = mainMetric(job);
  const running = job.status === "running" || job.status === "cancelling";
  const took = job.started_at && job.finished_at ? (new Date(job.finished_at) - new Date(job.started_at)) / 1000 : null;
  const label = `${Math.round((p.fraction || 0) * 100)}%`;
  return [
    progressBar(p.fraction, label),
    dataPhaseLine(job),
    h("dl.facts", {},
      fact("Step", p.total_steps ? `${p.step} / ${p.total_steps}` : String(p.step ?? 0)),
      fact("Epoch", p.total_epochs ? `${number(p.epoch, 3)} / ${p.total_epochs}` : number(p.epoch, 3)),
      fact(running ? "ETA" : "Took", running ? duration(p.eta_s) : duration(took)),
      fact("Samples/s", p.samples_per_s ? number(p.samples_per_s, 3) : "–"),
      fact("Best metric", metric ? `${metric[0]} ${number(metric[1])}` : "–"),
      fact("Attempt", `${job.attempt} (max restarts ${job.max_restarts})`),
      fact("Device", job.device || job.spec?.resources?.device || "–"),
      fact("Worker", job.worker || "–"),
      fact("Phase", job.phase || "–")),
    job.cancel_requested && job.status === "running" ? h("p.muted", {}, "Cancel requested: the job stops at its next step.") : null,
    job.error ? problemBox({ title: `Failed: ${job.error.type}`, detail: job.error.message,
      errors: job.error.column || job.error.path ? [{ path: job.error.path || "dataset", message: job.error.message, column: job.error.column, row: job.error.row }] : [] }) : null,
  ];
}

export function resultSection(job) {
  const result = job.result;
  if (!result) return [];
  const best = job.best_metrics || {};
  const last = result.last_metrics || job.last_metrics || {};
  const names = [...new Set([...Object.keys(best), ...Object.keys(last)])].sort();
  const summary = result.summary || {};
  return [
    h("h2", {}, "Result"),
    h("p.muted", {}, `Stopped: ${String(result.stop_reason || "–").replaceAll("_", " ")} at step ${result.step ?? "–"}`,
      result.resumed_from_step ? ` (resumed from step ${result.resumed_from_step})` : ""),
    table([["Metric", (n) => n], ["Best", (n) => number(best[n])], ["Last", (n) => number(last[n])]], names,
      { className: "metrics-table", empty: "No evaluation metrics." }),
    summary.segments ? segmentsTable(summary) : null,
  ];
}

function segmentsTable(summary) {
  const columns = Object.keys(summary.segments[0]?.profile || {});
  const profileCell = (value) => (value?.mean !== undefined ? number(value.mean, 3) : value?.top ?? "–");
  return [
    h("h3", {}, "Segments", summary.metrics?.val_silhouette !== undefined ? ` (silhouette ${number(summary.metrics.val_silhouette, 3)})` : ""),
    table([
      ["Segment", (s) => String(s.segment)],
      ["Size", (s) => String(s.size)],
      ["Share", (s) => `${(s.share * 100).toFixed(1)}%`],
      ...columns.map((c) => [c, (s) => profileCell(s.profile[c])]),
    ], summary.segments, { className: "segments-table" }),
  ];
}

export function checkpointsSection(job, checkpoints, onError) {
  const monitor = (job.spec?.training?.monitor) || (mainMetric(job) || [])[0];
  const save = async (button, checkpoint) => {
    button.disabled = true;
    try {
      await download(checkpoint.download, `${job.id}-step-${checkpoint.step}.tar`);
    } catch (error) {
      onError(error);
    } finally {
      button.disabled = false;
    }
  };
  const downloadButton = (c) => {
    const button = h("button.button.small", { type: "button", class: "download", dataset: { checkpoint: c.id },
      onclick: () => save(button, c) }, "Download");
    return button;
  };
  return table([
    ["Step", (c) => String(c.step)],
    ["Epoch", (c) => number(c.epoch, 3)],
    ["", (c) => (c.is_best ? h("span.badge.best", {}, "best") : "")],
    [monitor || "Metric", (c) => number(monitor ? c.metrics[monitor] : undefined)],
    ["Size", (c) => bytes(c.size_bytes)],
    ["sha256", (c) => h("span.mono", { title: c.sha256 }, shortId(c.sha256))],
    ["Saved", (c) => time(c.created_at)],
    ["", downloadButton],
  ], [...checkpoints].sort((a, b) => b.step - a.step), { className: "checkpoints-table", cards: true, empty: "No checkpoints yet: the first is saved after an evaluation." });
}

export function historyList(history) {
  if (!history.length) return h("p.empty", {}, "No state changes yet.");
  return h("ol.history", {}, history.map((event) => h("li", {},
    statusBadge(event.to_status), " ", h("span.muted.small", {}, time(event.at)),
    event.reason ? h("span.small", {}, ` ${event.reason}`) : null,
    event.attempt ? h("span.muted.small", {}, ` (attempt ${event.attempt})`) : null)));
}

export function specSection(job) {
  const text = JSON.stringify(job.spec, null, 2);
  return h("details.spec", {},
    h("summary", {}, "Spec"),
    h("pre.code", {}, text),
    h("a.button.small", { href: "#/submit", onclick: () => sessionStorage.setItem("adamant.draftSpec", text) }, "Edit as a new job"));
}
