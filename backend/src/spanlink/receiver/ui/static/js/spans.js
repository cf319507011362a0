// The trace answer as the pages use it. The viewer asks for the compact form (spans as
// rows of `span_fields` values, in start order: about half the bytes of span objects, and
// no per-span work in the receiver) and puts the spans in tree order here, by the receiver's
// rule for its default answer: depth-first, children by start time, a span whose parent
// is missing (or only reachable through a parent cycle) as a root.

import { get } from "./api.js";

/**
 * GET the trace (`segment`: its id as a path segment) and return it as the default answer
 * has it: lean span objects in tree order, each with `depth` and `children` (ids), and
 * `root_span_ids`.
 */
export async function getTrace(segment, opts) {
  return fromCompact(await get(`/api/v1/traces/${segment}`, { compact: true }, opts));
}

/** The compact answer -> the default answer's shape (see getTrace). */
export function fromCompact(body) {
  const { span_fields: fields, spans: rows, ...trace } = body;
  const n = rows.length;
  const width = fields.length;
  const flat = new Array(n);
  const index = new Map();
  for (let i = 0; i < n; i++) {
    const row = rows[i];
    const span = {};
    for (let f = 0; f < width; f++) span[fields[f]] = row[f];
    flat[i] = span;
    index.set(span.span_id, i);
  }
  // Rows come in start order (ties by span id), so each child list is in start order too.
  const kids = new Array(n);
  const roots = [];
  for (let i = 0; i < n; i++) {
    const span = flat[i];
    const parent = span.parent_span_id;
    const at = parent != null && parent !== span.span_id ? index.get(parent) : undefined;
    if (at === undefined) roots.push(i);
    else (kids[at] ??= []).push(i);
  }
  const spans = [];
  const seen = new Uint8Array(n);
  const stack = [];
  for (let r = roots.length - 1; r >= 0; r--) stack.push(roots[r], 0);
  while (stack.length) {
    const depth = stack.pop();
    const i = stack.pop();
    if (seen[i]) continue;
    seen[i] = 1;
    const span = flat[i];
    const children = kids[i] || [];
    span.depth = depth;
    span.children = children.map((k) => flat[k].span_id);
    spans.push(span);
    for (let k = children.length - 1; k >= 0; k--) stack.push(children[k], depth + 1);
  }
  for (let i = 0; i < n; i++) {
    if (seen[i]) continue;
    flat[i].depth = 0;
    flat[i].children = [];
    spans.push(flat[i]);
  }
  trace.spans = spans;
  trace.root_span_ids = spans.filter((s) => s.depth === 0).map((s) => s.span_id);
  return trace;
}
