// Datasets: upload a table, list the tenant's uploads and the built-in catalogue, and show one
// with its schema (kind, missing, distinct, range or top values per column) and a preview.

import { getJSON, remove, request } from "../api.js";
import { confirmButton, fact, h, problemBox, replace, table } from "../dom.js";
import { bytes, number, shortId, time } from "../format.js";

export function render(view, { id }) {
  if (id) return showDataset(view, id);
  return listDatasets(view);
}

function listDatasets(view) {
  document.title = "Datasets · Adamant";
  const feedback = h("div.feedback", { id: "upload-feedback" });
  const uploaded = h("div.uploaded", {}, h("p.muted", {}, "Loading…"));
  const builtin = h("div.builtin", {}, h("p.muted", {}, "Loading…"));
  const file = h("input", { id: "dataset-file", type: "file", name: "file", required: true, accept: ".csv,.tsv,.txt,.dat,.data,.parquet,.pq" });
  const name = h("input", { id: "dataset-name", type: "text", name: "name", maxlength: 200, placeholder: "defaults to the file name" });
  const button = h("button.button.primary", { type: "submit" }, "Upload");
  const form = h("form.card.upload-form", { onsubmit: async (event) => {
    event.preventDefault();
    if (!file.files.length) return;
    const body = new FormData();
    body.append("file", file.files[0]);
    if (name.value.trim()) body.append("name", name.value.trim());
    button.disabled = true;
    replace(feedback, h("p.muted", {}, `Uploading ${file.files[0].name} (${bytes(file.files[0].size)})…`));
    try {
      const dataset = await (await request("POST", "/v1/datasets", { form: body })).json();
      location.hash = `#/datasets/${encodeURIComponent(dataset.id)}`;
    } catch (error) {
      replace(feedback, problemBox(error));
    } finally {
      button.disabled = false;
    }
  } },
  h("h2", {}, "Upload"),
  h("p.muted.small", {}, "CSV (any delimiter), whitespace-separated text or Parquet. It is read once now, so a file training could not read is refused here."),
  h("div.field", {}, h("label", { for: "dataset-file" }, "File"), file),
  h("div.field", {}, h("label", { for: "dataset-name" }, "Name"), name),
  h("div.actions", {}, button),
  feedback);

  view.append(h("section.page.datasets-page", {},
    h("div.page-head", {}, h("h1", {}, "Datasets")),
    form,
    h("h2", {}, "Your datasets"), uploaded,
    h("h2", {}, "Built-in"), builtin));

  getJSON("/v1/datasets?limit=200").then((page) => replace(uploaded, table([
    ["Name", (d) => h("a", { href: `#/datasets/${encodeURIComponent(d.id)}` }, d.name)],
    ["Reference", (d) => h("code", {}, d.ref)],
    ["Format", (d) => d.format || "–"],
    ["Rows", (d) => number(d.rows, 9)],
    ["Size", (d) => bytes(d.size_bytes)],
    ["Uploaded", (d) => time(d.created_at)],
  ], page.datasets, { empty: "No uploads yet." }))).catch((error) => replace(uploaded, problemBox(error)));

  getJSON("/v1/datasets/builtin").then((entries) => replace(builtin, table([
    ["Dataset", (d) => h("a", { href: `#/datasets/${encodeURIComponent(d.ref)}` }, d.title)],
    ["Reference", (d) => h("code", {}, d.ref)],
    ["Task", (d) => (d.task || "–").replaceAll("_", " ")],
    ["Rows", (d) => number(d.rows, 9)],
    ["Licence", (d) => d.licence],
  ], entries))).catch((error) => replace(builtin, problemBox(error)));
}

function showDataset(view, id) {
  document.title = "Dataset · Adamant";
  const isBuiltin = id.startsWith("builtin:");
  const path = isBuiltin ? `/v1/datasets/builtin/${encodeURIComponent(id.slice("builtin:".length))}` : `/v1/datasets/${encodeURIComponent(id)}`;
  const body = h("div.dataset-body", {}, h("p.muted", {}, "Loading…"));
  view.append(h("section.page.dataset-page", {}, h("a.back", { href: "#/datasets" }, "← Datasets"), body));

  getJSON(path).then((dataset) => {
    document.title = `${dataset.title || dataset.name} · Adamant`;
    const schema = dataset.schema || { columns: [], preview: [] };
    const facts = isBuiltin
      ? [["Rows", number(dataset.rows ?? schema.rows, 9)], ["Task", (dataset.task || "–").replaceAll("_", " ")], ["Target", dataset.target || "–"],
        ["Licence", dataset.licence], ["Source", dataset.source]]
      : [["Rows", number(dataset.rows ?? schema.rows, 9)], ["Format", dataset.format || "–"], ["Size", bytes(dataset.size_bytes)],
        ["sha256", h("span.mono", { title: dataset.sha256 }, shortId(dataset.sha256))], ["Uploaded", time(dataset.created_at)]];
    replace(body,
      h("div.page-head", {},
        h("div.title-block", {}, h("h1", {}, dataset.title || dataset.name), h("div.muted.small", {}, h("code", {}, dataset.ref))),
        h("div.actions", {},
          h("a.button.primary", { href: `#/submit?dataset=${encodeURIComponent(dataset.ref)}` }, "Train on it"),
          isBuiltin ? null : confirmButton("Delete", "Confirm delete", async () => {
            await remove(path);
            location.hash = "#/datasets";
          }, { class: "danger" }))),
      dataset.description ? h("p", {}, dataset.description) : null,
      h("dl.facts", {}, facts.map(([label, value]) => fact(label, value))),
      h("h2", {}, `Schema (${schema.columns.length} columns)`),
      schemaTable(schema.columns),
      h("h2", {}, "Preview"),
      previewTable(schema));
  }).catch((error) => replace(body, problemBox(error)));
}

function summaryOf(column) {
  if (column.top) return column.top.map((t) => (Array.isArray(t) ? `${t[0]} (${t[1]})` : t.value !== undefined ? `${t.value} (${t.count})` : String(t))).join(", ");
  if (column.min !== undefined) return `${fmt(column.min)} … ${fmt(column.max)}${column.mean !== undefined ? `, mean ${fmt(column.mean)}` : ""}`;
  return "–";
}

function fmt(value) {
  return typeof value === "number" ? number(value) : String(value);
}

function schemaTable(columns) {
  return table([
    ["Column", (c) => h("code", {}, c.name)],
    ["Kind", (c) => c.kind],
    ["Type", (c) => c.dtype],
    ["Missing", (c) => String(c.missing)],
    ["Distinct", (c) => String(c.distinct ?? "–")],
    ["Range or top values", (c) => h("span.small", {}, summaryOf(c))],
  ], columns, { className: "schema-table" });
}

function previewTable(schema) {
  const names = schema.columns.map((c) => c.name);
  return table(names.map((name, i) => [name, (row) => (row[i] === null ? h("span.muted", {}, "null") : String(row[i]))]),
    schema.preview || [], { className: "preview-table", empty: "No rows." });
}
