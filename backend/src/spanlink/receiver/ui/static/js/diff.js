// The structural diff of two traces: both span trees side by side on one time axis, one row
// per aligned pair (GET /api/v1/traces/{a}/diff/{b}), added/removed/changed rows marked, the
// first divergence highlighted and scrolled into view. Clicking a row compares both spans'
// attributes with the differences marked.

import { get, pathSegment } from "./api.js";
import { h, link, mount, notice } from "./dom.js";
import * as fmt from "./format.js";
import { getTrace } from "./spans.js";

const MAX_INDENT = 24;
const MARKS = { same: "", changed: "~", added: "+", removed: "−" };
const TICKS = 2;
const OPEN_TOOLS = 20; // longer tool sequences start folded

function startAndTotal(spans) {
  let start = Infinity;
  let end = -Infinity;
  for (const span of spans) {
    start = Math.min(start, span.start_time_unix_nano);
    end = Math.max(end, span.start_time_unix_nano + (span.duration_ms || 0) * 1e6);
  }
  if (!Number.isFinite(start)) return { start: 0, total: 0 };
  return { start, total: Math.max(0, (end - start) / 1e6) };
}

function describeChange(name, change) {
  if (name === "tool_arguments") return "tool arguments changed";
  if (name === "content") return `content changed (${Object.keys(change || {}).join(", ")})`;
  const show = (v) => (v === null || v === undefined ? "none" : Array.isArray(v) ? v.join(",") : String(v));
  return `${name.replace(/_/g, " ")} ${show(change?.a)} → ${show(change?.b)}`;
}

/** One line per change of a matched pair. */
export function changeLines(changes) {
  return Object.entries(changes || {}).map(([name, change]) => describeChange(name, change));
}

function bar(span, side, start, scale) {
  if (!span) return h("div", { class: `diff-lane lane-${side} empty` });
  const offset = (span.start_time_unix_nano - start.start) / 1e6;
  const left = scale > 0 ? Math.min(100, (offset / scale) * 100) : 0;
  const width = scale > 0 ? Math.max(0, ((span.duration_ms || 0) / scale) * 100) : 100;
  const error = span.status_code === "ERROR";
  return h(
    "div",
    { class: `diff-lane lane-${side}` },
    h("div", {
      class: `bar ${error ? "error" : ""}`,
      style: { left: `${left}%`, width: `${Math.min(width, 100 - left)}%` },
      attrs: { title: `${span.name}: starts at ${fmt.duration(offset)}, takes ${fmt.duration(span.duration_ms)}` },
    }),
  );
}

function axis(scale) {
  const ticks = [];
  for (let i = 0; i <= TICKS; i += 1) {
    ticks.push(h("span", { class: "tick", style: { left: `${(i / TICKS) * 100}%` }, text: fmt.duration((scale * i) / TICKS) }));
  }
  return ticks;
}

function same(x, y) {
  if (x === y) return true;
  return JSON.stringify(x) === JSON.stringify(y);
}

function shown(value) {
  if (value === undefined) return h("span", { class: "muted", text: "—" });
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return h("span", { class: "value", text: text.length > 2000 ? `${text.slice(0, 2000)}…` : text });
}

/** The two spans' fields and attributes in one table, differing rows marked. */
export function comparePanel(entry, spanA, spanB) {
  const fields = [
    ["name", spanA?.name, spanB?.name],
    ["kind", spanA?.kind, spanB?.kind],
    ["status", spanA?.status_code, spanB?.status_code],
    ["duration", spanA ? fmt.duration(spanA.duration_ms) : undefined, spanB ? fmt.duration(spanB.duration_ms) : undefined],
  ];
  const attrsA = spanA?.attributes || {};
  const attrsB = spanB?.attributes || {};
  const keys = [...new Set([...Object.keys(attrsA), ...Object.keys(attrsB)])].sort();
  for (const key of keys) fields.push([key, attrsA[key], attrsB[key]]);
  const rows = fields.map(([key, va, vb]) => {
    const differs = !same(va, vb) && key !== "duration";
    return h(
      "tr",
      { class: differs ? "differs" : "", dataset: { key } },
      h("th", { attrs: { scope: "row" }, class: "mono", text: key }),
      h("td", {}, shown(va)),
      h("td", {}, shown(vb)),
      h("td", { class: "mark", attrs: { "aria-label": differs ? "differs" : "same" }, text: differs ? "≠" : "" }),
    );
  });
  const lines = changeLines(entry.changes);
  return [
    h(
      "div",
      { class: "panel-head" },
      h("h2", { class: "panel-title", text: entry.name }),
      h("span", { class: `badge diff-${entry.status}`, text: entry.status }),
    ),
    lines.length ? h("ul", { class: "change-lines" }, lines.map((text) => h("li", { text }))) : null,
    h(
      "table",
      { class: "data attr-diff" },
      h("thead", {}, h("tr", {}, ["", "a", "b", ""].map((text) => h("th", { attrs: { scope: "col" }, text })))),
      h("tbody", {}, rows),
    ),
  ];
}

