"""Run comparison: case matching, regression reasons, summary, first_seen."""

from __future__ import annotations

from typing import Any

import pytest
from compare_helpers import case, run

from spanlink.receiver.compare import (
    CHANGES,
    Thresholds,
    compare_runs,
    first_seen,
    regression_reasons,
)


def reasons(base: Any, new: Any, thresholds: Thresholds | None = None) -> list[str]:
    return [r["kind"] for r in regression_reasons(base, new, thresholds or Thresholds())]


def by_case(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["case_id"]: c for c in answer["cases"]}


def test_each_change_kind() -> None:
    baseline = run(
        "base",
        case("fixed", "failed"),
        case("regressed", "passed"),
        case("still", "failed"),
        case("same", "passed"),
        case("gone", "passed"),
    )
    current = run(
        "now",
        case("fixed", "passed"),
        case("regressed", "error"),
        case("still", "timeout"),
        case("same", "passed"),
        case("added", "passed"),
    )
    answer = compare_runs(current, baseline)
    changes = {c["case_id"]: c["change"] for c in answer["cases"]}
    assert changes == {
        "fixed": "fixed",
        "regressed": "regressed",
        "still": "still_failing",
        "same": "unchanged",
        "added": "new",
        "gone": "removed",
    }
    assert answer["summary"]["counts"] == {
        "regressed": 1,
        "fixed": 1,
        "still_failing": 1,
        "new": 1,
        "removed": 1,
        "unchanged": 1,
    }
    assert [c["change"] for c in answer["cases"]] == list(CHANGES)
    (regression,) = answer["regressions"]
    assert regression["case_id"] == "regressed"
    assert regression["reasons"][0]["message"] == "status passed -> error"
    assert regression["traces"] == {"run": ["trace-regressed"], "baseline": ["trace-regressed"]}
    assert "first_seen" not in regression
    assert answer["warnings"] == []


def test_score_verdict_passed_to_failed_is_a_regression() -> None:
    base = case("c", scores={"exact": (1.0, True)})
    new = case("c", scores={"exact": (1.0, False)})
    assert reasons(base, new) == ["score"]


def test_unit_score_drop_of_at_least_a_tenth_regresses() -> None:
    base = case("c", scores={"relevance": (0.9, True)})
    assert reasons(base, case("c", scores={"relevance": (0.8, True)})) == ["score"]
    assert reasons(base, case("c", scores={"relevance": (0.85, True)})) == []
    assert reasons(base, case("c", scores={"relevance": (0.95, True)})) == []


def test_score_thresholds_per_evaluator_and_direction() -> None:
    base = case("c", scores={"relevance": (0.9, None), "toxicity": (0.1, None)})
    new = case("c", scores={"relevance": (0.88, None), "toxicity": (0.3, None)})
    assert reasons(base, new) == []
    strict = Thresholds(score_drop={"relevance": 0.01}, lower_is_better=frozenset({"toxicity"}))
    found = regression_reasons(base, new, strict)
    assert [(r["kind"], r["evaluator"]) for r in found] == [
        ("score", "relevance"),
        ("score", "toxicity"),
    ]
    assert found[1]["message"] == "score toxicity rose 0.1 -> 0.3 (threshold 0.1)"


def test_scores_outside_zero_to_one_use_a_relative_default() -> None:
    base = case("c", scores={"stars": (8.0, None)})
    assert reasons(base, case("c", scores={"stars": (7.5, None)})) == []
    assert reasons(base, case("c", scores={"stars": (7.2, None)})) == ["score"]


@pytest.mark.parametrize(
    ("field", "base", "new", "regresses"),
    [
        ("cost_usd", 0.001, 0.0013, True),
        ("cost_usd", 0.001, 0.00115, False),  # +15% is within the ratio
        ("cost_usd", 0.00001, 0.00005, False),  # +400% but below the 0.0001 USD floor
        ("cost_usd", 0.0, 0.0002, True),  # from zero, above the floor
        ("cost_usd", None, 0.5, False),  # unknown cost: no verdict
        ("tokens", 100, 130, True),
        ("tokens", 20, 29, False),  # +45% but below the 10-token floor
        ("latency_ms", 100.0, 130.0, False),  # +30% but only 30 ms
        ("latency_ms", 200.0, 300.0, True),
        ("latency_ms", 1000.0, 1150.0, False),
    ],
)
def test_metric_regressions_need_ratio_and_floor(
    field: str, base: float | None, new: float | None, regresses: bool
) -> None:
    kind = {"cost_usd": "cost", "tokens": "tokens", "latency_ms": "latency"}[field]
    found = reasons(case("c", **{field: base}), case("c", **{field: new}))
    assert found == ([kind] if regresses else [])


def test_configurable_ratio() -> None:
    base, new = case("c", cost_usd=0.001), case("c", cost_usd=0.0013)
    assert reasons(base, new, Thresholds(cost_ratio=0.5)) == []


