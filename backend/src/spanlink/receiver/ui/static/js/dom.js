// DOM helpers. Span content is untrusted: it only ever reaches the page as text nodes or
// attribute values, never through an HTML parser, so markup inside it stays inert text.

/**
 * Create an element. `props`: class, text, attrs (set with setAttribute), dataset, on
 * (event listeners), style (CSSOM properties). Children: nodes or strings (as text).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  applyProps(el, props);
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** Create an SVG element; `attrs` values are set with setAttribute. */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function applyProps(el, props) {
  if (!props) return;
  if (props.class) el.className = props.class;
  if (props.text !== undefined && props.text !== null) el.textContent = String(props.text);
  if (props.attrs) {
    for (const [name, value] of Object.entries(props.attrs)) {
      if (value === undefined || value === null || value === false) continue;
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  if (props.dataset) Object.assign(el.dataset, props.dataset);
  if (props.style) Object.assign(el.style, props.style);
  if (props.on) {
    for (const [event, listener] of Object.entries(props.on)) el.addEventListener(event, listener);
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace everything inside `el` with `children`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** A link inside the app (hash route) built from encoded parts. */
export function route(path, params) {
  const query = params ? new URLSearchParams(clean(params)).toString() : "";
  return "#/" + path + (query ? "?" + query : "");
}

function clean(params) {
  const out = {};
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") out[k] = String(v);
  }
  return out;
}

/** `<a>` to an app route: `parts` are encoded path segments. */
export function link(text, parts, params, cls) {
  const path = parts.map((p) => encodeURIComponent(p)).join("/");
  return h("a", { class: cls, attrs: { href: route(path, params) }, text });
}

/** A message block: kind is "error", "info" or "warn". */
export function notice(kind, ...lines) {
  return h(
    "div",
    { class: `notice ${kind}`, attrs: { role: kind === "error" ? "alert" : "status" } },
    lines.map((line) => h("p", { text: line })),
  );
}
