// A JSON editor for a job spec: a textarea with a line-number gutter in which the lines that
// hold a field error are marked, and the errors listed right under it, each one a link to its line.

import { h, replace } from "./dom.js";
import { keyLines, lineOfPath, parseErrorLine } from "./json_lines.js";

export class SpecEditor {
  constructor({ onInput } = {}) {
    this.gutter = h("pre.gutter", { "aria-hidden": "true" });
    this.textarea = h("textarea.code.editor-text", { id: "spec-editor", spellcheck: "false", autocapitalize: "off",
      autocomplete: "off", wrap: "off", "aria-label": "Job spec (JSON)", "aria-describedby": "spec-errors" });
    this.errorList = h("ul.field-errors", { id: "spec-errors", "aria-live": "polite" });
    this.el = h("div.spec-editor", {}, h("div.editor-frame", {}, this.gutter, this.textarea), this.errorList);
    this.marked = new Map(); // line -> messages
    this.textarea.addEventListener("input", () => {
      this.renumber();
      onInput?.(this.text);
    });
    this.textarea.addEventListener("scroll", () => { this.gutter.scrollTop = this.textarea.scrollTop; });
  }

  get text() {
    return this.textarea.value;
  }

  set text(value) {
    this.textarea.value = value;
    this.renumber();
  }

  /** The document, or null after showing where the JSON is broken. */
  parse() {
    try {
      return JSON.parse(this.text);
    } catch (error) {
      this.show([{ path: "(JSON)", message: error.message, line: parseErrorLine(this.text, error) }]);
      return null;
    }
  }

  /** Field errors ({path, message}) beside their lines; errors with no line are listed as-is. */
  showFieldErrors(errors) {
    let document = null;
    try {
      document = JSON.parse(this.text);
    } catch {
      // the service answered about the text it was sent; without a document there are no lines
    }
    const lines = document ? keyLines(this.text) : new Map();
    this.show(errors.map((error) => ({ ...error, line: document ? lineOfPath(lines, document, error.path) : null })));
  }

  show(errors) {
    this.marked = new Map();
    for (const error of errors) {
      if (error.line) this.marked.set(error.line, [...(this.marked.get(error.line) || []), error.message]);
    }
    this.textarea.toggleAttribute("aria-invalid", errors.length > 0);
    replace(this.errorList, errors.map((error) => h("li.field-error", { dataset: { path: error.path || "" } },
      error.line ? h("button.linklike", { type: "button", onclick: () => this.focusLine(error.line) }, `line ${error.line}`) : null,
      error.line ? " · " : null,
      h("code.path", {}, error.path || "(spec)"), " ", h("span.message", {}, error.message))));
    this.renumber();
  }

  clear() {
    this.show([]);
  }

  renumber() {
    const count = this.text.split("\n").length;
    const rows = [];
    for (let n = 1; n <= count; n += 1) {
      const messages = this.marked.get(n);
      rows.push(messages ? h("span.bad-line", { title: messages.join("\n") }, `${n}\n`) : `${n}\n`);
    }
    replace(this.gutter, rows);
    this.gutter.scrollTop = this.textarea.scrollTop;
  }

  focusLine(line) {
    const lines = this.text.split("\n");
    const start = lines.slice(0, line - 1).reduce((sum, l) => sum + l.length + 1, 0);
    this.textarea.focus();
    this.textarea.setSelectionRange(start, start + (lines[line - 1] || "").length);
    const lineHeight = parseFloat(getComputedStyle(this.textarea).lineHeight) || 18;
    this.textarea.scrollTop = Math.max(0, (line - 3) * lineHeight);
  }
}
