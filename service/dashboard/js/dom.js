// Building DOM nodes without a framework: h() for elements, and the few shared pieces every page
// draws (status badges, progress bars, problem boxes, tables).

/**
 * h("a.button", {href: "#/jobs", onclick}, "text", child) — props: class, text, dataset, style,
 * on* listeners, anything else as an attribute (false/null/undefined skip it).
 */
export function h(tag, props = {}, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name || "div");
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = [el.className, value].filter(Boolean).join(" ");
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") Object.assign(el.style, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "value" || key === "checked" || key === "disabled") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function statusBadge(status) {
  return h("span.badge", { class: `status-${status}`, dataset: { status } }, status);
}

/** One label and value of a <dl class="facts">. */
export function fact(label, value) {
  return h("div.fact", {}, h("dt", {}, label), h("dd", {}, value ?? "–"));
}

export function progressBar(fraction, label) {
  const percent = Math.max(0, Math.min(1, fraction || 0)) * 100;
  return h("div.progress", { role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": percent.toFixed(0), title: label },
    h("div.progress-fill", { style: { width: `${percent}%` } }),
    h("span.progress-label", {}, label ?? `${percent.toFixed(0)}%`));
}

/** An ApiError (or any error) as a box a person can read: title, detail, each field error. */
export function problemBox(error, { onClose } = {}) {
  const fields = error.errors || [];
  return h("div.problem", { role: "alert" },
    h("div.problem-title", {}, error.status ? `${error.title} (${error.status})` : error.title || "Error"),
    error.detail && !fields.length ? h("div.problem-detail", {}, error.detail) : null,
    fields.length ? h("ul.problem-errors", {}, fields.map((e) =>
      h("li", {}, h("code.path", {}, e.path || "(request)"), " ", e.message,
        e.column ? ` (column ${e.column}${e.row != null ? `, row ${e.row}` : ""})` : ""))) : null,
    onClose ? h("button.button.quiet.small", { type: "button", onclick: onClose }, "Dismiss") : null);
}

/**
 * A table inside a horizontally scrolling wrapper; `columns` are [header, cell(row)] pairs.
 * `cards: true` turns its rows into cards on a phone (each cell labelled by its header).
 */
export function table(columns, rows, { className = "", empty = "Nothing here yet.", rowProps, cards = false } = {}) {
  if (!rows.length) return h("p.empty", {}, empty);
  return h("div.table-wrap", { class: cards ? "collapse-on-phone" : null },
    h("table", { class: className },
      h("thead", {}, h("tr", {}, columns.map(([header]) => h("th", { scope: "col" }, header)))),
      h("tbody", {}, rows.map((row) => h("tr", rowProps ? rowProps(row) : {},
        columns.map(([header, cell]) => h("td", { "data-label": header }, h("div.cell", {}, cell(row)))))))));
}

/** A button that asks once more before acting (no native dialogs: they block and are tiny on phones). */
export function confirmButton(label, confirmLabel, action, props = {}) {
  let armed = false;
  let timer;
  const button = h("button.button", { type: "button", ...props, onclick: async () => {
    if (!armed) {
      armed = true;
      button.textContent = confirmLabel;
      button.classList.add("armed");
      timer = setTimeout(() => { armed = false; button.textContent = label; button.classList.remove("armed"); }, 4000);
      return;
    }
    clearTimeout(timer);
    button.disabled = true;
    try {
      await action();
    } finally {
      button.disabled = false;
      armed = false;
      button.textContent = label;
      button.classList.remove("armed");
    }
  } }, label);
  return button;
}
