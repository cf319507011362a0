// Metrics: latency percentiles and error rate over time, cost and tokens by model, read
// from GET /api/v1/metrics (one call per time bucket, all in parallel).

import { get } from "./api.js";
import { h, mount, notice, route } from "./dom.js";
import * as fmt from "./format.js";
import { barChart, hbarChart, lineChart } from "./charts.js";

const RANGES = {
  "1h": { ms: 3_600_000, buckets: 12, label: "last hour" },
  "24h": { ms: 86_400_000, buckets: 24, label: "last 24 hours" },
  "7d": { ms: 7 * 86_400_000, buckets: 14, label: "last 7 days" },
  "30d": { ms: 30 * 86_400_000, buckets: 15, label: "last 30 days" },
};

function bucketLabel(date, rangeMs) {
  const pad = (n) => String(n).padStart(2, "0");
  if (rangeMs <= 86_400_000) return `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  return `${date.getMonth() + 1}/${date.getDate()}`;
}

export async function renderMetrics(view, ctx) {
  const rangeKey = RANGES[ctx.params.get("range")] ? ctx.params.get("range") : "24h";
  const range = RANGES[rangeKey];
  const picker = h(
    "nav",
    { class: "range", attrs: { "aria-label": "Time range" } },
    Object.entries(RANGES).map(([key, r]) =>
      h("a", {
        class: key === rangeKey ? "button" : "button secondary",
        attrs: { href: route("metrics", { range: key }), "aria-current": key === rangeKey ? "page" : null },
        text: r.label,
      }),
    ),
  );
  const box = h("div", {}, h("p", { class: "muted", text: "Loading metrics…" }));
  mount(view, h("h1", { text: "Metrics" }), picker, box);

  const end = Date.now();
  const start = end - range.ms;
  const size = range.ms / range.buckets;
  const edges = Array.from({ length: range.buckets }, (_, i) => start + i * size);
  const iso = (ms) => new Date(ms).toISOString();
  const [overall, ...buckets] = await Promise.all([
    get("/api/v1/metrics", { start_time: iso(start), end_time: iso(end) }, { signal: ctx.signal }),
    ...edges.map((from) =>
      // Bucket ends 1 µs early: the API's range is inclusive at both ends.
      get("/api/v1/metrics", { start_time: iso(from), end_time: new Date(from + size - 1).toISOString() }, { signal: ctx.signal }),
    ),
  ]);
  if (!ctx.isCurrent()) return;
  const labels = edges.map((from) => bucketLabel(new Date(from), range.ms));
  const stat = (label, value) =>
    h("div", { class: "stat" }, h("div", { class: "stat-label", text: label }), h("div", { class: "stat-value", text: value }));
  const summary = h(
    "div",
    { class: "stats" },
    stat("Traces", fmt.integer(overall.trace_count)),
    stat("Error rate", fmt.percent(overall.error_rate)),
    stat("p50", fmt.duration(overall.latency_ms?.p50)),
    stat("p95", fmt.duration(overall.latency_ms?.p95)),
    stat("p99", fmt.duration(overall.latency_ms?.p99)),
    stat("Tokens", fmt.integer((overall.input_tokens || 0) + (overall.output_tokens || 0))),
    stat("Cost", fmt.cost(overall.cost_usd)),
  );
  if (!overall.trace_count) {
    mount(box, summary, notice("info", `No traces in the ${range.label}.`));
    view.dataset.rendered = "metrics";
    return;
  }
  const models = overall.models || [];
  const charts = h(
    "div",
    { class: "charts" },
    lineChart(
      "Trace latency",
      labels,
      [
        { name: "p50", cls: "s-p50", values: buckets.map((b) => b.latency_ms?.p50 ?? null) },
        { name: "p95", cls: "s-p95", values: buckets.map((b) => b.latency_ms?.p95 ?? null) },
        { name: "p99", cls: "s-p99", values: buckets.map((b) => b.latency_ms?.p99 ?? null) },
      ],
      fmt.duration,
    ),
    barChart("Error rate (traces with an error)", labels, buckets.map((b) => (b.trace_count ? b.error_rate : null)), fmt.percent, "error"),
    hbarChart(
      "Cost by model",
      models.filter((m) => m.cost_usd != null).map((m) => ({ label: m.model, parts: [{ value: m.cost_usd, cls: "cost", name: "cost" }] })),
      fmt.cost,
    ),
    hbarChart(
      "Tokens by model (input + output)",
      models.map((m) => ({
        label: m.model,
        parts: [
          { value: m.input_tokens, cls: "input", name: "input" },
          { value: m.output_tokens, cls: "output", name: "output" },
        ],
      })),
      fmt.integer,
    ),
  );
  mount(box, summary, charts);
  view.dataset.rendered = "metrics";
}
