// Captured input/output and JSON attribute values as a folded tree (text nodes only).

import { h } from "./dom.js";

/** A string that holds a JSON object or array, parsed; otherwise undefined. */
export function parseJsonString(value) {
  if (typeof value !== "string") return undefined;
  const t = value.trim();
  if (!(t.startsWith("{") || t.startsWith("["))) return undefined;
  try {
    return JSON.parse(t);
  } catch {
    return undefined;
  }
}

const OPEN_DEPTH = 2;
const MAX_CHILDREN = 500;

export function jsonTree(value, depth = 0) {
  if (value === null) return h("span", { class: "j-null", text: "null" });
  if (typeof value === "string") {
    const nested = parseJsonString(value);
    if (nested !== undefined) return jsonTree(nested, depth);
    return h("span", { class: "j-str", text: value });
  }
  if (typeof value === "number") return h("span", { class: "j-num", text: String(value) });
  if (typeof value === "boolean") return h("span", { class: "j-bool", text: String(value) });
  if (typeof value !== "object") return h("span", { text: String(value) });
  const isArray = Array.isArray(value);
  const entries = isArray ? value.map((v, i) => [i, v]) : Object.entries(value);
  if (!entries.length) return h("span", { class: "j-empty", text: isArray ? "[]" : "{}" });
  const label = isArray
    ? `[…] ${entries.length} item${entries.length === 1 ? "" : "s"}`
    : `{…} ${entries.length} key${entries.length === 1 ? "" : "s"}`;
  const shown = entries.slice(0, MAX_CHILDREN);
  const details = h(
    "details",
    { class: "j-node", attrs: { open: depth < OPEN_DEPTH && entries.length <= 50 } },
    h("summary", { text: label }),
    h(
      "ul",
      {},
      shown.map(([k, v]) =>
        h("li", {}, h("span", { class: "j-key", text: isArray ? `${k}` : `${k}` }), ": ", jsonTree(v, depth + 1)),
      ),
      entries.length > shown.length
        ? h("li", { class: "muted", text: `… ${entries.length - shown.length} more` })
        : null,
    ),
  );
  return details;
}

/** Display of one attribute value: JSON folded, arrays inline, text as text. */
export function valueView(value) {
  const nested = parseJsonString(value);
  if (nested !== undefined || (value && typeof value === "object")) {
    return h("div", { class: "json" }, jsonTree(nested !== undefined ? nested : value));
  }
  return h("span", { class: "value", text: String(value) });
}
