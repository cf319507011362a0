// One trace: header (duration, tokens, cost by model, anomalies, linked test result), the
// waterfall, and the side panel of the selected span.

import { get, pathSegment } from "./api.js";
import { h, link, mount, notice, route } from "./dom.js";
import * as enrich from "./enrich.js";
import * as fmt from "./format.js";
import { spanPanel } from "./panel.js";
import { scoreList } from "./scores.js";
import { getTrace } from "./spans.js";
import { go } from "./router.js";
import { Waterfall } from "./waterfall.js";

function stat(label, value, cls = "") {
  return h("div", { class: `stat ${cls}` }, h("div", { class: "stat-label", text: label }), h("div", { class: "stat-value" }, value));
}

function totals(spans) {
  let input = 0;
  let output = 0;
  let llmCalls = 0;
  for (const span of spans) {
    const sum = enrich.summary(span);
    if (!sum.llm) continue;
    llmCalls += 1;
    input += sum.input || 0;
    output += sum.output || 0;
  }
  return { input, output, llmCalls };
}

async function testResultView(testLink, signal) {
  const box = h("span", { class: "muted", text: " …" });
  const segment = pathSegment(testLink.test_run_id);
  if (segment === null) {
    box.textContent = " (run not recorded by the receiver)";
    return box;
  }
  try {
    const body = await get(`/api/v1/test-runs/${segment}`, null, { signal });
    const results = body.results ?? body.cases ?? body.run?.results ?? [];
    const result = results.find(
      (r) =>
        (testLink.test_result_id && (r.id ?? r.result_id) === testLink.test_result_id) ||
        (testLink.test_case_id && r.case_id === testLink.test_case_id),
    );
    if (result) {
      box.className = `badge status-${String(result.status || "").toLowerCase()}`;
      box.textContent = String(result.status ?? "?");
    } else {
      box.textContent = "";
    }
  } catch {
    box.textContent = " (run details unavailable)";
  }
  return box;
}

