// Where things are in a JSON text: the line of each key (by dotted path), the line of a parse
// error, and reading or writing a value by dotted path. The spec editor uses these to put the
// service's field errors ("optimizer.lr") next to the line that holds the field.

/** Map of dotted path ("training.epochs", "model.hidden.0") to its 1-based line in `text`. */
export function keyLines(text) {
  const lines = new Map();
  let i = 0;
  let line = 1;
  const space = () => {
    while (i < text.length && /\s/.test(text[i])) {
      if (text[i] === "\n") line += 1;
      i += 1;
    }
  };
  const string = () => {
    const start = i;
    i += 1;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    i += 1;
    return JSON.parse(text.slice(start, i));
  };
  const value = (path) => {
    space();
    if (path) lines.set(path, lines.get(path) ?? line);
    const c = text[i];
    if (c === "{") {
      i += 1;
      space();
      while (i < text.length && text[i] !== "}") {
        space();
        const keyLine = line;
        const key = string();
        const child = path ? `${path}.${key}` : key;
        lines.set(child, keyLine);
        space();
        i += 1; // ':'
        value(child);
        space();
        if (text[i] === ",") i += 1;
        space();
      }
      i += 1;
    } else if (c === "[") {
      i += 1;
      let index = 0;
      space();
      while (i < text.length && text[i] !== "]") {
        value(path ? `${path}.${index}` : String(index));
        index += 1;
        space();
        if (text[i] === ",") i += 1;
        space();
      }
      i += 1;
    } else if (c === '"') {
      string();
    } else {
      while (i < text.length && !/[\s,\]}]/.test(text[i])) i += 1;
    }
  };
  try {
    value("");
  } catch {
    // Only called on text JSON.parse accepted; a surprise here costs the line numbers, nothing else.
  }
  return lines;
}

/**
 * The line for a field error's path. Paths may carry parts the document does not (pydantic adds
 * a union's tag, "model.mlp.hidden"): those are skipped; the deepest key found wins.
 */
export function lineOfPath(lines, document, path) {
  let found = null;
  let node = document;
  let prefix = "";
  for (const part of String(path || "").split(".").filter(Boolean)) {
    if (node === null || typeof node !== "object" || !(part in node)) continue;
    node = node[part];
    prefix = prefix ? `${prefix}.${part}` : part;
    found = lines.get(prefix) ?? found;
  }
  return found;
}

/** The 1-based line of a JSON.parse error, from the position V8 reports, or null. */
export function parseErrorLine(text, error) {
  const position = /position (\d+)/.exec(String(error?.message || ""));
  if (position) return text.slice(0, Number(position[1])).split("\n").length;
  const lineMatch = /line (\d+)/.exec(String(error?.message || ""));
  return lineMatch ? Number(lineMatch[1]) : null;
}

export function getPath(document, path) {
  return path.split(".").reduce((node, part) => (node && typeof node === "object" ? node[part] : undefined), document);
}

/** Set (or, with `undefined`, delete) a value by dotted path, making objects on the way. */
export function setPath(document, path, value) {
  const parts = path.split(".");
  let node = document;
  for (const part of parts.slice(0, -1)) {
    if (node[part] === null || typeof node[part] !== "object") node[part] = {};
    node = node[part];
  }
  const last = parts[parts.length - 1];
  if (value === undefined) delete node[last];
  else node[last] = value;
  return document;
}
