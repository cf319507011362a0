// Test runs: the list, and one run with its cases; a running run refreshes itself.

import { ApiError, get, pathSegment } from "./api.js";
import { h, link, mount, notice } from "./dom.js";
import * as fmt from "./format.js";
import { compareControl } from "./compare.js";
import { caseDetail, scoreSummary } from "./scores.js";

const REFRESH_MS = 2000;
const ACTIVE = new Set(["pending", "queued", "created", "running", "started", "in_progress"]);

function unavailable(failure) {
  if (failure instanceof ApiError && (failure.status === 404 || failure.status === 405)) {
    return notice(
      "warn",
      "Test runs are not available on this receiver: GET /api/v1/test-runs answered " +
        `${failure.status}. Upgrade spanlink-receiver to a version with test runs.`,
    );
  }
  return null;
}

function statusBadge(status) {
  const text = String(status ?? "unknown");
  return h("span", { class: `badge status-${text.toLowerCase().replace(/[^a-z_]/g, "")}`, text });
}

function items(body, ...keys) {
  if (Array.isArray(body)) return body;
  for (const key of keys) if (Array.isArray(body?.[key])) return body[key];
  return [];
}

function counts(run) {
  const progress = run.progress;
  if (progress && typeof progress === "object" && typeof progress.total === "number") {
    const parts = [`${fmt.integer(progress.done ?? 0)}/${fmt.integer(progress.total)} done`];
    for (const [status, n] of Object.entries(progress.counts || {})) {
      if (typeof n === "number" && n > 0) parts.push(`${status} ${fmt.integer(n)}`);
    }
    return parts.join(" · ");
  }
  const c = run.counts ?? run.summary ?? run.totals;
  if (c && typeof c === "object") {
    return Object.entries(c)
      .filter(([, v]) => typeof v === "number")
      .map(([k, v]) => `${k} ${fmt.integer(v)}`)
      .join(" · ");
  }
  const parts = [];
  for (const key of ["total", "passed", "failed", "errored", "pending"]) {
    if (typeof run[key] === "number") parts.push(`${key} ${fmt.integer(run[key])}`);
  }
  return parts.join(" · ") || "—";
}

export async function renderRuns(view, ctx) {
  const box = h("div", {}, h("p", { class: "muted", text: "Loading test runs…" }));
  mount(view, h("h1", { text: "Test runs" }), box);
  let body;
  try {
    body = await get("/api/v1/test-runs", { limit: 100 }, { signal: ctx.signal });
  } catch (failure) {
    const message = unavailable(failure);
    if (!message) throw failure;
    mount(box, message);
    view.dataset.rendered = "runs";
    return;
  }
  if (!ctx.isCurrent()) return;
  const runs = items(body, "items", "runs");
  if (!runs.length) {
    mount(box, notice("info", "No test runs yet."));
    view.dataset.rendered = "runs";
    return;
  }
  const headers = ["Run", "Name", "Status", "Environment", "Created", "Finished", "Results"];
  mount(
    box,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "data runs" },
        h("thead", {}, h("tr", {}, headers.map((text) => h("th", { attrs: { scope: "col" }, text })))),
        h(
          "tbody",
          {},
          runs.map((run) =>
            h(
              "tr",
              { dataset: { runId: String(run.id ?? run.run_id) } },
              h("td", {}, link(String(run.id ?? run.run_id), ["run", String(run.id ?? run.run_id)], null, "mono")),
              h("td", { text: run.name || "—" }),
              h("td", {}, statusBadge(run.status)),
              h("td", { text: run.environment || "—" }),
              h("td", { class: "nowrap", text: fmt.isoTime(run.created_at ?? run.started_at) }),
              h("td", { class: "nowrap", text: fmt.isoTime(run.finished_at) }),
              h("td", { text: counts(run) }),
            ),
          ),
        ),
      ),
    ),
  );
  view.dataset.rendered = "runs";
}

