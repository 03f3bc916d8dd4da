// The parts of a model page, each drawn from one API answer: aliases, versions, monitoring runs,
// schedules, the policy and the alias history. Each returns fresh nodes; models.js decides when,
// and hands in the actions (move an alias, pause a schedule, approve a run).

import { confirmButton, fact, h, statusBadge, table } from "../dom.js";
import { mainMetric, number, shortId, time } from "../format.js";

// Monitoring runs not in one of these states still move (service/model_monitor.py).
export const FINAL_RUN_STATES = new Set(["stable", "promoted", "candidate", "awaiting_approval", "failed"]);

const VERDICT_CLASS = { stable: "verdict-stable", monitor: "verdict-monitor", "retrain recommended": "verdict-retrain" };

const jobLink = (id, label) => h("a.mono", { href: `#/jobs/${encodeURIComponent(id)}`, title: id }, label || shortId(id));

export function aliasBadge(alias, version) {
  return h("span.badge.alias", { dataset: { alias } }, version === undefined ? alias : `${alias} → v${version}`);
}

/** "production → v2" badges, or a dash. */
export function aliasBadges(aliases = {}) {
  const entries = Object.entries(aliases).sort(([a], [b]) => a.localeCompare(b));
  return entries.length ? h("span.alias-badges", {}, entries.map(([alias, version]) => aliasBadge(alias, version))) : "–";
}

export function verdictBadge(verdict) {
  if (!verdict) return "–";
  return h("span.badge", { class: VERDICT_CLASS[verdict] || "", dataset: { verdict } }, verdict);
}

/** The headline validation metric of a version, as the task judges it: [name, value] or null. */
export function versionMetric(model, version) {
  return mainMetric({ task: model.task, spec: version.spec, best_metrics: version.metrics });
}

export function modelsTable(models) {
  return table([
    ["Model", (m) => h("a.model-link", { href: `#/models/${encodeURIComponent(m.name)}` }, m.name)],
    ["Task", (m) => m.task.replaceAll("_", " ")],
    ["Aliases", (m) => aliasBadges(m.aliases)],
    ["Latest", (m) => (m.latest_version ? `v${m.latest_version}` : "–")],
    ["Description", (m) => m.description || ""],
    ["Created", (m) => time(m.created_at)],
  ], models, { className: "models-table", cards: true, rowProps: (m) => ({ dataset: { model: m.name } }),
    empty: "No models yet: POST /v1/models, then register a succeeded job as a version (see /docs)." });
}

/**
 * Every version, newest first. `move(version)` points the policy's alias at it (a compare-and-set
 * from where the alias is now): promote to a newer version, roll back to an older one.
 */
export function versionsTable(model, alias, move) {
  const current = model.aliases?.[alias];
  const metricName = model.versions.map((v) => versionMetric(model, v)?.[0]).find(Boolean) || "metric";
  const action = (v) => {
    if (v.version === current) return "";
    const label = current === undefined ? `Make ${alias}` : v.version > current ? "Promote" : "Roll back";
    return confirmButton(label, `Confirm: ${alias} → v${v.version}`, () => move(v.version, current),
      { class: "small move-alias", dataset: { version: v.version } });
  };
  return table([
    ["Version", (v) => h("strong", {}, `v${v.version}`)],
    ["Aliases", (v) => (v.aliases.length ? h("span.alias-badges", {}, v.aliases.map((a) => aliasBadge(a))) : "")],
    ["Job", (v) => jobLink(v.job_id)],
    ["Step", (v) => String(v.checkpoint_step)],
    [metricName, (v) => {
      const metric = versionMetric(model, v);
      if (!metric) return "–";
      return metric[0] === metricName ? h("strong", {}, number(metric[1])) : `${metric[0]} ${number(metric[1])}`;
    }],
    ["Dataset", (v) => datasetRef(v.dataset_ref)],
    ["Created", (v) => time(v.created_at)],
    ["Description", (v) => v.description || ""],
    ["", action],
  ], [...model.versions].reverse(), { className: "versions-table", cards: true, empty: "No versions registered yet.",
    rowProps: (v) => ({ dataset: { version: v.version, aliases: v.aliases.join(" ") } }) });
}

function driftLines(drift) {
  if (!drift) return ["–"];
  const lines = [];
  if (drift.max_feature) lines.push(h("div.nowrap", {}, `${drift.max_feature} PSI ${number(drift.max_feature_psi, 3)}`));
  if (typeof drift.score_psi === "number") lines.push(h("div.nowrap", {}, `score PSI ${number(drift.score_psi, 3)}`));
  return lines.length ? lines : ["–"];
}

/** A dataset reference, a file's by its name (the whole reference on hover). */
function datasetRef(ref) {
  if (!ref) return "–";
  const short = ref.startsWith("file:") ? ref.split("/").pop() : ref;
  return h("code", { title: ref }, short);
}

function evaluationText(evaluation) {
  if (!evaluation?.labelled_rows) return null;
  const name = ["auc", "accuracy", "rmse", "mae"].find((n) => typeof evaluation[n] === "number");
  return name ? `${name} ${number(evaluation[name])} on ${number(evaluation.labelled_rows, 9)} labelled rows` : null;
}