export async function renderTrace(view, traceId, ctx) {
  mount(view, h("p", { class: "muted", text: "Loading trace…" }));
  // Scores of the trace's spans (evaluation events, evaluators, feedback), asked for
  // alongside the trace rather than after it; none when the receiver has no scores API.
  const scoresRequest = get("/api/v1/scores", { trace_id: traceId, limit: 1000 }, { signal: ctx.signal }).then(
    (body) => (Array.isArray(body?.items) ? body.items : []),
    () => [],
  );
  let trace;
  try {
    const segment = pathSegment(traceId);
    if (segment === null) throw Object.assign(new Error("not a trace id"), { status: 422 });
    trace = await getTrace(segment, { signal: ctx.signal });
  } catch (failure) {
    if (failure.status === 404) {
      mount(view, notice("error", `Trace ${traceId} was not found in this project.`), link("← All traces", ["traces"]));
      view.dataset.rendered = "trace";
      return;
    }
    if (failure.status === 422) {
      mount(view, notice("error", `“${traceId}” is not a trace id (32 hex digits).`), link("← All traces", ["traces"]));
      view.dataset.rendered = "trace";
      return;
    }
    throw failure;
  }
  const scores = await scoresRequest;
  if (!ctx.isCurrent()) return;
  const spans = trace.spans || [];
  const start = trace.start_time_unix_nano;
  const totalMs = trace.duration_ms || 0;
  const root = spans.find((s) => s.depth === 0) || spans[0];
  const tok = totals(spans);
  const cost = enrich.traceCost(trace.enrichment);
  const findings = enrich.anomalies(trace.enrichment);
  const byId = new Map(spans.map((s, i) => [s.span_id, i]));

  // ---------------------------------------------------------------- header
  // The receiver's cost_usd is null unless every model call was priced: "unknown" then,
  // with what was priced and the models without a price as a hint.
  const costView = cost
    ? h(
        "div",
        {},
        h("div", { text: fmt.cost(cost.complete ? trace.cost_usd ?? cost.total : null) }),
        cost.complete
          ? null
          : h("div", {
              class: "muted",
              text: [
                cost.total ? `${fmt.cost(cost.total)} priced` : null,
                cost.unknownModels.length ? `no price for ${cost.unknownModels.join(", ")}` : "some calls without token counts",
              ]
                .filter(Boolean)
                .join("; "),
            }),
        cost.byModel.length
          ? h(
              "ul",
              { class: "by-model" },
              cost.byModel.map(([model, usd]) => h("li", {}, h("span", { class: "mono", text: model }), ` ${fmt.cost(usd)}`)),
            )
          : null,
      )
    : h("span", { class: "muted", text: fmt.cost(trace.cost_usd) });
  const stats = h(
    "div",
    { class: "stats" },
    stat("Duration", fmt.duration(totalMs)),
    stat("Spans", fmt.integer(trace.span_count)),
    stat("Errors", fmt.integer(trace.error_count), trace.error_count > 0 ? "bad" : ""),
    stat(
      "Tokens",
      tok.llmCalls
        ? `${fmt.integer(tok.input + tok.output)} (${fmt.integer(tok.input)} in / ${fmt.integer(tok.output)} out)`
        : "—",
    ),
    stat("LLM calls", fmt.integer(tok.llmCalls)),
    stat("Cost", costView, "cost"),
  );

  let waterfall;
  const anomalyList = findings.length
    ? h(
        "section",
        { class: "trace-anomalies", attrs: { "aria-label": "Anomalies" } },
        h("h2", { text: `Anomalies (${findings.length})` }),
        h(
          "ul",
          { class: "anomalies" },
          findings.map((a) => {
            const target = a.span_id != null ? byId.get(a.span_id) : undefined;
            const item = h(
              "li",
              {},
              h("span", { class: `badge sev-${String(a.severity || "info")}`, text: String(a.severity || "info") }),
              " ",
              h("strong", { text: String(a.rule || "anomaly") }),
              " ",
              h("span", { text: String(a.message || "") }),
            );
            if (target !== undefined) {
              const anchor = h("a", {
                class: "anomaly-span",
                attrs: { href: route(`trace/${encodeURIComponent(traceId)}`, { span: a.span_id }) },
                text: `→ ${spans[target].name}`,
                on: {
                  click: (event) => {
                    event.preventDefault();
                    waterfall.select(target, { focus: true });
                    open(target);
                  },
                },
              });
              item.append(" ", anchor);
            }
            return item;
          }),
        ),
      )
    : null;

  // Scores of the whole trace (no span named); a span's own are in its panel.
  const traceScores = scores.filter((score) => !score.span_id);
  const scoreBox = traceScores.length
    ? h(
        "section",
        { class: "trace-scores", attrs: { "aria-label": "Scores of this trace" } },
        h("h2", { text: `Scores (${traceScores.length})` }),
        scoreList(traceScores),
      )
    : null;

  const tests = (trace.test_links || []).filter((l) => l.test_run_id);
  const testBox = tests.length
    ? h(
        "section",
        { class: "trace-tests", attrs: { "aria-label": "Linked test results" } },
        h("h2", { text: "Test result" }),
        h(
          "ul",
          {},
          tests.map((l) => {
            const li = h(
              "li",
              {},
              "Run ",
              link(l.test_run_id, ["run", l.test_run_id], null, "mono"),
              l.test_case_id ? [" · case ", h("span", { class: "mono", text: l.test_case_id })] : null,
              l.test_result_id ? [" · result ", h("span", { class: "mono", text: l.test_result_id })] : null,
              ` (${fmt.integer(l.span_count)} spans) `,
            );
            testResultView(l, ctx.signal).then((node) => li.append(node));
            return li;
          }),
        ),
      )
    : null;

  const pluginErrors = Object.entries(enrich.errors(trace.enrichment));
  const header = h(
    "header",
    { class: "trace-header" },
    h("div", { class: "crumbs" }, link("← Traces", ["traces"])),
    h("h1", { text: root ? root.name : "(empty trace)" }),
    h(
      "p",
      { class: "muted meta" },
      h("code", { text: trace.trace_id }),
      ` · ${fmt.time(start)}`,
      root && root.service_name ? ` · ${root.service_name}` : "",
      root && root.environment ? ` · ${root.environment}` : "",
    ),
    stats,
    pluginErrors.length
      ? notice(
          "warn",
          ...pluginErrors.map(([plugin, message]) => `Enrichment plugin ${plugin} failed: ${message}`),
        )
      : null,
    anomalyList,
    scoreBox,
    testBox,
  );

  // ---------------------------------------------------------------- waterfall + panel
  const panel = h("aside", { class: "panel", attrs: { "aria-label": "Span details", hidden: true } });
  const layout = h("div", { class: "trace-layout" });

  function close() {
    panel.hidden = true;
    layout.classList.remove("with-panel");
    go(route(`trace/${encodeURIComponent(traceId)}`), { replace: true });
    waterfall.scroller.focus({ preventScroll: true });
  }

  // The trace answer has each span's summary; its attributes, events, links and resource
  // are fetched when the span is opened (kept for this page, so reopening is instant).
  const details = new Map();
  let opening = 0;
  function spanDetail(spanId) {
    if (!details.has(spanId)) {
      const path = `/api/v1/traces/${encodeURIComponent(traceId)}/spans/${encodeURIComponent(spanId)}`;
      const request = get(path, null, { signal: ctx.signal });
      request.catch(() => details.delete(spanId)); // a failed fetch is retried next time
      details.set(spanId, request);
    }
    return details.get(spanId);
  }

  async function open(index) {
    const lean = spans[index];
    if (!lean) return;
    const mine = ++opening;
    panel.hidden = false;
    layout.classList.add("with-panel");
    go(route(`trace/${encodeURIComponent(traceId)}`, { span: lean.span_id }), { replace: true });
    if (!details.has(lean.span_id)) mount(panel, h("p", { class: "muted", text: `Loading ${lean.name}…` }));
    let span;
    try {
      span = await spanDetail(lean.span_id);
    } catch (failure) {
      if (mine !== opening || !ctx.isCurrent() || failure.name === "AbortError") return;
      mount(panel, notice("error", `The span could not be loaded: ${failure.message}`));
      return;
    }
    if (mine !== opening || !ctx.isCurrent()) return;
    // Per-span plugin results: on the span itself, or in the trace's enrichment.
    const own = span.enrichment && typeof span.enrichment === "object" ? span.enrichment : null;
    const results = own || enrich.spanResults(trace.enrichment, span.span_id);
    const spanAnomalies = findings.filter((a) => a.span_id === span.span_id);
    const spanScores = scores.filter((score) => score.span_id === span.span_id);
    mount(panel, spanPanel(span, { results, spanAnomalies, spanScores, traceStartNs: start, onClose: close }));
    panel.scrollTop = 0;
  }

  waterfall = new Waterfall(spans, start, totalMs, {
    onSelect: () => {},
    onOpen: (index) => open(index),
  });
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });
  waterfall.scroller.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) close();
  });

  layout.append(waterfall.el, panel);
  mount(view, header, layout);
  document.title = `${root ? root.name : trace.trace_id} · spanlink`;

  const fit = () => {
    const top = waterfall.scroller.getBoundingClientRect().top + window.scrollY;
    const available = window.innerHeight - Math.max(0, top - window.scrollY) - 12;
    waterfall.scroller.style.height = `${Math.max(260, Math.min(available, spans.length * 26 + 4))}px`;
    waterfall.render(true);
  };
  fit();
  window.addEventListener("resize", fit);
  ctx.onCleanup(() => window.removeEventListener("resize", fit));

  const wanted = ctx.params.get("span");
  const index = wanted ? byId.get(wanted) : undefined;
  if (index !== undefined) {
    waterfall.select(index);
    open(index);
  }
  waterfall.scroller.focus({ preventScroll: true });
  view.dataset.rendered = "trace";
  // Lets tests and the benchmark read the time to first render (ms since navigation).
  performance.mark("spanlink:trace-rendered");
}
