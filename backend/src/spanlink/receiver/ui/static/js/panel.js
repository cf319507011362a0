// The side panel of one span: summary, model call, anomalies, captured I/O, attributes
// grouped (GenAI, spanlink, other), events and exceptions, links, resource.

import { h } from "./dom.js";
import * as enrich from "./enrich.js";
import * as fmt from "./format.js";
import { jsonTree, parseJsonString, valueView } from "./json.js";
import { scoreList } from "./scores.js";

const IO_KEYS = [
  "spanlink.input",
  "spanlink.output",
  "gen_ai.system_instructions",
  "gen_ai.input.messages",
  "gen_ai.output.messages",
  "gen_ai.tool.call.arguments",
  "gen_ai.tool.call.result",
];

function section(title, ...content) {
  return h("section", { class: "panel-section" }, h("h3", { text: title }), content);
}

function pairs(entries, cls = "kv") {
  return h(
    "dl",
    { class: cls },
    entries.map(([key, value]) => [
      h("dt", { text: key }),
      h("dd", {}, value instanceof Node ? value : valueView(value)),
    ]),
  );
}

function attributeTable(entries) {
  return h(
    "table",
    { class: "attrs" },
    h(
      "tbody",
      {},
      entries.map(([key, value]) =>
        h("tr", {}, h("th", { attrs: { scope: "row" }, text: key }), h("td", {}, valueView(value))),
      ),
    ),
  );
}

function modelCall(attrs, results) {
  const usage = enrich.usage(attrs);
  const cost = results.cost && typeof results.cost === "object" ? results.cost : null;
  let costView;
  if (cost && cost.status === "ok") costView = fmt.cost(cost.total_cost);
  else if (cost) costView = `not priced (${cost.status}${cost.model ? `: ${cost.model}` : ""})`;
  else costView = "not computed yet (no enrichment for this span)";
  const rows = [
    ["Model", enrich.model(attrs) || "—"],
    ["Provider", attrs["gen_ai.provider.name"] ?? attrs["gen_ai.system"] ?? "—"],
    ["Operation", attrs["gen_ai.operation.name"] ?? "—"],
    ["Input tokens", fmt.integer(usage.input)],
    ["Output tokens", fmt.integer(usage.output)],
  ];
  if (usage.cacheRead !== null) rows.push(["Cache read tokens", fmt.integer(usage.cacheRead)]);
  if (usage.cacheCreation !== null) rows.push(["Cache write tokens", fmt.integer(usage.cacheCreation)]);
  rows.push(["Cost", costView]);
  return section("Model call", h("div", { class: "model-call" }, pairs(rows)));
}

function eventView(event, spanStartNs) {
  const attrs = event.attributes || {};
  const at = event.time_unix_nano ?? event.timeUnixNano;
  const offset = at ? `+${fmt.duration((at - spanStartNs) / 1e6)}` : "";
  if (event.name === "exception") {
    const rest = Object.entries(attrs).filter(
      ([k]) => !["exception.type", "exception.message", "exception.stacktrace"].includes(k),
    );
    return h(
      "div",
      { class: "event exception" },
      h(
        "div",
        { class: "event-head" },
        h("strong", { text: String(attrs["exception.type"] ?? "exception") }),
        h("span", { class: "muted", text: ` ${offset}` }),
      ),
      attrs["exception.message"] != null
        ? h("p", { class: "exc-message", text: String(attrs["exception.message"]) })
        : null,
      attrs["exception.stacktrace"] != null
        ? h("pre", { class: "stacktrace", text: String(attrs["exception.stacktrace"]) })
        : null,
      rest.length ? attributeTable(rest) : null,
    );
  }
  const entries = Object.entries(attrs);
  return h(
    "div",
    { class: "event" },
    h(
      "div",
      { class: "event-head" },
      h("strong", { text: String(event.name ?? "event") }),
      h("span", { class: "muted", text: ` ${offset}` }),
    ),
    entries.length ? attributeTable(entries) : null,
  );
}

/**
 * Build the panel's content for `span`. `results` are this span's plugin results;
 * `spanAnomalies` the trace's findings on this span; `traceStartNs` the trace's start.
 */
