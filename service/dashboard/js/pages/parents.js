// What sweeps and comparisons share: both are parents of ordinary jobs (trials), listed the same
// way, polled the same way while they run, and cancelled the same way.

import { getJSON, postJSON, query } from "../api.js";
import { confirmButton, h, problemBox, replace, statusBadge, table } from "../dom.js";
import { number, shortId, time } from "../format.js";
import { every } from "../poller.js";

const POLL_MS = 2000;

/** The list page of one kind ("sweeps" or "comparisons"). */
export function renderList(view, { kind, title, empty }) {
  document.title = `${title} · Adamant`;
  const body = h("div", {}, h("p.muted", {}, "Loading…"));
  view.append(h("section.page", { class: `${kind}-page` }, h("div.page-head", {}, h("h1", {}, title)), body));
  const load = async () => {
    const page = await getJSON(query(`/v1/${kind}`, { limit: 100 }));
    replace(body, table([
      ["Name", (s) => h("a", { href: `#/${kind}/${encodeURIComponent(s.id)}` }, s.name || shortId(s.id))],
      ["Status", (s) => statusBadge(s.status)],
      ["Trials", (s) => `${s.trials_started} / ${s.total_trials}`],
      ["States", (s) => countsText(s.counts)],
      ["Best", (s) => (s.best_trial ? `${s.metric} ${number(s.best_trial.value)}` : "–")],
      ["Created", (s) => time(s.created_at)],
    ], page.items, { className: `${kind}-table`, empty }));
    return page.items.some((s) => s.status === "running");
  };
  let stop = () => {};
  load().then(() => { stop = every(POLL_MS * 2, load); }).catch((error) => replace(body, problemBox(error)));
  return () => stop();
}

/**
 * A detail page: polls `/v1/{kind}/{id}` every two seconds while it runs, redrawing with
 * `draw(parent, parts)`; `parts` has the header (with a cancel button while it runs).
 */
export function renderDetail(view, { kind, id, back, draw }) {
  const path = `/v1/${kind}/${encodeURIComponent(id)}`;
  const feedback = h("div.feedback");
  const body = h("div", {}, h("p.muted", {}, "Loading…"));
  view.append(h("section.page.parent-page", { dataset: { parentId: id } }, h("a.back", { href: `#/${kind}` }, back), feedback, body));
  let finished = false;
  let stop = () => {};

  const header = (parent) => h("div.page-head", {},
    h("div.title-block", {}, h("h1", {}, parent.name || shortId(parent.id)),
      h("div.muted.small", {}, h("span.mono", {}, parent.id), ` · ${parent.metric} (${parent.mode}) · started ${time(parent.created_at)}`)),
    h("div.actions", {}, statusBadge(parent.status),
      parent.status === "running" ? confirmButton("Cancel", "Confirm cancel", async () => {
        try {
          show(await postJSON(`${path}/cancel`));
        } catch (error) {
          replace(feedback, problemBox(error));
        }
      }, { class: "danger", id: "cancel-parent" }) : null));

  let headerKey = null;
  let headerEl = null;

  async function show(parent) {
    document.title = `${parent.name || parent.id} · Adamant`;
    finished = parent.status !== "running";
    // The same header node while the status holds, so a half-confirmed cancel survives polls.
    if (parent.status !== headerKey) {
      headerKey = parent.status;
      headerEl = header(parent);
    }
    await draw(parent, { header: headerEl, body });
  }

  const tick = async () => {
    if (finished) return;
    await show(await getJSON(path));
  };
  tick().then(() => { stop = every(POLL_MS, tick); }).catch((error) => replace(body, problemBox(error)));
  return () => stop();
}

export function countsText(counts = {}) {
  return Object.entries(counts).filter(([, n]) => n).map(([state, n]) => `${n} ${state}`).join(", ") || "–";
}

export function paramsText(params = {}) {
  return Object.entries(params).map(([path, value]) => `${path.split(".").pop()}=${typeof value === "number" ? number(value, 3) : JSON.stringify(value)}`).join(", ");
}

/** Every trial in the order the search made it, with its state (pruned ones say at which epoch). */
export function trialsTable(trials, metric) {
  return table([
    ["#", (t) => String(t.number)],
    ["Trial", (t) => t.label || paramsText(t.params)],
    ["State", (t) => h("span", {}, statusBadge(t.state), t.state === "pruned" && t.stopped_at_epoch != null ? h("span.small.muted", {}, ` at epoch ${t.stopped_at_epoch}`) : null)],
    [metric, (t) => number(t.value)],
    ["Job", (t) => (t.job_id ? h("a.mono", { href: `#/jobs/${encodeURIComponent(t.job_id)}` }, shortId(t.job_id)) : "–")],
  ], trials, { className: "trials-table", cards: true, empty: "No trials started yet.", rowProps: (t) => ({ dataset: { trial: t.number, state: t.state } }) });
}
