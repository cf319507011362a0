// The comparison page: a run against its baseline, case by case. Regressions come first with
// their reasons and deltas, then every other case; the change kind filter lives in the URL.
// Also the run page's "compare with" control that opens it.

import { get, pathSegment } from "./api.js";
import { h, link, mount, notice, route } from "./dom.js";
import * as fmt from "./format.js";
import { go } from "./router.js";

/** Change kinds in the order the receiver lists them. */
export const CHANGES = ["regressed", "fixed", "still_failing", "new", "removed", "unchanged"];
const LABELS = {
  regressed: "regressed",
  fixed: "fixed",
  still_failing: "still failing",
  new: "new",
  removed: "removed",
  unchanged: "unchanged",
};

function signed(value, format) {
  if (value === null || value === undefined) return "—";
  const text = format(Math.abs(value));
  return value > 0 ? `+${text}` : value < 0 ? `−${text}` : format(0);
}

function ratio(delta) {
  if (delta.baseline && delta.delta && delta.baseline > 0) {
    const r = delta.delta / delta.baseline;
    return ` (${r >= 0 ? "+" : "−"}${fmt.percent(Math.abs(r))})`;
  }
  return "";
}

function metric(label, delta, format, cls) {
  if (!delta || (delta.baseline == null && delta.run == null)) return null;
  const worse = delta.delta !== null && delta.delta > 0;
  return h(
    "span",
    { class: `delta ${cls} ${worse ? "up" : delta.delta < 0 ? "down" : ""}`, dataset: { metric: cls } },
    h("span", { class: "delta-label", text: `${label} ` }),
    `${format(delta.baseline)} → ${format(delta.run)} `,
    h("span", { class: "delta-value", text: delta.delta === 0 ? "no change" : `${signed(delta.delta, format)}${ratio(delta)}` }),
  );
}

/** A case's deltas: latency, tokens, cost, each score, anomalies added/removed. */
export function deltasView(deltas) {
  if (!deltas) return h("span", { class: "muted", text: "—" });
  const parts = [
    metric("latency", deltas.latency_ms, fmt.duration, "latency"),
    metric("tokens", deltas.tokens, fmt.integer, "tokens"),
    metric("cost", deltas.cost_usd, fmt.cost, "cost"),
  ];
  for (const [name, score] of Object.entries(deltas.scores || {})) {
    const value = (v) => (v === null || v === undefined ? "—" : Number(v).toLocaleString("en-US", { maximumFractionDigits: 3 }));
    parts.push(
      h(
        "span",
        { class: "delta delta-score", dataset: { metric: `score:${name}` } },
        h("span", { class: "delta-label", text: `${name} ` }),
        `${value(score.baseline)} → ${value(score.run)}`,
        score.delta !== null && score.delta !== undefined
          ? h("span", { class: "delta-value", text: ` ${signed(score.delta, value)}` })
          : null,
      ),
    );
  }
  const anomalies = deltas.anomalies || {};
  if ((anomalies.added || []).length) parts.push(h("span", { class: "delta anomalies up", text: `anomalies +${anomalies.added.join(", +")}` }));
  if ((anomalies.removed || []).length) parts.push(h("span", { class: "delta anomalies down", text: `anomalies −${anomalies.removed.join(", −")}` }));
  const shown = parts.filter(Boolean);
  return shown.length ? h("div", { class: "deltas" }, shown) : h("span", { class: "muted", text: "—" });
}

/** The route of the structural diff of a case's first trace in both runs, or null. */
export function diffRoute(traces) {
  const a = (traces?.baseline || [])[0];
  const b = (traces?.run || [])[0];
  return a && b ? route(`diff/${encodeURIComponent(a)}/${encodeURIComponent(b)}`) : null;
}