export function spanPanel(span, { results, spanAnomalies, spanScores = [], traceStartNs, onClose }) {
  const attrs = span.attributes || {};
  const error = span.status_code === "ERROR";
  const close = h("button", {
    class: "icon close",
    attrs: { type: "button", "aria-label": "Close the span panel", title: "Close (Esc)" },
    text: "×",
    on: { click: onClose },
  });
  const head = h(
    "div",
    { class: "panel-head" },
    h("h2", { class: "panel-title", text: span.name }),
    close,
    h(
      "div",
      { class: "panel-badges" },
      h("span", { class: `badge kind`, text: String(span.kind || "INTERNAL") }),
      h("span", {
        class: `badge ${error ? "error" : "ok"}`,
        text: error ? "ERROR" : span.status_code || "UNSET",
      }),
      enrich.isLlm(attrs) ? h("span", { class: "badge llm", text: "LLM" }) : null,
    ),
    error && span.status_message
      ? h("p", { class: "status-message", text: span.status_message })
      : null,
  );
  const summary = pairs([
    ["Duration", fmt.duration(span.duration_ms)],
    ["Starts at", `+${fmt.duration((span.start_time_unix_nano - traceStartNs) / 1e6)} (${fmt.time(span.start_time_unix_nano)})`],
    ["Span id", h("code", { text: span.span_id })],
    ["Parent", span.parent_span_id ? h("code", { text: span.parent_span_id }) : "— (root)"],
    ["Service", span.service_name || "—"],
    ["Scope", [span.scope_name, span.scope_version].filter(Boolean).join(" ") || "—"],
  ]);
  const parts = [head, section("Span", summary)];

  if (enrich.isLlm(attrs)) parts.push(modelCall(attrs, results));

  if (spanAnomalies.length) {
    parts.push(
      section(
        "Anomalies",
        h(
          "ul",
          { class: "anomalies" },
          spanAnomalies.map((a) =>
            h(
              "li",
              {},
              h("span", { class: `badge sev-${String(a.severity || "info")}`, text: String(a.severity || "info") }),
              " ",
              h("strong", { text: String(a.rule || "anomaly") }),
              " ",
              h("span", { text: String(a.message || "") }),
            ),
          ),
        ),
      ),
    );
  }

  if (spanScores.length) parts.push(section(`Scores (${spanScores.length})`, scoreList(spanScores)));

  const io = IO_KEYS.filter((k) => attrs[k] !== undefined);
  if (io.length) {
    parts.push(
      section(
        "Input / output",
        io.map((k) => {
          const value = attrs[k];
          const parsed = parseJsonString(value);
          return h(
            "div",
            { class: "io" },
            h("div", { class: "io-key", text: k }),
            parsed !== undefined || typeof value === "object"
              ? h("div", { class: "json" }, jsonTree(parsed !== undefined ? parsed : value))
              : h("pre", { class: "io-text", text: String(value) }),
          );
        }),
      ),
    );
  }

  const groups = { GenAI: [], spanlink: [], Other: [] };
  for (const key of Object.keys(attrs).sort()) {
    if (IO_KEYS.includes(key)) continue;
    const group = key.startsWith("gen_ai.") ? "GenAI" : key.startsWith("spanlink.") ? "spanlink" : "Other";
    groups[group].push([key, attrs[key]]);
  }
  for (const [title, entries] of Object.entries(groups)) {
    if (entries.length) parts.push(section(`${title} attributes`, attributeTable(entries)));
  }

  const events = Array.isArray(span.events) ? span.events : [];
  if (events.length) {
    parts.push(section(`Events (${events.length})`, events.map((e) => eventView(e, span.start_time_unix_nano))));
  }

  const links = Array.isArray(span.links) ? span.links : [];
  if (links.length) {
    parts.push(
      section(
        "Links",
        h(
          "ul",
          { class: "links" },
          links.map((l) =>
            h(
              "li",
              {},
              h("a", {
                attrs: { href: `#/trace/${encodeURIComponent(String(l.trace_id))}?span=${encodeURIComponent(String(l.span_id))}` },
                text: `${l.trace_id} / ${l.span_id}`,
              }),
              l.attributes && Object.keys(l.attributes).length ? attributeTable(Object.entries(l.attributes)) : null,
            ),
          ),
        ),
      ),
    );
  }

  const other = Object.entries(results).filter(([name]) => name !== "cost" || !enrich.isLlm(attrs));
  if (other.length) {
    parts.push(section("Enrichment", h("div", { class: "json" }, jsonTree(Object.fromEntries(other)))));
  }

  const resource = span.resource && typeof span.resource === "object" ? Object.entries(span.resource) : [];
  if (resource.length) {
    parts.push(
      h(
        "details",
        { class: "panel-section resource" },
        h("summary", { text: `Resource (${resource.length})` }),
        attributeTable(resource.sort(([a], [b]) => (a < b ? -1 : 1))),
      ),
    );
  }
  return parts;
}