function caseTokens(r) {
  const linked = r.trace_id || (Array.isArray(r.trace_ids) && r.trace_ids.length);
  if (!linked && !r.total_tokens) return "—";
  if (r.total_tokens != null) return fmt.integer(r.total_tokens);
  if (r.input_tokens != null || r.output_tokens != null) return fmt.tokens(r.input_tokens, r.output_tokens);
  if (r.tokens != null && typeof r.tokens === "object") return fmt.tokens(r.tokens.input, r.tokens.output);
  return r.tokens != null ? fmt.integer(r.tokens) : "—";
}

function caseAnomalies(r) {
  const a = r.anomalies;
  if (Array.isArray(a)) return a.length ? a.map((x) => String(x.rule ?? x)).join(", ") : "0";
  if (typeof a === "number") return fmt.integer(a);
  if (a && typeof a === "object") return fmt.integer(a.total ?? Object.keys(a).length);
  return r.anomaly_count != null ? fmt.integer(r.anomaly_count) : "—";
}

function caseRow(r) {
  const traceId = r.trace_id ?? (Array.isArray(r.trace_ids) ? r.trace_ids[0] : null);
  const latency = r.duration_ms ?? r.latency_ms;
  const status = String(r.status ?? "");
  const row = h(
    "tr",
    {
      class: /fail|error/i.test(status) ? "has-error" : "",
      dataset: { caseId: String(r.case_id ?? r.id ?? "") },
    },
    h("td", { class: "mono", text: String(r.case_id ?? "—") }),
    h("td", {}, statusBadge(r.status)),
    h("td", { class: "num", text: fmt.duration(latency) }),
    h("td", { class: "num", text: caseTokens(r) }),
    h("td", { class: "num", text: fmt.cost(r.cost_usd ?? r.cost) }),
    h("td", { text: caseAnomalies(r) }),
    h("td", { class: "scores-summary", text: scoreSummary(r.scores) }),
    h("td", {}, traceId ? link("trace", ["trace", String(traceId)], null, "trace-link") : "—"),
    h("td", { class: "error-text", text: r.error ? String(r.error) : "" }),
  );
  // Inputs, output, expected and every score with its explanation, folded below the row.
  const detail = h(
    "tr",
    { class: "case-detail-row", dataset: { detailOf: String(r.case_id ?? r.id ?? "") } },
    h("td", { attrs: { colspan: 9 } }, caseDetail(r)),
  );
  return [row, detail];
}

/**
 * A run id the receiver has no record of — spans may carry any `spanlink.test.run_id`
 * (`run-42`) without a client ever reporting the run: the traces tagged with it.
 */
async function renderTaggedTraces(view, runId, ctx) {
  const body = await get("/api/v1/traces", { test_run_id: runId, limit: 100 }, { signal: ctx.signal });
  if (!ctx.isCurrent()) return;
  const traces = items(body, "items");
  const title = h("h1", {}, "Test run ", h("span", { class: "mono", text: runId }));
  const about = notice(
    "info",
    `The receiver has no record of test run ${runId}: no client reported it.` +
      (traces.length ? " These traces carry it as spanlink.test.run_id." : " No trace carries it as spanlink.test.run_id either."),
  );
  const rows = traces.map((t) =>
    h(
      "tr",
      { dataset: { traceId: String(t.trace_id) } },
      h("td", { class: "nowrap", text: fmt.time(t.start_time_unix_nano) }),
      h("td", {}, link(t.name || "(no root span)", ["trace", String(t.trace_id)], null, "trace-link")),
      h("td", { class: "mono", text: t.test_case_id || "—" }),
      h("td", { class: "num", text: fmt.duration(t.duration_ms) }),
      h("td", { class: "num", text: fmt.cost(t.cost_usd) }),
    ),
  );
  const headers = ["Start", "Root span", "Case", "Duration", "Cost"];
  mount(
    view,
    h("div", { class: "crumbs" }, link("← Test runs", ["runs"])),
    title,
    about,
    traces.length
      ? h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "data tagged-traces" },
            h("thead", {}, h("tr", {}, headers.map((text) => h("th", { attrs: { scope: "col" }, text })))),
            h("tbody", {}, rows),
          ),
        )
      : null,
    link("All traces of this run id", ["traces"], { test_run_id: runId }),
  );
  view.dataset.rendered = "run";
  view.dataset.runStatus = "unrecorded";
}