function sideSummary(label, summary, totals, traceId) {
  return h(
    "div",
    { class: `diff-side side-${label}` },
    h("h3", { text: label }),
    h("p", {}, link(summary?.root_name || traceId, ["trace", traceId], null, "mono")),
    h(
      "p",
      { class: "muted" },
      `${fmt.integer(totals?.spans)} spans · ${fmt.duration(totals?.duration_ms)} · ` +
        `${fmt.integer((totals?.input_tokens || 0) + (totals?.output_tokens || 0))} tokens · ` +
        `${fmt.cost(totals?.cost_usd)} · tools: ${fmt.integer(totals?.tool_calls)}`,
    ),
  );
}

function toolSequence(calls) {
  return (calls || []).map((c) => c.name).join(" → ") || "none";
}

/** Both sides' tool-call sequences, folded when long. */
function toolSequences(toolCalls) {
  const a = toolCalls?.a || [];
  const b = toolCalls?.b || [];
  return h(
    "details",
    { class: "tool-sequence", attrs: { open: Math.max(a.length, b.length) <= OPEN_TOOLS } },
    h("summary", { text: `Tool calls: ${fmt.integer(a.length)} in a, ${fmt.integer(b.length)} in b` }),
    h("p", { class: "tools-a", text: `a: ${toolSequence(a)}` }),
    h("p", { class: "tools-b", text: `b: ${toolSequence(b)}` }),
  );
}

function isFirst(entry, first) {
  return (
    !!first &&
    (entry.a_span_id || null) === (first.a_span_id || null) &&
    (entry.b_span_id || null) === (first.b_span_id || null)
  );
}

