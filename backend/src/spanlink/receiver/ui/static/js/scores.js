// Scores and a case's details (inputs, output, expected): the run page's case rows and the
// trace page's span panel. Every value is untrusted text (see dom.js).

import { h } from "./dom.js";
import { jsonTree } from "./json.js";

function verdict(score) {
  if (score.error) return h("span", { class: "badge status-error", text: "error" });
  if (score.passed === true) return h("span", { class: "badge status-passed", text: "pass" });
  if (score.passed === false) return h("span", { class: "badge status-failed", text: "fail" });
  return h("span", { class: "badge", text: "—" });
}

/** "2/3 passed" (and errors) for a result's scores; "—" when it has none. */
export function scoreSummary(scores) {
  if (!Array.isArray(scores) || !scores.length) return "—";
  const judged = scores.filter((s) => s.passed === true || s.passed === false);
  const passed = judged.filter((s) => s.passed === true).length;
  const errors = scores.filter((s) => s.error).length;
  const parts = [judged.length ? `${passed}/${judged.length} passed` : `${scores.length} scored`];
  if (errors) parts.push(`${errors} error${errors > 1 ? "s" : ""}`);
  return parts.join(", ");
}

/** Every score: verdict, name (and evaluator), value, label, explanation or error. */
export function scoreList(scores) {
  return h(
    "ul",
    { class: "scores" },
    scores.map((score) =>
      h(
        "li",
        { class: "score", dataset: { score: String(score.name ?? "") } },
        verdict(score),
        " ",
        h("strong", { text: String(score.name ?? "score") }),
        score.evaluator && score.evaluator !== score.name
          ? h("span", { class: "muted", text: ` (${score.evaluator})` })
          : null,
        score.value !== null && score.value !== undefined
          ? h("span", { class: "score-value", text: ` ${Number(score.value).toPrecision(3).replace(/\.?0+$/, "")}` })
          : null,
        score.label ? h("span", { class: "score-label", text: ` ${score.label}` }) : null,
        score.error
          ? h("div", { class: "score-error error-text", text: String(score.error) })
          : score.explanation
            ? h("div", { class: "score-explanation", text: String(score.explanation) })
            : null,
      ),
    ),
  );
}

function block(part, title, value) {
  return h(
    "div",
    { class: `io io-${part}` },
    h("div", { class: "io-key", text: title }),
    h("div", { class: "json" }, jsonTree(value)),
  );
}

/** A case's inputs, output, expected output and scores, folded under a summary line. */
export function caseDetail(result) {
  const scores = Array.isArray(result.scores) ? result.scores : [];
  const output = result.output ?? result.partial_output;
  return h(
    "details",
    { class: "case-detail" },
    h("summary", { text: "Inputs, output and scores" }),
    block("inputs", "inputs", result.input ?? result.inputs ?? {}),
    block("output", result.output === undefined && result.partial_output !== undefined ? "output so far" : "output", output ?? null),
    result.expected_output !== null && result.expected_output !== undefined
      ? block("expected", "expected", result.expected_output)
      : null,
    scores.length ? scoreList(scores) : h("p", { class: "muted", text: "No scores." }),
  );
}