def test_a_failing_baseline_case_never_regresses() -> None:
    assert reasons(case("c", "failed", cost_usd=0.001), case("c", "failed", cost_usd=1.0)) == []


def test_regression_reasons_are_all_listed() -> None:
    base = case("c", scores={"s": (1.0, True)}, tokens=100, cost_usd=0.001)
    new = case("c", "failed", scores={"s": (0.0, False)}, tokens=500, cost_usd=0.01)
    assert reasons(base, new) == ["status", "score", "tokens", "cost"]


def test_deltas_and_anomalies_per_case() -> None:
    base = case("c", scores={"s": (0.5, True)}, anomalies=frozenset({"slow_span", "retry_loop"}))
    new = case(
        "c",
        scores={"s": (0.55, True)},
        latency_ms=120.0,
        anomalies=frozenset({"slow_span", "error"}),
    )
    deltas = by_case(compare_runs(run("r", new), run("b", base)))["c"]["deltas"]
    assert deltas["scores"]["s"]["delta"] == pytest.approx(0.05)
    assert deltas["latency_ms"] == {"baseline": 100.0, "run": 120.0, "delta": 20.0}
    assert deltas["anomalies"] == {"added": ["error"], "removed": ["retry_loop"]}


def test_summary_totals_and_deltas() -> None:
    base = run("b", *[case(f"c{i}", latency_ms=100.0, cost_usd=0.001) for i in range(20)])
    new = run(
        "r",
        *[case(f"c{i}", latency_ms=100.0 + i, cost_usd=0.002) for i in range(19)],
        case("c19", "failed", cost_usd=None),
    )
    summary = compare_runs(new, base)["summary"]
    assert summary["totals"]["run"]["cost_unknown_cases"] == 1
    assert summary["totals"]["cost_usd_delta"] == pytest.approx(19 * 0.002 - 20 * 0.001)
    assert summary["deltas"]["pass_rate"] == pytest.approx(-0.05)
    latency = summary["deltas"]["latency_ms"]
    assert latency["cases"] == 20
    assert latency["delta"]["mean"] == pytest.approx(sum(range(19)) / 20)
    # nearest-rank p95 of 20 values is the 19th: 117 in the run (100, 100, 101..118), 100 before
    assert latency["delta"]["p95"] == pytest.approx(17.0)
    assert summary["deltas"]["cost_usd"]["cases"] == 19


def test_runs_of_different_datasets_compare_with_a_warning() -> None:
    answer = compare_runs(run("r", case("c"), dataset="one"), run("b", case("c"), dataset="two"))
    assert answer["warnings"] == [
        "the runs are of different datasets ('one' and 'two'); cases are matched by id"
    ]
    assert answer["summary"]["counts"]["unchanged"] == 1


def test_a_run_compared_with_itself_is_all_unchanged_with_a_warning() -> None:
    same = run("r", case("a"), case("b", "failed"))
    answer = compare_runs(same, same)
    assert [c["change"] for c in answer["cases"]] == ["still_failing", "unchanged"]
    assert answer["warnings"] == ["the run is compared with itself: every case is unchanged"]


def test_repeated_case_ids_compare_the_last_with_a_warning() -> None:
    answer = compare_runs(run("r", case("c", "failed"), case("c")), run("b", case("c")))
    assert by_case(answer)["c"]["change"] == "unchanged"
    assert "several results for 1 case(s) (c)" in answer["warnings"][0]


def test_first_seen_names_the_first_run_with_the_same_reason() -> None:
    base = run("base", case("a"), case("b"), case("c"))
    runs = [
        run("r1", case("a"), case("b", cost_usd=0.01), case("c")),  # b: only a cost regression
        run("r2", case("a", "failed"), case("b")),  # a fails here first; c missing
        run("r3", case("a", "failed"), case("b", "failed"), case("c")),
    ]
    final = run("r4", case("a", "failed"), case("b", "failed"), case("c", tokens=1000))
    seen = first_seen(base, runs, final)
    assert seen == {
        "a": {"run_id": "r2", "commit": "c-r2", "reasons": ["status"]},
        "b": {"run_id": "r3", "commit": "c-r3", "reasons": ["status"]},
        "c": {"run_id": "r4", "commit": "c-r4", "reasons": ["tokens"]},
    }
    answer = compare_runs(final, base, intermediates=runs)
    assert {r["case_id"]: r["first_seen"]["run_id"] for r in answer["regressions"]} == {
        "a": "r2",
        "b": "r3",
        "c": "r4",
    }


def test_first_seen_with_no_intermediate_runs_is_the_run_itself() -> None:
    answer = compare_runs(run("r", case("a", "failed")), run("b", case("a")), intermediates=[])
    assert answer["regressions"][0]["first_seen"]["run_id"] == "r"


def test_negative_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match="cost_ratio"):
        Thresholds(cost_ratio=-1)
    with pytest.raises(ValueError, match="'s'"):
        Thresholds(score_drop={"s": -0.1})
