// Sweeps over Adam's hyperparameters: the list, and one sweep with its best trial, leaderboard
// and every trial's state (running, complete, pruned by ASHA, failed, cancelled).

import { fact, h, replace, table } from "../dom.js";
import { number, shortId } from "../format.js";
import { countsText, paramsText, renderDetail, renderList, trialsTable } from "./parents.js";

export function render(view, { id }) {
  if (!id) {
    return renderList(view, { kind: "sweeps", title: "Sweeps",
      empty: "No sweeps yet: POST /v1/sweeps with a base spec and a search space (see /docs)." });
  }
  return renderDetail(view, { kind: "sweeps", id, back: "← Sweeps", draw: (sweep, { header, body }) => {
    const best = sweep.best_trial;
    replace(body,
      header,
      h("dl.facts", {},
        fact("Trials", `${sweep.trials_started} / ${sweep.total_trials}`),
        fact("States", countsText(sweep.counts)),
        fact("Method", sweep.request?.method || "–"),
        fact("Early stopping", sweep.request?.early_stopping ? `ASHA (grace ${sweep.request.early_stopping.grace_epochs}, η ${sweep.request.early_stopping.reduction_factor})` : "none")),
      sweep.error ? h("p.problem", {}, sweep.error) : null,
      h("h2", {}, "Best trial"),
      best ? h("div.card.best-trial", { id: "best-trial" },
        h("div", {}, h("strong", {}, `${sweep.metric} ${number(best.value)}`), ` · trial #${best.number}`),
        h("div.small", {}, paramsText(best.params)),
        best.job_id ? h("a", { href: `#/jobs/${encodeURIComponent(best.job_id)}` }, `job ${shortId(best.job_id)}`) : null)
        : h("p.empty", {}, "No trial has a value yet."),
      h("h2", {}, "Leaderboard"),
      table([
        ["Rank", (t) => String(t.rank + 1)],
        ["#", (t) => String(t.number)],
        ["Parameters", (t) => paramsText(t.params)],
        [sweep.metric, (t) => h("strong", {}, number(t.value))],
        ["State", (t) => t.state],
      ], (sweep.leaderboard || []).map((t, i) => Object.assign(t, { rank: i })), { className: "leaderboard-table", empty: "No values yet." }),
      h("h2", {}, "Trials"),
      trialsTable(sweep.trials || [], sweep.metric));
  } });
}
