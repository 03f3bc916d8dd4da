// A new job: start from one of the three marketing presets (or a copy of an earlier job), tune
// the common fields or the whole spec, check it (a dry run: columns, steps, checkpoint size)
// and submit it. The service's 422 field errors land beside their field and their line.

import { ApiError, getJSON, newIdempotencyKey, postJSON, request } from "../api.js";
import { h, problemBox, replace } from "../dom.js";
import { bytes, number } from "../format.js";
import { getPath, setPath } from "../json_lines.js";
import { SpecEditor } from "../spec_editor.js";

const DRAFT = "adamant.draftSpec";
const OPTIMIZERS = ["adam", "adamw", "amsgrad", "sgd", "rmsprop", "adagrad", "adadelta"];

// The fields most edits touch, kept in step with the JSON both ways.
const QUICK = [
  { path: "name", label: "Name", type: "text" },
  { path: "dataset.ref", label: "Dataset", type: "dataset" },
  { path: "optimizer.name", label: "Optimizer", type: "select", options: OPTIMIZERS },
  { path: "optimizer.lr", label: "Learning rate", type: "number", step: "any" },
  { path: "training.epochs", label: "Epochs", type: "number", step: "1" },
  { path: "training.batch_size", label: "Batch size", type: "number", step: "1" },
];

