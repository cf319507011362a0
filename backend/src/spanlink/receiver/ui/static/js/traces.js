// The traces list: filters of GET /api/v1/traces kept in the URL, a table, pagination.

import { get } from "./api.js";
import { h, link, mount, notice, route } from "./dom.js";
import * as fmt from "./format.js";
import { go } from "./router.js";

const PAGE_SIZE = 50;
// URL parameter -> API parameter (same names, so a shared link is also readable).
const FILTERS = [
  "q",
  "environment",
  "service",
  "status",
  "test_run_id",
  "session_id",
  "user_id",
  "conversation_id",
  "start_time",
  "end_time",
];

/** `<input type=datetime-local>` value (local time) <-> ISO 8601 in UTC. */
function toIso(local) {
  if (!local) return "";
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}

function toLocal(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

function field(label, input) {
  return h("label", { class: "field" }, h("span", { text: label }), input);
}

function filterForm(params) {
  const input = (name, attrs = {}) =>
    h("input", { attrs: { name, id: `f-${name}`, value: params.get(name) || "", ...attrs } });
  const status = h(
    "select",
    { attrs: { name: "status", id: "f-status" } },
    [
      ["", "any status"],
      ["error", "with errors"],
      ["ok", "without errors"],
    ].map(([value, text]) =>
      h("option", { attrs: { value, selected: (params.get("status") || "") === value }, text }),
    ),
  );
  const form = h(
    "form",
    { class: "filters", attrs: { role: "search", "aria-label": "Filter traces" } },
    field("Search", input("q", { type: "search", placeholder: "full-text search" })),
    field("Environment", input("environment", { placeholder: "any" })),
    field("Service", input("service", { placeholder: "any" })),
    field("Status", status),
    field("Test run", input("test_run_id", { placeholder: "run id" })),
    field("Session", input("session_id", { placeholder: "session id" })),
    field("User", input("user_id", { placeholder: "user id" })),
    field("Conversation", input("conversation_id", { placeholder: "conversation id" })),
    field(
      "From",
      input("start_time", { type: "datetime-local", value: toLocal(params.get("start_time")) }),
    ),
    field(
      "To",
      input("end_time", { type: "datetime-local", value: toLocal(params.get("end_time")) }),
    ),
    h(
      "div",
      { class: "filter-actions" },
      h("button", { attrs: { type: "submit" }, text: "Apply" }),
      h("a", { class: "button secondary", attrs: { href: "#/traces" }, text: "Clear" }),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const next = {};
    for (const name of FILTERS) {
      let value = String(data.get(name) || "").trim();
      if (name === "start_time" || name === "end_time") value = toIso(value);
      if (value) next[name] = value;
    }
    go(route("traces", next));
  });
  return form;
}

function row(item) {
  const tokens = item.total_tokens ?? (item.input_tokens || 0) + (item.output_tokens || 0);
  const testCell = [];
  if (item.test_run_id) {
    testCell.push(link(item.test_run_id, ["run", item.test_run_id], null, "mono"));
    if (item.test_case_id) testCell.push(" / ", h("span", { class: "mono", text: item.test_case_id }));
  }
  const tr = h(
    "tr",
    {
      class: item.error_count > 0 ? "has-error" : "",
      dataset: { traceId: item.trace_id },
    },
    h("td", { class: "nowrap", text: fmt.time(item.start_time_unix_nano) }),
    h(
      "td",
      { class: "name-cell" },
      link(item.name || "(no root span)", ["trace", item.trace_id], null, "trace-link"),
    ),
    h("td", { text: item.service_name || "—" }),
    h("td", { text: item.environment || "—" }),
    h("td", { class: "num", text: fmt.duration(item.duration_ms) }),
    h("td", { class: "num", text: fmt.integer(item.span_count) }),
    h(
      "td",
      { class: "num" },
      item.error_count > 0
        ? h("span", { class: "badge error", text: fmt.integer(item.error_count) })
        : "0",
    ),
    h("td", { class: "num", text: tokens ? fmt.integer(tokens) : "—" }),
    h("td", { class: "num", text: fmt.cost(item.cost_usd) }),
    h("td", {}, testCell.length ? testCell : "—"),
  );
  return tr;
}

export async function renderTraces(view, ctx) {
  const params = ctx.params;
  const offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
  const query = { limit: PAGE_SIZE, offset };
  for (const name of FILTERS) if (params.get(name)) query[name] = params.get(name);

  const results = h("div", { class: "results" }, h("p", { class: "muted", text: "Loading traces…" }));
  mount(view, h("h1", { text: "Traces" }), filterForm(params), results);

  const page = await get("/api/v1/traces", query, { signal: ctx.signal });
  if (!ctx.isCurrent()) return;
  const active = FILTERS.some((name) => params.get(name));
  if (!page.items.length) {
    mount(
      results,
      notice(
        "info",
        active
          ? "No trace matches these filters."
          : "No traces yet. Point an OTLP exporter at this receiver's /v1/traces.",
      ),
    );
    view.dataset.rendered = "traces";
    return;
  }
  const headers = [
    "Start",
    "Root span",
    "Service",
    "Environment",
    "Duration",
    "Spans",
    "Errors",
    "Tokens",
    "Cost",
    "Test run / case",
  ];
  const table = h(
    "table",
    { class: "data traces" },
    h("thead", {}, h("tr", {}, headers.map((text) => h("th", { attrs: { scope: "col" }, text })))),
    h("tbody", {}, page.items.map(row)),
  );
  const base = {};
  for (const name of FILTERS) if (params.get(name)) base[name] = params.get(name);
  const first = page.offset + 1;
  const last = page.offset + page.items.length;
  const pager = h(
    "nav",
    { class: "pager", attrs: { "aria-label": "Pages" } },
    // A text search for a common word answers an extrapolated total: shown as such.
    h("span", {
      class: "muted pager-total",
      attrs: page.total_is_estimate ? { title: "estimated from the traces searched for this page" } : {},
      text: `${fmt.integer(first)}–${fmt.integer(last)} of ${page.total_is_estimate ? "about " : ""}${fmt.integer(page.total)}`,
    }),
    offset > 0
      ? h("a", {
          class: "button secondary",
          attrs: { href: route("traces", { ...base, offset: Math.max(0, offset - PAGE_SIZE) || "" }), rel: "prev" },
          text: "← Newer",
        })
      : null,
    page.next_offset != null
      ? h("a", {
          class: "button secondary",
          attrs: { href: route("traces", { ...base, offset: page.next_offset }), rel: "next" },
          text: "Older →",
        })
      : null,
  );
  mount(results, h("div", { class: "table-wrap" }, table), pager);
  view.dataset.rendered = "traces";
}
