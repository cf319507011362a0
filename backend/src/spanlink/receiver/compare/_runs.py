"""Run comparison: cases matched by id, classified, with their reasons and deltas.

A case is ``new`` (only in the run), ``removed`` (only in the baseline), ``fixed`` (failed
before, passes now), ``still_failing``, ``regressed`` or ``unchanged``. A case that passed in
the baseline *regresses* when it no longer passes, or when, still passing, a score or its
cost, tokens or latency got worse beyond ``Thresholds``. Each regression lists its reasons.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from spanlink.receiver.compare._records import CaseResult, RunRecord, Thresholds
from spanlink.receiver.compare._stats import describe
from spanlink.tracer.model import Score

__all__ = ["CHANGES", "DEFAULT_THRESHOLDS", "compare_runs", "first_seen", "regression_reasons"]

#: Change kinds, in the order the answer lists cases.
CHANGES = ("regressed", "fixed", "still_failing", "new", "removed", "unchanged")
DEFAULT_THRESHOLDS = Thresholds()
# Float noise: 0.9 - 0.8 is 0.0999...; a drop "of at least 0.1" must include it.
_EPSILON = 1e-9
_METRICS = (
    ("latency_ms", "latency", "latency_ratio", "latency_floor_ms"),
    ("tokens", "tokens", "tokens_ratio", "tokens_floor"),
    ("cost_usd", "cost", "cost_ratio", "cost_floor_usd"),
)


def _score_reason(
    name: str, base: Score, run: Score, thresholds: Thresholds
) -> dict[str, Any] | None:
    if base.passed is True and run.passed is False:
        return {
            "kind": "score",
            "evaluator": name,
            "baseline": base.value,
            "run": run.value,
            "message": f"score {name}: passed -> failed",
        }
    if base.value is None or run.value is None:
        return None
    sign = -1.0 if name in thresholds.lower_is_better else 1.0
    drop = (base.value - run.value) * sign
    limit = thresholds.score_drop.get(name)
    if limit is None:
        within_unit = 0.0 <= base.value <= 1.0 and 0.0 <= run.value <= 1.0
        scale = 1.0 if within_unit else abs(base.value)
        limit = thresholds.default_score_drop * scale
    if drop <= 0 or drop < limit - _EPSILON:
        return None
    word = "rose" if sign < 0 else "dropped"
    return {
        "kind": "score",
        "evaluator": name,
        "baseline": base.value,
        "run": run.value,
        "delta": run.value - base.value,
        "threshold": limit,
        "message": f"score {name} {word} {base.value:g} -> {run.value:g} (threshold {limit:g})",
    }


def _metric_reason(
    kind: str, base: float | None, run: float | None, ratio: float, floor: float
) -> dict[str, Any] | None:
    if base is None or run is None:
        return None
    delta = run - base
    if delta <= 0 or delta < floor - _EPSILON:
        return None
    if base > 0 and delta / base <= ratio + _EPSILON:
        return None
    rise = f"+{delta / base:.0%}" if base > 0 else "from zero"
    return {
        "kind": kind,
        "baseline": base,
        "run": run,
        "delta": delta,
        "ratio": delta / base if base > 0 else None,
        "message": f"{kind} {base:g} -> {run:g} ({rise})",
    }


def regression_reasons(
    base: CaseResult, run: CaseResult, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> list[dict[str, Any]]:
    """Why ``run`` is a regression of ``base`` (empty: it is not).

    Only a case that passed in the baseline can regress. Each reason is a dict with
    ``kind`` (``status``, ``score``, ``latency``, ``tokens``, ``cost``), the two values, and a
    ``message``; score reasons name their ``evaluator``.
    """
    if not base.passed:
        return []
    reasons: list[dict[str, Any]] = []
    if not run.passed:
        reasons.append(
            {
                "kind": "status",
                "baseline": base.status,
                "run": run.status,
                "message": f"status {base.status} -> {run.status}",
            }
        )
    for name in sorted(base.scores.keys() & run.scores.keys()):
        reason = _score_reason(name, base.scores[name], run.scores[name], thresholds)
        if reason is not None:
            reasons.append(reason)
    for field, kind, ratio, floor in _METRICS:
        reason = _metric_reason(
            kind,
            getattr(base, field),
            getattr(run, field),
            getattr(thresholds, ratio),
            getattr(thresholds, floor),
        )
        if reason is not None:
            reasons.append(reason)
    return reasons


def _reason_key(reason: Mapping[str, Any]) -> str:
    evaluator = reason.get("evaluator")
    return f"{reason['kind']}:{evaluator}" if evaluator else str(reason["kind"])


def _delta(base: float | None, run: float | None) -> dict[str, Any]:
    known = base is not None and run is not None
    return {"baseline": base, "run": run, "delta": run - base if known else None}  # type: ignore[operator]


def _case_deltas(base: CaseResult | None, run: CaseResult | None) -> dict[str, Any]:
    scores: dict[str, Any] = {}
    names = set(base.scores if base else ()) | set(run.scores if run else ())
    for name in sorted(names):
        b = base.scores.get(name) if base else None
        r = run.scores.get(name) if run else None
        entry = _delta(b.value if b else None, r.value if r else None)
        entry["baseline_passed"] = b.passed if b else None
        entry["run_passed"] = r.passed if r else None
        scores[name] = entry
    return {
        "status": {"baseline": base.status if base else None, "run": run.status if run else None},
        "scores": scores,
        "latency_ms": _delta(base.latency_ms if base else None, run.latency_ms if run else None),
        "tokens": _delta(base.tokens if base else None, run.tokens if run else None),
        "cost_usd": _delta(base.cost_usd if base else None, run.cost_usd if run else None),
        "anomalies": {
            "added": sorted(
                (run.anomalies if run else frozenset()) - (base.anomalies if base else frozenset())
            ),
            "removed": sorted(
                (base.anomalies if base else frozenset()) - (run.anomalies if run else frozenset())
            ),
        },
    }


def _by_case(run: RunRecord, warnings: list[str], label: str) -> dict[str, CaseResult]:
    cases: dict[str, CaseResult] = {}
    repeated: set[str] = set()
    for case in run.cases:
        if case.case_id in cases:
            repeated.add(case.case_id)
        cases[case.case_id] = case
    if repeated:
        shown = ", ".join(sorted(repeated)[:5])
        warnings.append(
            f"{label} run {run.id} has several results for {len(repeated)} case(s) ({shown}); "
            "the last result of each is compared"
        )
    return cases


def _classify(base: CaseResult | None, run: CaseResult | None, reasons: list[Any]) -> str:
    if base is None:
        return "new"
    if run is None:
        return "removed"
    if reasons:
        return "regressed"
    if run.passed:
        return "unchanged" if base.passed else "fixed"
    return "still_failing"


def _run_summary(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name,
        "status": run.status,
        "dataset": run.dataset,
        "commit": run.commit,
        "branch": run.branch,
        "created_at": run.created_at,
        "cases": len(run.cases),
    }


def _totals(cases: Iterable[CaseResult]) -> dict[str, Any]:
    items = list(cases)
    costs = [c.cost_usd for c in items if c.cost_usd is not None]
    return {
        "cases": len(items),
        "passed": sum(1 for c in items if c.passed),
        "pass_rate": sum(1 for c in items if c.passed) / len(items) if items else None,
        "latency_ms": math.fsum(c.latency_ms for c in items if c.latency_ms is not None),
        "tokens": sum(c.tokens for c in items if c.tokens is not None),
        "cost_usd": math.fsum(costs) if costs else None,
        "cost_unknown_cases": len(items) - len(costs),
    }


def _metric_summary(bases: list[CaseResult], runs: list[CaseResult], field: str) -> dict[str, Any]:
    known_base: list[float] = []
    known_run: list[float] = []
    for b, r in zip(bases, runs, strict=True):
        vb, vr = getattr(b, field), getattr(r, field)
        if vb is not None and vr is not None:
            known_base.append(float(vb))
            known_run.append(float(vr))
    base = describe(known_base)
    run = describe(known_run)
    delta = {k: None if base[k] is None else run[k] - base[k] for k in base}  # type: ignore[operator]
    return {"cases": len(known_base), "baseline": base, "run": run, "delta": delta}


def _score_summary(bases: list[CaseResult], runs: list[CaseResult]) -> dict[str, Any]:
    deltas: dict[str, list[float]] = {}
    for b, r in zip(bases, runs, strict=True):
        for name in b.scores.keys() & r.scores.keys():
            vb, vr = b.scores[name].value, r.scores[name].value
            if vb is not None and vr is not None:
                deltas.setdefault(name, []).append(vr - vb)
    return {
        name: {"cases": len(values), **describe(values)} for name, values in sorted(deltas.items())
    }


def compare_runs(
    run: RunRecord,
    baseline: RunRecord,
    *,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    intermediates: Sequence[RunRecord] | None = None,
) -> dict[str, Any]:
    """Compare ``run`` with ``baseline`` case by case.

    ``intermediates`` are the runs between the two on one branch, oldest first; when given,
    each regression names the run it first appeared in (``first_seen``). The answer::

        {"run": {...}, "baseline": {...}, "warnings": [...],
         "summary": {"counts": {change: n}, "totals": {"run", "baseline", "cost_usd_delta"},
                     "deltas": {"latency_ms", "tokens", "cost_usd", "scores", "pass_rate"}},
         "cases": [{"case_id", "change", "reasons", "deltas", "traces", "result_ids"}],
         "regressions": [{"case_id", "reasons", "first_seen"?, "traces"}]}

    Cases are listed regressions first, then by change kind (``CHANGES``) and case id.
    """
    warnings: list[str] = []
    if run.id == baseline.id:
        warnings.append("the run is compared with itself: every case is unchanged")
    if run.dataset != baseline.dataset:
        warnings.append(
            f"the runs are of different datasets ({run.dataset!r} and {baseline.dataset!r}); "
            "cases are matched by id"
        )
    base_cases = _by_case(baseline, warnings, "baseline")
    run_cases = _by_case(run, warnings, "the compared")
    cases: list[dict[str, Any]] = []
    # The cases in both runs, as two parallel lists: a list of pairs would be a tuple per
    # case that the collector tracks for the whole call.
    paired_base: list[CaseResult] = []
    paired_run: list[CaseResult] = []
    wanted: dict[str, set[str]] = {}
    for case_id in sorted(base_cases.keys() | run_cases.keys()):
        b, r = base_cases.get(case_id), run_cases.get(case_id)
        reasons: list[dict[str, Any]] = []
        if b is not None and r is not None:
            reasons = regression_reasons(b, r, thresholds)
            paired_base.append(b)
            paired_run.append(r)
            if reasons:
                wanted[case_id] = {_reason_key(reason) for reason in reasons}
        cases.append(
            {
                "case_id": case_id,
                "change": _classify(b, r, reasons),
                "reasons": reasons,
                "deltas": _case_deltas(b, r),
                "traces": {
                    "run": list(r.trace_ids) if r else [],
                    "baseline": list(b.trace_ids) if b else [],
                },
                "result_ids": {
                    "run": r.result_id if r else None,
                    "baseline": b.result_id if b else None,
                },
            }
        )
    order = {change: i for i, change in enumerate(CHANGES)}
    # Built in case id order, so a stable sort on the change kind alone keeps case ids
    # ascending within each kind (no key tuple per case).
    cases.sort(key=lambda c: order[c["change"]])
    regressions = [
        {"case_id": c["case_id"], "reasons": c["reasons"], "traces": c["traces"]}
        for c in cases
        if c["change"] == "regressed"
    ]
    if intermediates is not None:
        # The regressions found above are what first_seen would compute again.
        seen = _first_seen(base_cases, wanted, intermediates, run, thresholds)
        for item in regressions:
            item["first_seen"] = seen.get(item["case_id"])
    totals_run = _totals(run_cases.values())
    totals_base = _totals(base_cases.values())
    cost_delta = (
        totals_run["cost_usd"] - totals_base["cost_usd"]
        if totals_run["cost_usd"] is not None and totals_base["cost_usd"] is not None
        else None
    )
    pass_rate = (
        totals_run["pass_rate"] - totals_base["pass_rate"]
        if totals_run["pass_rate"] is not None and totals_base["pass_rate"] is not None
        else None
    )
    counts = dict.fromkeys(CHANGES, 0)
    for c in cases:
        counts[c["change"]] += 1
    return {
        "run": _run_summary(run),
        "baseline": _run_summary(baseline),
        "warnings": warnings,
        "summary": {
            "counts": counts,
            "totals": {"run": totals_run, "baseline": totals_base, "cost_usd_delta": cost_delta},
            "deltas": {
                "pass_rate": pass_rate,
                "latency_ms": _metric_summary(paired_base, paired_run, "latency_ms"),
                "tokens": _metric_summary(paired_base, paired_run, "tokens"),
                "cost_usd": _metric_summary(paired_base, paired_run, "cost_usd"),
                "scores": _score_summary(paired_base, paired_run),
            },
        },
        "cases": cases,
        "regressions": regressions,
    }


def first_seen(
    baseline: RunRecord,
    intermediates: Sequence[RunRecord],
    run: RunRecord,
    *,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> dict[str, dict[str, Any]]:
    """For each regression of ``run`` against ``baseline``, the first run that showed it.

    ``intermediates`` are the runs between the two on one branch, oldest first. A run
    "shows" a regression when its result of the case regresses against the baseline for
    one of the same reasons (same kind, same evaluator); runs without the case are skipped.
    When none of them does, it is ``run`` itself. Answer: ``case_id -> {"run_id",
    "commit", "reasons": [reason keys seen there]}``.
    """
    # The last result of a repeated case id counts, as in compare_runs.
    base_cases = {case.case_id: case for case in baseline.cases}
    latest = {case.case_id: case for case in run.cases}
    wanted: dict[str, set[str]] = {}
    for case_id, base in base_cases.items():
        if case_id in latest:
            reasons = regression_reasons(base, latest[case_id], thresholds)
            if reasons:
                wanted[case_id] = {_reason_key(reason) for reason in reasons}
    return _first_seen(base_cases, wanted, intermediates, run, thresholds)


def _first_seen(
    base_cases: Mapping[str, CaseResult],
    wanted: Mapping[str, set[str]],
    intermediates: Sequence[RunRecord],
    run: RunRecord,
    thresholds: Thresholds,
) -> dict[str, dict[str, Any]]:
    """``first_seen`` given the baseline's cases and the run's regressions' reason keys."""
    found: dict[str, dict[str, Any]] = {}
    for candidate in intermediates:
        if len(found) == len(wanted):
            break
        # Only the still wanted cases are compared; the last result of a repeated id counts.
        latest = {case.case_id: case for case in candidate.cases if case.case_id in wanted}
        for case_id in sorted(latest):
            if case_id in found:
                continue
            reasons = regression_reasons(base_cases[case_id], latest[case_id], thresholds)
            shared = {_reason_key(reason) for reason in reasons} & wanted[case_id]
            if shared:
                found[case_id] = {
                    "run_id": candidate.id,
                    "commit": candidate.commit,
                    "reasons": sorted(shared),
                }
    # The run itself shows each of its regressions with all of their reasons.
    for case_id in sorted(wanted):
        if case_id not in found:
            found[case_id] = {
                "run_id": run.id,
                "commit": run.commit,
                "reasons": sorted(wanted[case_id]),
            }
    return found