function comparisonText(run) {
  const c = run.comparison;
  if (!c) return "–";
  return h("span", {}, `${c.metric} ${number(c.challenger)} (v${run.challenger_version}) vs ${number(c.champion)} (v${run.champion_version})`,
    h("div.small.muted", {}, `${number(c.rows, 9)} held-out rows · margin ${c.margin} · `,
      c.challenger_wins ? "challenger wins" : "champion holds"));
}

function runJobs(run) {
  const links = [];
  if (run.scoring_job_id) links.push(["scoring", run.scoring_job_id]);
  if (run.retrain_job_id) links.push(["retraining", run.retrain_job_id]);
  for (const [role, id] of Object.entries(run.comparison_jobs || {})) links.push([role, id]);
  if (!links.length) return "–";
  return h("ul.plain", {}, links.map(([role, id]) => h("li.nowrap", {}, h("span.muted.small", {}, `${role} `), jobLink(id))));
}

/** The monitoring runs, newest first; `decide(run, approve)` answers one awaiting approval. */
export function runsTable(runs, decide) {
  const compared = runs.some((r) => r.comparison);
  return table([
    ["Started", (r) => h("span", { title: r.finished_at ? `finished ${time(r.finished_at)}` : "" }, time(r.created_at))],
    ["State", (r) => h("span", {}, statusBadge(r.state),
      h("div.small.muted", {}, `${r.findings?.kind || "score"} ${r.findings?.target || ""}`.trim()))],
    ["Dataset", (r) => datasetRef(r.findings?.dataset?.ref)],
    ["Verdict", (r) => verdictBadge(r.verdict)],
    ["Drift", (r) => h("span", {}, driftLines(r.findings?.drift),
      evaluationText(r.findings?.evaluation) ? h("div.small.muted", {}, evaluationText(r.findings.evaluation)) : null)],
    ["Drifted columns", (r) => (r.findings?.drift?.drifted?.length ? r.findings.drift.drifted.join(", ") : "–")],
    ...(compared ? [["Comparison", comparisonText]] : []), // only once a run retrained
    ["Decision", (r) => h("span.small", {}, r.decision || (FINAL_RUN_STATES.has(r.state) ? "–" : "…"))],
    ["Jobs", runJobs],
    ["", (r) => (r.state === "awaiting_approval" ? h("div.actions", {},
      confirmButton("Approve", "Confirm approve", () => decide(r, true), { class: "small primary approve-run" }),
      confirmButton("Reject", "Confirm reject", () => decide(r, false), { class: "small danger reject-run" })) : "")],
  ], runs, { className: "runs-table", cards: true, empty: "No monitoring runs yet: a schedule's tick, or POST /v1/models/{name}/monitor-runs, starts one.",
    rowProps: (r) => ({ dataset: { run: r.id, state: r.state, verdict: r.verdict || "" } }) });
}

/** Schedules; `toggle(schedule)` pauses or resumes one. `withModel` adds a model column (the list page). */
export function schedulesTable(schedules, toggle, { withModel = false } = {}) {
  return table([
    ...(withModel ? [["Model", (s) => h("a", { href: `#/models/${encodeURIComponent(s.model)}` }, s.model)]] : []),
    ["Cron", (s) => h("code", {}, s.cron)],
    ["Time zone", (s) => s.timezone],
    ["Kind", (s) => s.kind],
    ["Target", (s) => s.target],
    ["Dataset", (s) => datasetRef(s.dataset?.ref)],
    ["Next run", (s) => (s.paused ? h("span.badge.status-paused", {}, "paused") : h("span.next-run", { title: s.next_run_at || "" }, time(s.next_run_at)))],
    ["Last run", (s) => time(s.last_run_at)],
    ["Runs", (s) => String(s.runs)],
    ["", (s) => h("button.button.small.toggle-schedule", { type: "button", dataset: { schedule: s.id }, onclick: (event) => {
      event.currentTarget.disabled = true;
      toggle(s);
    } }, s.paused ? "Resume" : "Pause")],
  ], schedules, { className: "schedules-table", cards: true, empty: "No schedules: POST /v1/models/{name}/schedules with a cron and a dataset.",
    rowProps: (s) => ({ dataset: { schedule: s.id, paused: String(s.paused) } }) });
}

export function policyFacts(policy) {
  const dataset = policy.retrain_dataset?.ref;
  return h("dl.facts.policy", {},
    fact("Watched alias", policy.alias),
    fact("Retrain on", policy.retrain_on),
    fact("Max metric drop", policy.max_metric_drop === null ? "–" : number(policy.max_metric_drop)),
    fact("Retrain on data", dataset ? h("code", {}, dataset) : "the scored table"),
    fact("Margin", number(policy.margin)),
    fact("Approval", policy.approval));
}

export function aliasHistory(events) {
  const version = (v) => (v === null || v === undefined ? "–" : `v${v}`);
  return table([
    ["When", (e) => time(e.at)],
    ["Alias", (e) => aliasBadge(e.alias)],
    ["Move", (e) => `${version(e.from_version)} → ${version(e.to_version)}`],
    ["Actor", (e) => h("span.mono", {}, e.actor)],
    ["Reason", (e) => h("span.small", {}, e.reason || "")],
  ], events, { className: "alias-history-table", cards: true, empty: "No alias has moved yet." });
}