export function render(view, { params }) {
  document.title = "New job · Adamant";
  let idempotencyKey = newIdempotencyKey();
  const feedback = h("div.feedback", { id: "submit-feedback" });
  const editor = new SpecEditor({ onInput: (text) => {
    sessionStorage.setItem(DRAFT, text);
    idempotencyKey = newIdempotencyKey(); // a different spec is a different job
    syncQuick();
  } });
  const presets = h("div.presets", { id: "presets" });
  const inputs = new Map();
  const quickErrors = new Map();
  const datasetOptions = h("datalist", { id: "dataset-refs" });

  const quick = h("div.quick-fields", {}, QUICK.map((field) => {
    const id = `field-${field.path.replaceAll(".", "-")}`;
    let input;
    if (field.type === "select") {
      input = h("select", { id }, h("option", { value: "" }, "(default)"), field.options.map((o) => h("option", { value: o }, o)));
    } else if (field.type === "dataset") {
      input = h("input", { id, type: "text", list: "dataset-refs", placeholder: "builtin:bank-marketing" });
    } else {
      input = h("input", { id, type: field.type === "number" ? "number" : "text", step: field.step, inputmode: field.type === "number" ? "decimal" : undefined });
    }
    input.addEventListener("change", () => fromQuick(field, input));
    inputs.set(field.path, input);
    const error = h("div.inline-error", { dataset: { errorFor: field.path }, role: "status" });
    quickErrors.set(field.path, error);
    return h("div.field", {}, h("label", { for: id }, field.label), input, error);
  }), datasetOptions);

  const checkButton = h("button.button", { type: "button", id: "check-spec", onclick: () => check() }, "Check");
  const submitButton = h("button.button.primary", { type: "button", id: "submit-spec", onclick: () => submit() }, "Submit job");
  view.append(h("section.page.submit-page", {},
    h("div.page-head", {}, h("h1", {}, "New job")),
    h("h2", {}, "Start from a marketing job"), presets,
    h("h2", {}, "Spec"),
    quick,
    editor.el,
    h("div.actions.form-actions", {}, checkButton, submitButton),
    feedback,
    h("p.muted.small", {}, "Fields and their meaning: ", h("a", { href: "/docs#/jobs/submit_job_v1_jobs_post" }, "POST /v1/jobs"), ".")));

  function fromQuick(field, input) {
    const spec = editor.parse();
    if (!spec) return;
    let value = input.value.trim();
    if (value === "") value = undefined;
    else if (field.type === "number") value = Number(value);
    setPath(spec, field.path, value);
    setText(JSON.stringify(spec, null, 2));
  }

  function syncQuick() {
    let spec;
    try {
      spec = JSON.parse(editor.text);
    } catch {
      return; // mid-edit: leave the fields as they are
    }
    for (const field of QUICK) {
      const input = inputs.get(field.path);
      if (input !== document.activeElement) input.value = getPath(spec, field.path) ?? "";
    }
  }

  function setText(text) {
    editor.text = text;
    sessionStorage.setItem(DRAFT, text);
    idempotencyKey = newIdempotencyKey();
    syncQuick();
  }

  function clearErrors() {
    editor.clear();
    quickErrors.forEach((el) => replace(el));
    replace(feedback);
  }

  function showErrors(error) {
    const fields = error.errors || [];
    editor.showFieldErrors(fields);
    quickErrors.forEach((el, path) => {
      const mine = fields.filter((e) => e.path === path || (e.path || "").startsWith(`${path}.`));
      replace(el, mine.map((e) => e.message).join("; "));
      inputs.get(path).toggleAttribute("aria-invalid", mine.length > 0);
    });
    const summary = new ApiError(error.status, { title: error.title,
      detail: `${fields.length} field${fields.length === 1 ? "" : "s"} to fix: see the marked lines of the spec.` });
    replace(feedback, problemBox(fields.length ? summary : error));
  }

  async function check() {
    clearErrors();
    const spec = editor.parse();
    if (!spec) return;
    checkButton.disabled = true;
    try {
      const report = await postJSON("/v1/jobs:validate", spec);
      replace(feedback, h("div.notice", { role: "status" },
        h("strong", {}, "The spec is valid."), " ",
        describeEstimate(report.estimate), report.dataset?.rows ? ` ${report.dataset.rows} rows.` : "",
        report.warnings?.length ? h("ul", {}, report.warnings.map((w) => h("li", {}, w))) : null));
    } catch (error) {
      showErrors(error);
    } finally {
      checkButton.disabled = false;
    }
  }

  async function submit() {
    clearErrors();
    const spec = editor.parse();
    if (!spec) return;
    submitButton.disabled = true;
    try {
      const response = await request("POST", "/v1/jobs", { json: spec, headers: { "Idempotency-Key": idempotencyKey } });
      const job = await response.json();
      sessionStorage.removeItem(DRAFT);
      location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
    } catch (error) {
      showErrors(error);
    } finally {
      submitButton.disabled = false;
    }
  }

  function showPresets(index) {
    replace(presets, index.map((preset) => h("button.preset.card", { type: "button", dataset: { preset: preset.file },
      onclick: async () => {
        clearErrors();
        setText(JSON.stringify(await getJSON(`presets/${preset.file}`), null, 2));
        for (const el of presets.children) el.toggleAttribute("aria-pressed", el.dataset.preset === preset.file);
      } }, h("strong", {}, preset.job), h("span.small", {}, preset.summary))));
  }

  async function loadDatasets() {
    const [builtin, uploaded] = await Promise.all([getJSON("/v1/datasets/builtin"), getJSON("/v1/datasets?limit=200")]);
    replace(datasetOptions,
      builtin.map((d) => h("option", { value: d.ref }, d.title)),
      uploaded.datasets.map((d) => h("option", { value: d.ref }, d.name)));
  }

  // The draft (or the first preset) is in the editor before the presets show, and never
  // replaces what the user typed meanwhile.
  (async () => {
    try {
      const index = await getJSON("presets/index.json");
      const draft = sessionStorage.getItem(DRAFT) || JSON.stringify(await getJSON(`presets/${index[0].file}`), null, 2);
      if (!editor.text) setText(draft);
      const dataset = params.get("dataset");
      if (dataset) {
        const spec = editor.parse();
        if (spec) setText(JSON.stringify(setPath(spec, "dataset.ref", dataset), null, 2));
      }
      showPresets(index);
      await loadDatasets();
    } catch (error) {
      replace(feedback, problemBox(error));
    }
  })();
}

function describeEstimate(estimate = {}) {
  const parts = [];
  if (estimate.total_steps) parts.push(`${estimate.total_steps} steps`);
  if (estimate.steps_per_epoch) parts.push(`${estimate.steps_per_epoch} per epoch`);
  if (estimate.parameters) parts.push(`${number(estimate.parameters)} parameters`);
  if (estimate.checkpoint_bytes) parts.push(`checkpoints about ${bytes(estimate.checkpoint_bytes)}`);
  return parts.length ? `${parts.join(", ")}.` : "";
}