function traceLinks(traces) {
  const diff = diffRoute(traces);
  const items = [];
  if (diff) items.push(h("a", { class: "diff-link", attrs: { href: diff }, text: "diff traces" }));
  const run = (traces?.run || [])[0];
  const base = (traces?.baseline || [])[0];
  if (run) items.push(link("run trace", ["trace", run], null, "trace-link"));
  if (base) items.push(link("baseline trace", ["trace", base], null, "trace-link"));
  return items.length ? h("div", { class: "links" }, items) : "—";
}

function changeBadge(change) {
  return h("span", { class: `badge change-${change}`, text: LABELS[change] || change });
}

function reasonsView(item, firstSeen) {
  const reasons = item.reasons || [];
  return h(
    "div",
    { class: "reasons" },
    reasons.length
      ? h("ul", {}, reasons.map((r) => h("li", { dataset: { kind: String(r.kind ?? "") }, text: String(r.message ?? r.kind) })))
      : null,
    firstSeen
      ? h("p", { class: "muted first-seen", text: `first seen in run ${firstSeen.run_id}${firstSeen.commit ? ` (commit ${String(firstSeen.commit).slice(0, 12)})` : ""}` })
      : null,
  );
}

function caseRow(item, firstSeen) {
  return h(
    "tr",
    { class: `change-${item.change}`, dataset: { caseId: String(item.case_id), change: item.change } },
    h("td", { class: "mono name-cell", text: String(item.case_id) }),
    h("td", {}, changeBadge(item.change)),
    h("td", {}, reasonsView(item, firstSeen)),
    h("td", {}, deltasView(item.deltas)),
    h("td", {}, traceLinks(item.traces)),
  );
}

function table(cls, rows) {
  const headers = ["Case", "Change", "Reasons", "Deltas", "Traces"];
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: `data compare ${cls}` },
      h("thead", {}, h("tr", {}, headers.map((text) => h("th", { attrs: { scope: "col" }, text })))),
      h("tbody", {}, rows),
    ),
  );
}

function runLabel(side) {
  const parts = [side.name || side.id];
  if (side.commit) parts.push(`commit ${String(side.commit).slice(0, 12)}`);
  if (side.branch) parts.push(`on ${side.branch}`);
  return parts.join(" · ");
}

function summaryView(answer) {
  const totals = answer.summary?.totals || {};
  const deltas = answer.summary?.deltas || {};
  const stat = (label, value) =>
    h("div", { class: "stat" }, h("div", { class: "stat-label", text: label }), h("div", { class: "stat-value", text: value }));
  const passRate = (t) => (t && t.pass_rate !== null && t.pass_rate !== undefined ? fmt.percent(t.pass_rate) : "—");
  return h(
    "div",
    { class: "stats compare-stats" },
    stat("Pass rate", `${passRate(totals.baseline)} → ${passRate(totals.run)}`),
    stat("Cost", `${fmt.cost(totals.baseline?.cost_usd)} → ${fmt.cost(totals.run?.cost_usd)}`),
    stat("Mean latency Δ", signed(deltas.latency_ms?.delta?.mean, fmt.duration)),
    stat("p95 latency Δ", signed(deltas.latency_ms?.delta?.p95, fmt.duration)),
    stat("Tokens Δ (mean)", signed(deltas.tokens?.delta?.mean, (v) => fmt.integer(Math.round(v)))),
  );
}

function filterBar(counts, selected, onPick) {
  const button = (kind, label, n) =>
    h("button", {
      class: `chip ${selected === kind ? "on" : ""}`,
      attrs: { type: "button", "aria-pressed": selected === kind ? "true" : "false" },
      dataset: { filter: kind },
      text: `${label} ${fmt.integer(n)}`,
      on: { click: () => onPick(kind) },
    });
  const total = CHANGES.reduce((sum, kind) => sum + (counts[kind] || 0), 0);
  return h(
    "div",
    { class: "change-filter", attrs: { role: "group", "aria-label": "Show cases by change" } },
    button("all", "all", total),
    CHANGES.map((kind) => button(kind, LABELS[kind], counts[kind] || 0)),
  );
}