export async function renderRun(view, runId, ctx) {
  mount(view, h("p", { class: "muted", text: "Loading test run…" }));
  let timer = null;
  ctx.onCleanup(() => clearTimeout(timer));
  const title = h("h1", {}, "Test run ", h("span", { class: "mono", text: runId }));
  const meta = h("div", { class: "run-meta" });
  const live = h("p", { class: "muted live", attrs: { "aria-live": "polite" } });
  const box = h("div", {});
  let first = true;

  const segment = pathSegment(runId);
  if (segment === null) {
    await renderTaggedTraces(view, runId, ctx); // the receiver cannot have made this id
    return;
  }
  const load = async () => {
    let body;
    try {
      body = await get(`/api/v1/test-runs/${segment}`, null, { signal: ctx.signal });
    } catch (failure) {
      if (!ctx.isCurrent()) return;
      const message = unavailable(failure);
      if (failure instanceof ApiError && (failure.status === 404 || failure.status === 422) && first) {
        await renderTaggedTraces(view, runId, ctx);
        return;
      }
      if (message) {
        mount(view, link("← Test runs", ["runs"]), message);
        view.dataset.rendered = "run";
        return;
      }
      if (first) throw failure;
      live.textContent = `Refresh failed (${failure.message}); retrying…`;
      timer = setTimeout(load, REFRESH_MS * 2);
      return;
    }
    if (!ctx.isCurrent()) return;
    const run = body.run && typeof body.run === "object" ? { ...body.run } : body;
    const results = items(body, "results", "cases").length
      ? items(body, "results", "cases")
      : items(run, "results", "cases");
    const active = ACTIVE.has(String(run.status ?? "").toLowerCase());
    mount(
      meta,
      h(
        "dl",
        { class: "kv inline" },
        [
          ["Name", run.name || "—"],
          ["Status", statusBadge(run.status)],
          ["Started", fmt.isoTime(run.started_at ?? run.created_at)],
          ["Finished", fmt.isoTime(run.finished_at)],
          ["Results", counts(run)],
        ].map(([k, v]) => [h("dt", { text: k }), h("dd", {}, v)]),
      ),
    );
    const headers = ["Case", "Status", "Latency", "Tokens", "Cost", "Anomalies", "Scores", "Trace", "Error"];
    // A refresh keeps the case details the reader opened (the detail itself, not the JSON
    // nodes inside it, which start open).
    const opened = new Set(
      [...box.querySelectorAll("tr.case-detail-row")]
        .filter((row) => row.querySelector("details.case-detail")?.open)
        .map((row) => row.dataset.detailOf),
    );
    mount(
      box,
      results.length
        ? h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { class: "data cases" },
              h("thead", {}, h("tr", {}, headers.map((text) => h("th", { attrs: { scope: "col" }, text })))),
              h("tbody", {}, results.map(caseRow)),
            ),
          )
        : notice("info", "This run has no results yet."),
    );
    for (const row of box.querySelectorAll("tr.case-detail-row")) {
      if (opened.has(row.dataset.detailOf)) row.querySelector("details.case-detail").open = true;
    }
    live.textContent = active ? `Running — refreshing every ${REFRESH_MS / 1000} s…` : "";
    if (first) {
      const compare = compareControl(runId, { signal: ctx.signal });
      mount(view, h("div", { class: "crumbs" }, link("← Test runs", ["runs"])), title, meta, compare, live, box);
      first = false;
    }
    view.dataset.rendered = "run";
    view.dataset.runStatus = String(run.status ?? "");
    if (active) timer = setTimeout(load, REFRESH_MS);
  };
  await load();
}
