"""The evaluation runner: finds evaluators, refuses bad configurations with every problem at
once, and judges a case without ever raising or hanging for a bad evaluator."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from spanlink.tracer.evaluation import (
    EvaluatorConfigError,
    aevaluate_case,
    evaluate_case,
    find_evaluators,
    validate_configs,
)
from spanlink.tracer.model import Case, EvaluatorConfig, Score, SpanRecord, Trace
from spanlink.tracer.plugins import get_plugin_manager, hookimpl

RELEASE = threading.Event()


@pytest.fixture(autouse=True)
def release_hung_evaluators() -> Iterator[None]:
    RELEASE.clear()
    yield
    RELEASE.set()  # lets the worker threads of hung evaluators finish


class Fake:
    """An evaluator whose behaviour is picked by ``mode``."""

    version = "9"

    def __init__(self, name: str, mode: str = "pass", needs_trace: bool = False) -> None:
        self.name = name
        self.mode = mode
        self.needs_trace = needs_trace
        self.seen: list[Any] = []

    def validate(self, params: Mapping[str, Any]) -> None:
        if "bad" in params:
            raise ValueError(f"{self.name}: 'bad' is not allowed")
        if "crash" in params:
            raise KeyError("oops")

    def evaluate(
        self,
        case: Case,
        output: Any,
        trace: Trace | None,
        *,
        params: Mapping[str, Any],
        threshold: float | None,
        enrichment: Mapping[str, Any] | None = None,
    ) -> Any:
        self.seen.append((case.id, output, trace, dict(params), threshold, enrichment))
        mode = self.mode
        if mode == "pass":
            return Score(self.name, value=1.0, passed=True)
        if mode == "fail":
            return Score(self.name, value=0.0, passed=False)
        if mode == "many":
            return (Score(f"{self.name}.{i}", value=1.0, passed=True) for i in range(3))
        if mode == "raise":
            raise RuntimeError("evaluator broke")
        if mode == "hang":
            RELEASE.wait(30)
            return Score(self.name, passed=True)
        if mode == "garbage":
            return {"score": 1}
        if mode == "empty":
            return []
        if mode == "bad_item":
            return [Score(self.name, passed=True), "nope"]
        if mode == "bad_generator":
            return _raising_generator(self.name)
        if mode in ("async", "async_fail", "async_hang", "async_raise"):
            return self._async(mode)
        raise AssertionError(mode)

    async def _async(self, mode: str) -> Score:
        if mode == "async_hang":
            await asyncio.sleep(30)
        if mode == "async_raise":
            raise ValueError("async evaluator broke")
        await asyncio.sleep(0)
        return Score(self.name, value=1.0, passed=mode == "async")


def _raising_generator(name: str) -> Iterator[Score]:
    yield Score(name, passed=True)
    raise RuntimeError("broke while iterating")


def _evaluators(*fakes: Fake) -> dict[str, Fake]:
    return {fake.name: fake for fake in fakes}


CASE = Case("case-1", {"q": "hi"}, expected="hello")


def test_status_follows_required_evaluators() -> None:
    evaluators = _evaluators(Fake("ok"), Fake("no", "fail"))
    result = evaluate_case(
        [EvaluatorConfig("ok"), EvaluatorConfig("no", required=False)],
        CASE,
        "out",
        None,
        evaluators=evaluators,
    )
    assert result.status == "passed" and result.passed
    assert [s.passed for s in result.scores] == [True, False]
    result = evaluate_case(
        [EvaluatorConfig("ok"), EvaluatorConfig("no")], CASE, "o", None, evaluators=evaluators
    )
    assert result.status == "failed"
    assert result.as_dict()["status"] == "failed"


def test_scores_are_stamped_with_the_evaluator_and_params_reach_it() -> None:
    fake = Fake("ok")
    enrichment = {"trace": {"cost": {"total_cost": 0.1}}}
    result = evaluate_case(
        [EvaluatorConfig("ok", {"x": 1}, threshold=0.5)],
        CASE,
        "out",
        None,
        evaluators=_evaluators(fake),
        enrichment=enrichment,
    )
    (score,) = result.scores
    assert (score.evaluator, score.evaluator_version) == ("ok", "9")
    assert fake.seen == [("case-1", "out", None, {"x": 1}, 0.5, enrichment)]


def test_the_trace_goes_only_to_evaluators_that_need_it() -> None:
    span = SpanRecord("a" * 32, "b" * 16, "root", 0, 10)
    trace = Trace.from_spans([span])
    reader, blind = Fake("reader", needs_trace=True), Fake("blind")
    evaluate_case(
        [EvaluatorConfig("reader"), EvaluatorConfig("blind")],
        CASE,
        "o",
        trace,
        evaluators=_evaluators(reader, blind),
    )
    assert reader.seen[0][2] is trace
    assert blind.seen[0][2] is None


def test_expected_without_configs_means_equals() -> None:
    equals = Fake("equals")
    result = evaluate_case([], CASE, "hello", None, evaluators=_evaluators(equals))
    assert result.status == "passed"
    assert [s.name for s in result.scores] == ["equals"]
    nothing = evaluate_case([], Case("c"), "x", None, evaluators=_evaluators(equals))
    assert nothing.status == "passed" and nothing.scores == ()


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("raise", "RuntimeError: evaluator broke"),
        ("garbage", "not a Score"),
        ("empty", "returned no scores"),
        ("bad_item", "not a Score"),
        ("bad_generator", "broke while iterating"),
        ("async_raise", "ValueError: async evaluator broke"),
    ],
)
def test_a_bad_evaluator_gives_an_error_score_and_the_case_error(mode: str, message: str) -> None:
    evaluators = _evaluators(Fake("bad", mode), Fake("ok"))
    configs = [EvaluatorConfig("bad"), EvaluatorConfig("ok")]
    for result in (
        evaluate_case(configs, CASE, "o", None, evaluators=evaluators),
        asyncio.run(aevaluate_case(configs, CASE, "o", None, evaluators=evaluators)),
    ):
        assert result.status == "error"
        bad, ok = result.scores
        assert bad.error is not None and message in bad.error
        assert (bad.name, bad.passed, bad.evaluator_version) == ("bad", None, "9")
        assert ok.passed is True  # the others still ran


def test_an_error_of_an_optional_evaluator_does_not_make_the_case_error() -> None:
    evaluators = _evaluators(Fake("bad", "raise"), Fake("ok"))
    result = evaluate_case(
        [EvaluatorConfig("bad", required=False), EvaluatorConfig("ok")],
        CASE,
        "o",
        None,
        evaluators=evaluators,
    )
    assert result.status == "passed"
    assert result.scores[0].error


@pytest.mark.parametrize("mode", ["hang", "async_hang"])
def test_hung_evaluators_time_out(mode: str) -> None:
    evaluators = _evaluators(Fake("slow", mode), Fake("ok"), Fake("a", "async"))
    configs = [EvaluatorConfig("slow"), EvaluatorConfig("ok"), EvaluatorConfig("a")]
    for result in (
        evaluate_case(configs, CASE, "o", None, evaluators=evaluators, timeout_s=0.3),
        asyncio.run(aevaluate_case(configs, CASE, "o", None, evaluators=evaluators, timeout_s=0.3)),
    ):
        assert result.status == "error"
        slow, ok, a = result.scores
        assert slow.error == "timed out after 0.3 s"
        assert ok.passed is True and a.passed is True


def test_sync_and_async_evaluators_and_several_scores() -> None:
    evaluators = _evaluators(Fake("a", "async"), Fake("m", "many"), Fake("af", "async_fail"))
    result = evaluate_case(
        [EvaluatorConfig("a"), EvaluatorConfig("m"), EvaluatorConfig("af")],
        CASE,
        "o",
        None,
        evaluators=evaluators,
    )
    assert [s.name for s in result.scores] == ["a", "m.0", "m.1", "m.2", "af"]
    assert result.status == "failed"


def test_unknown_evaluator_at_evaluation_is_an_error_score() -> None:
    result = evaluate_case([EvaluatorConfig("nope")], CASE, "o", None, evaluators={})
    assert result.status == "error"
    assert "no evaluator named 'nope'" in (result.scores[0].error or "")


def test_validate_configs_lists_every_problem() -> None:
    evaluators = _evaluators(Fake("ok"))
    validate_configs([EvaluatorConfig("ok", {"x": 1}, threshold=0.5)], evaluators)
    with pytest.raises(EvaluatorConfigError) as caught:
        validate_configs(
            [
                EvaluatorConfig("missing"),
                EvaluatorConfig("ok", {"bad": 1}),
                EvaluatorConfig("ok", {"crash": 1}),
                EvaluatorConfig("ok", threshold=float("nan")),
                EvaluatorConfig("ok", params=[1]),  # type: ignore[arg-type]
            ],
            evaluators,
        )
    problems = caught.value.problems
    assert len(problems) == 5, problems
    assert problems[0] == "evaluators[0] ('missing'): no evaluator of that name (known: ok)"
    assert "'bad' is not allowed" in problems[1]
    assert "validate() failed: KeyError" in problems[2]
    assert "threshold must be a finite number" in problems[3]
    assert "params must be an object" in problems[4]
    assert isinstance(caught.value, ValueError)


class _Plugin:
    def __init__(self, *evaluators: Any) -> None:
        self.evaluators = list(evaluators)

    @hookimpl
    def spanlink_evaluators(self) -> list[Any]:
        return self.evaluators


class _Broken:
    @hookimpl
    def spanlink_evaluators(self) -> list[Any]:
        raise RuntimeError("cannot build")


def test_find_evaluators_warns_on_duplicates_and_skips_broken_plugins(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, second = Fake("same"), Fake("same")
    manager = get_plugin_manager()
    manager.register(_Plugin(first, Fake("other")), name="first")
    manager.register(_Plugin(second, "not an evaluator"), name="second")
    manager.register(_Broken(), name="broken")
    with caplog.at_level(logging.WARNING, logger="spanlink.evaluation"):
        found = find_evaluators(manager)
    assert set(found) == {"same", "other"}
    assert found["same"] is second  # registered last wins
    text = caplog.text
    assert "provided by plugins 'first' and 'second'" in text
    assert "not an Evaluator" in text
    assert "broken" in text and "cannot build" in text