/** The hash route of a comparison (`change` empty: every case). */
export function compareRoute(runId, baseline, change) {
  return route(`compare/${encodeURIComponent(runId)}`, { baseline: baseline || "auto", change });
}

/**
 * "Compare with [baseline ▾] [Compare]" on the run page: the latest finished run of the same
 * suite on the baseline branch (auto), or any other run of the project.
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

export async function renderCompare(view, runId, ctx) {
  const baseline = ctx.params.get("baseline") || "auto";
  const wanted = ctx.params.get("change") || "all";
  mount(view, h("p", { class: "muted", text: "Comparing…" }));
  let answer;
  try {
    const segment = pathSegment(runId);
    if (segment === null) throw Object.assign(new Error(`“${runId}” is not a run id.`), { status: 422 });
    answer = await get(`/api/v1/test-runs/${segment}/compare`, { baseline }, { signal: ctx.signal });
  } catch (failure) {
    if (!ctx.isCurrent() || failure.name === "AbortError") throw failure;
    if (failure.status === 404 || failure.status === 422) {
      mount(view, h("div", { class: "crumbs" }, link("← Test run", ["run", runId])), notice("error", failure.message));
      view.dataset.rendered = "compare";
      return;
    }
    throw failure;
  }
  if (!ctx.isCurrent()) return;
  const firstSeen = {};
  for (const r of answer.regressions || []) if (r.first_seen) firstSeen[r.case_id] = r.first_seen;
  const cases = answer.cases || [];
  const counts = answer.summary?.counts || {};
  const list = h("div", { class: "compare-cases" });

  const show = (kind) => {
    const keep = (c) => kind === "all" || c.change === kind;
    const regressions = cases.filter((c) => c.change === "regressed" && keep(c));
    const others = cases.filter((c) => c.change !== "regressed" && keep(c));
    mount(
      list,
      regressions.length
        ? [h("h2", { text: `Regressions (${regressions.length})` }), table("regressions", regressions.map((c) => caseRow(c, firstSeen[c.case_id])))]
        : kind === "all" || kind === "regressed"
          ? notice("info", "No regressions against this baseline.")
          : null,
      others.length ? [h("h2", { text: kind === "all" ? "Everything else" : LABELS[kind] }), table("others", others.map((c) => caseRow(c)))] : null,
      !regressions.length && !others.length && kind !== "all" && kind !== "regressed"
        ? notice("info", `No ${LABELS[kind] || kind} cases.`)
        : null,
    );
    for (const chip of view.querySelectorAll(".change-filter .chip")) {
      const on = chip.dataset.filter === kind;
      chip.classList.toggle("on", on);
      chip.setAttribute("aria-pressed", on ? "true" : "false");
    }
    view.dataset.changeFilter = kind;
  };
  const pick = (kind) => {
    go(compareRoute(runId, baseline, kind === "all" ? "" : kind), { replace: true });
    show(kind);
  };

  mount(
    view,
    h("div", { class: "crumbs" }, link("← Test run", ["run", runId])),
    h("h1", {}, "Comparison"),
    h(
      "dl",
      { class: "kv inline compare-runs" },
      h("dt", { text: "Run" }),
      h("dd", {}, link(runLabel(answer.run), ["run", answer.run.id], null, "run-link")),
      h("dt", { text: answer.baseline.selected === "auto" ? "Baseline (auto)" : "Baseline" }),
      h("dd", {}, link(runLabel(answer.baseline), ["run", answer.baseline.id], null, "baseline-link")),
    ),
    (answer.warnings || []).length ? notice("warn", ...answer.warnings) : null,
    summaryView(answer),
    filterBar(counts, wanted, pick),
    list,
  );
  show(CHANGES.includes(wanted) ? wanted : "all");
  view.dataset.rendered = "compare";
}
