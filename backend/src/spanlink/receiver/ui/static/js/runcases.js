// The run page's additions: each case's scores, its inputs, output and expected output, and
// the "compare with" control that opens the comparison page against another run.

import { get } from "./api.js";
import { h, route } from "./dom.js";
import * as fmt from "./format.js";
import { valueView } from "./json.js";
import { go } from "./router.js";

/** One score as a compact badge: name, value or label, pass/fail. */
export function scoreBadge(score) {
  const passed = score.passed === true ? "pass" : score.passed === false ? "fail" : "unknown";
  const value =
    score.value !== null && score.value !== undefined
      ? Number(score.value).toLocaleString("en-US", { maximumFractionDigits: 3 })
      : score.label ?? (score.error ? "error" : "—");
  const mark = { pass: "✓", fail: "✗", unknown: "" }[passed];
  return h(
    "span",
    {
      class: `score score-${passed}`,
      dataset: { score: String(score.name ?? "") },
      attrs: { title: score.explanation || score.error || "" },
    },
    h("span", { class: "score-name", text: String(score.name ?? "score") }),
    h("span", { class: "score-value", text: ` ${value}${mark ? ` ${mark}` : ""}` }),
  );
}

/** The scores cell of a case row. */
export function scoresCell(result) {
  const scores = Array.isArray(result.scores) ? result.scores : [];
  return h("td", { class: "scores" }, scores.length ? scores.map(scoreBadge) : "—");
}

function present(value) {
  if (value === null || value === undefined || value === "") return false;
  if (typeof value === "object" && !Array.isArray(value)) return Object.keys(value).length > 0;
  return true;
}

function block(label, value, cls) {
  return h(
    "div",
    { class: `io-block ${cls}` },
    h("h3", { text: label }),
    present(value) ? valueView(typeof value === "string" ? value : JSON.stringify(value)) : h("span", { class: "muted", text: "—" }),
  );
}

/** The folded row under a case: inputs, output, expected output and score explanations. */
export function caseDetailRow(result, columns) {
  const scores = (Array.isArray(result.scores) ? result.scores : []).filter((s) => s.explanation || s.error);
  const output = present(result.output) ? result.output : result.partial_output;
  const details = h(
    "details",
    { class: "case-io" },
    h("summary", { text: "Input, output, expected" }),
    h(
      "div",
      { class: "io-grid" },
      block("Input", result.input, "io-input"),
      block("Output", output, "io-output"),
      block("Expected", result.expected_output, "io-expected"),
    ),
    scores.length
      ? h(
          "ul",
          { class: "score-notes" },
          scores.map((s) => h("li", {}, h("strong", { text: String(s.name) }), `: ${s.explanation || s.error}`)),
        )
      : null,
  );
  return h(
    "tr",
    { class: "case-detail", dataset: { detailOf: String(result.case_id ?? result.id ?? "") } },
    h("td", { attrs: { colspan: String(columns) } }, details),
  );
}

/** The hash route of a comparison. */
export function compareRoute(runId, baseline) {
  return route(`compare/${encodeURIComponent(runId)}`, { baseline: baseline || "auto" });
}

/**
 * "Compare with [baseline ▾] [Compare]": the latest finished run of the same suite on the
 * baseline branch (auto), or any other run of the project.
 */
export function compareControl(runId, { signal } = {}) {
  const select = h(
    "select",
    { attrs: { id: "compare-baseline", name: "baseline", "aria-label": "Baseline run" } },
    h("option", { attrs: { value: "auto" }, text: "auto (latest run of the suite on the base branch)" }),
  );
  const button = h("button", { attrs: { type: "submit" }, text: "Compare" });
  const form = h(
    "form",
    { class: "compare-with", attrs: { "aria-label": "Compare with another run" } },
    h("label", { attrs: { for: "compare-baseline" }, text: "Compare with" }),
    select,
    button,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go(compareRoute(runId, select.value));
  });
  get("/api/v1/test-runs", { limit: 100 }, { signal })
    .then((body) => {
      const runs = Array.isArray(body) ? body : body.items || body.runs || [];
      for (const run of runs) {
        const id = String(run.id ?? run.run_id ?? "");
        if (!id || id === runId) continue;
        const when = fmt.isoTime(run.created_at ?? run.started_at);
        select.append(h("option", { attrs: { value: id }, text: `${run.name || id} · ${when} · ${id.slice(0, 8)}` }));
      }
      form.dataset.loaded = "true";
    })
    .catch(() => {
      form.dataset.loaded = "failed"; // auto still works; the list is a convenience
    });
  return form;
}