export async function renderDiff(view, a, b, ctx) {
  mount(view, h("p", { class: "muted", text: "Aligning the two traces…" }));
  const opts = { signal: ctx.signal };
  let diff;
  let traceA;
  let traceB;
  try {
    const [segA, segB] = [pathSegment(a), pathSegment(b)];
    for (const [id, segment] of [[a, segA], [b, segB]]) {
      if (segment === null) throw Object.assign(new Error(`“${id}” is not a trace id.`), { status: 422 });
    }
    [diff, traceA, traceB] = await Promise.all([
      get(`/api/v1/traces/${segA}/diff/${segB}`, null, opts),
      getTrace(segA, opts),
      getTrace(segB, opts),
    ]);
  } catch (failure) {
    if (!ctx.isCurrent() || failure.name === "AbortError") throw failure;
    if (failure.status === 404 || failure.status === 413 || failure.status === 422) {
      mount(view, h("div", { class: "crumbs" }, link("← Traces", ["traces"])), notice("error", failure.message));
      view.dataset.rendered = "diff";
      return;
    }
    throw failure;
  }
  if (!ctx.isCurrent()) return;
  const byIdA = new Map(traceA.spans.map((s) => [s.span_id, s]));
  const byIdB = new Map(traceB.spans.map((s) => [s.span_id, s]));
  const timeA = startAndTotal(traceA.spans);
  const timeB = startAndTotal(traceB.spans);
  const scale = Math.max(timeA.total, timeB.total);
  const first = diff.first_divergence;
  const counts = diff.totals?.counts || {};

  const panel = h("aside", { class: "panel diff-panel", attrs: { hidden: true, "aria-label": "The two spans compared" } });
  // The trace answers list each span's summary; a span's attributes are fetched when its
  // row is opened (kept for this page, so reopening is instant).
  const details = new Map();
  const full = (segment, spanId) => {
    if (!spanId) return Promise.resolve(null);
    const key = `${segment}/${spanId}`;
    if (!details.has(key)) {
      const request = get(`/api/v1/traces/${segment}/spans/${encodeURIComponent(spanId)}`, null, opts);
      request.catch(() => details.delete(key)); // a failed fetch is retried next time
      details.set(key, request);
    }
    return details.get(key);
  };
  const [segA, segB] = [pathSegment(a), pathSegment(b)];
  const rows = [];
  let selected = -1;
  let opening = 0;
  const select = async (index) => {
    if (selected >= 0) rows[selected].classList.remove("selected");
    selected = index;
    const row = rows[index];
    row.classList.add("selected");
    const entry = diff.spans[index];
    const mine = ++opening;
    view.dataset.selected = String(index);
    panel.hidden = false;
    mount(panel, comparePanel(entry, byIdA.get(entry.a_span_id), byIdB.get(entry.b_span_id)));
    let spanA;
    let spanB;
    try {
      [spanA, spanB] = await Promise.all([full(segA, entry.a_span_id), full(segB, entry.b_span_id)]);
    } catch (failure) {
      if (mine !== opening || !ctx.isCurrent() || failure.name === "AbortError") return;
      mount(panel, notice("error", `The spans could not be loaded: ${failure.message}`));
      return;
    }
    if (mine !== opening || !ctx.isCurrent()) return;
    mount(panel, comparePanel(entry, spanA, spanB));
    panel.dataset.loaded = String(index);
  };

  let firstIndex = -1;
  diff.spans.forEach((entry, index) => {
    const spanA = entry.a_span_id ? byIdA.get(entry.a_span_id) : null;
    const spanB = entry.b_span_id ? byIdB.get(entry.b_span_id) : null;
    const divergence = isFirst(entry, first);
    if (divergence) firstIndex = index;
    const lines = changeLines(entry.changes);
    const delta = entry.deltas?.duration_ms;
    const row = h(
      "div",
      {
        class: `diff-row status-${entry.status}${divergence ? " first-divergence" : ""}`,
        attrs: { role: "row", tabindex: "-1", "aria-selected": "false" },
        dataset: {
          index: String(index),
          status: entry.status,
          aSpanId: entry.a_span_id || "",
          bSpanId: entry.b_span_id || "",
        },
        on: { click: () => select(index) },
      },
      h(
        "div",
        { class: "diff-name", style: { paddingLeft: `${6 + Math.min(entry.depth || 0, MAX_INDENT) * 12}px` } },
        h("span", { class: "diff-mark", attrs: { "aria-label": entry.status }, text: MARKS[entry.status] ?? "" }),
        h("span", { class: "span-name", text: entry.name }),
        lines.length ? h("span", { class: "diff-change", text: lines.join("; ") }) : null,
      ),
      bar(spanA, "a", timeA, scale),
      bar(spanB, "b", timeB, scale),
      h("div", { class: "diff-delta num", text: delta ? `${delta > 0 ? "+" : "−"}${fmt.duration(Math.abs(delta))}` : "" }),
    );
    rows.push(row);
  });

  const scroller = h(
    "div",
    { class: "diff-scroll", attrs: { role: "grid", tabindex: "0", "aria-label": "Aligned spans of both traces: up and down to move" } },
    rows,
  );
  scroller.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    event.preventDefault();
    const next = Math.max(0, Math.min(rows.length - 1, selected + (event.key === "ArrowDown" ? 1 : -1)));
    select(next);
    rows[next].scrollIntoView({ block: "nearest" });
  });

  // "Only differences" hides the unchanged rows; the first divergence is never one of them.
  const only = h("input", { attrs: { type: "checkbox", id: "diff-only-changes" } });
  only.addEventListener("change", () => {
    scroller.classList.toggle("only-changes", only.checked);
    if (selected >= 0) rows[selected].scrollIntoView({ block: "nearest" });
  });
  const jump = () => {
    if (firstIndex < 0) return;
    select(firstIndex);
    rows[firstIndex].scrollIntoView({ block: "center" });
  };
  const banner = first
    ? h(
        "div",
        { class: "notice warn first-divergence-note", attrs: { role: "status" } },
        h("p", {}, h("strong", { text: "First divergence: " }), `${first.kind} ${first.name}${first.reason ? ` — ${first.reason}` : ""} `),
        h("button", { class: "secondary", attrs: { type: "button" }, text: "Show", on: { click: jump } }),
      )
    : notice("info", "The two traces do not diverge: same spans, tools, models and statuses.");

  mount(
    view,
    h("div", { class: "crumbs" }, link("← Traces", ["traces"])),
    h("h1", { text: "Trace diff" }),
    h(
      "div",
      { class: "diff-sides" },
      sideSummary("a", diff.a, diff.totals?.a, a),
      sideSummary("b", diff.b, diff.totals?.b, b),
    ),
    h(
      "p",
      { class: "diff-counts" },
      ["same", "changed", "added", "removed"].map((k) =>
        h("span", { class: `badge diff-${k}`, dataset: { count: k }, text: `${fmt.integer(counts[k] || 0)} ${k}` }),
      ),
      diff.alignment === "approximate" ? h("span", { class: "muted", text: " alignment approximate (very large sibling groups)" }) : null,
    ),
    toolSequences(diff.tool_calls),
    banner,
    h("label", { class: "only-changes-toggle" }, only, " Only differences"),
    h(
      "div",
      { class: "diff-layout" },
      h(
        "div",
        { class: "diff-table" },
        h(
          "div",
          { class: "diff-axis" },
          h("div", { class: "diff-name", text: "span" }),
          h("div", { class: "diff-lane lane-a" }, h("span", { class: "lane-label", text: "a" }), axis(scale)),
          h("div", { class: "diff-lane lane-b" }, h("span", { class: "lane-label", text: "b" }), axis(scale)),
          h("div", { class: "diff-delta num", text: "Δ time" }),
        ),
        scroller,
      ),
      panel,
    ),
  );
  if (firstIndex >= 0) jump();
  view.dataset.rendered = "diff";
}
