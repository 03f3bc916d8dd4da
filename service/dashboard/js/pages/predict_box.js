// Score a few rows with a finished job's best checkpoint: JSON rows in, predictions out.

import { postJSON } from "../api.js";
import { h, problemBox, replace } from "../dom.js";

const EXAMPLE = {
  recommendation: (spec) => [{ [spec.dataset?.user_column || "user_id"]: 1 }],
};

export function predictBox(job) {
  const example = EXAMPLE[job.task]?.(job.spec) || [{}];
  const input = h("textarea.code", { rows: 5, spellcheck: "false", "aria-label": "Rows to score (JSON list)" }, JSON.stringify(example, null, 1));
  const output = h("div.predict-output");
  const run = async () => {
    replace(output);
    let rows;
    try {
      rows = JSON.parse(input.value);
    } catch (error) {
      replace(output, problemBox({ title: "Not JSON", detail: String(error.message) }));
      return;
    }
    try {
      const reply = await postJSON(`/v1/jobs/${encodeURIComponent(job.id)}/predict`, { rows: Array.isArray(rows) ? rows : [rows] });
      replace(output, h("p.muted.small", {}, `checkpoint step ${reply.checkpoint_step}`),
        h("pre.code", {}, JSON.stringify(reply.predictions, null, 1)));
    } catch (error) {
      replace(output, problemBox(error));
    }
  };
  return h("details.predict", {},
    h("summary", {}, "Score rows"),
    h("p.muted.small", {}, "A JSON list of rows with the training columns; the best checkpoint scores them with the job's saved preprocessing."),
    input,
    h("button.button", { type: "button", onclick: run }, "Score"),
    output);
}
