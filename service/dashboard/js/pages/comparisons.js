// Optimizer comparisons: the list, and one comparison with its table (final and best metric per
// optimizer over its seeds, time and epochs to the target) and the runs' curves overlaid.

import { getJSON } from "../api.js";
import { fact, h, replace, table } from "../dom.js";
import { duration, number } from "../format.js";
import { OverlayChart } from "../overlay_chart.js";
import { countsText, renderDetail, renderList, trialsTable } from "./parents.js";

export function render(view, { id }) {
  if (!id) {
    return renderList(view, { kind: "comparisons", title: "Comparisons",
      empty: "No comparisons yet: POST /v1/comparisons with a base spec and the optimizers to compare (see /docs)." });
  }
  const chartBox = h("div.overlay", { id: "comparison-curves" });
  const chart = new OverlayChart(chartBox);
  let curvesDone = false;
  const stop = renderDetail(view, { kind: "comparisons", id, back: "← Comparisons", draw: async (comparison, { header, body }) => {
    if (!body.contains(chartBox)) {
      replace(body, header, h("div.comparison-facts"), h("h2", {}, "By optimizer"), h("div.comparison-table"),
        h("h2", {}, `Curves: ${comparison.metric}`), chartBox, h("h2", {}, "Runs"), h("div.comparison-trials"));
    } else {
      body.firstChild.replaceWith(header);
    }
    replace(body.querySelector(".comparison-facts"), h("dl.facts", {},
      fact("Runs", `${comparison.trials_started} / ${comparison.total_trials}`),
      fact("States", countsText(comparison.counts)),
      fact("Seeds", (comparison.request?.seeds || []).join(", ")),
      fact("Target", comparison.request?.target ? `${comparison.request.target.metric} ${comparison.request.target.value}` : "none")));
    replace(body.querySelector(".comparison-table"), optimizerTable(comparison));
    replace(body.querySelector(".comparison-trials"), trialsTable(comparison.trials || [], comparison.metric));
    if (!curvesDone) {
      const curves = await getJSON(comparison.links.curves);
      chart.draw(curves.metric, curves.curves);
      curvesDone = comparison.status !== "running";
    }
  } });
  return () => {
    stop();
    chart.destroy();
  };
}

function stat(cell, format = number) {
  if (!cell || cell.mean === null || cell.mean === undefined) return "–";
  return cell.std ? `${format(cell.mean)} ± ${format(cell.std)}` : format(cell.mean);
}

function optimizerTable(comparison) {
  const metric = comparison.metric;
  const rows = comparison.table || [];
  const withTarget = rows.some((r) => "reached_target" in r);
  return table([
    ["Optimizer", (r) => h("strong", {}, r.optimizer)],
    ["Finished", (r) => `${r.finished} / ${r.runs}`],
    [`Final ${metric}`, (r) => stat(r[`final_${metric}`])],
    [`Best ${metric}`, (r) => stat(r[`best_${metric}`])],
    ["Train time", (r) => stat(r.train_seconds, duration)],
    ...(withTarget ? [
      ["Reached target", (r) => `${r.reached_target} / ${r.finished}`],
      ["Time to target", (r) => stat(r.seconds_to_target, duration)],
      ["Epochs to target", (r) => stat(r.epochs_to_target)],
    ] : []),
  ], rows, { className: "comparison-table", empty: "No runs yet.", rowProps: (r) => ({ dataset: { optimizer: r.optimizer } }) });
}
