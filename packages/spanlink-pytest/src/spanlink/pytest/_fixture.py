"""The ``spanlink`` fixture: score a test, run evaluators, read the test's own spans."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from spanlink.pytest._errors import EvaluationFailed
from spanlink.pytest._state import TestState

if TYPE_CHECKING:
    from spanlink.tracer.model import Case, Score, SpanRecord

__all__ = ["SpanlinkFixture"]


def _failed(scores: list[Score]) -> list[Score]:
    return [score for score in scores if score.error is not None or score.passed is False]


def _describe(score: Score) -> str:
    if score.error is not None:
        return f"{score.name}: error: {score.error}"
    detail = f"value={score.value}" if score.value is not None else f"label={score.label}"
    why = f" ({score.explanation})" if score.explanation else ""
    return f"{score.name}: did not pass, {detail}{why}"


class SpanlinkFixture:
    """What a test gets from the ``spanlink`` fixture.

    Scores recorded here are reported with the test's result and emitted as
    ``gen_ai.evaluation.result`` events on its root span.
    """

    def __init__(self, state: TestState) -> None:
        self._state = state

    @property
    def result_id(self) -> str:
        """The id of this test's result (also on every span of the test)."""
        return self._state.result_id

    @property
    def run_id(self) -> str | None:
        """The id of the session's test run (None when the plugin is off)."""
        return self._state.run_id

    @property
    def case_id(self) -> str:
        """This test's case id: its node id unless the marker gives ``case_id``."""
        return self._state.case_id

    def case(self) -> Case:
        """This test as a ``Case`` (its parameters as inputs)."""
        from spanlink.tracer.model import Case

        return Case(id=self._state.case_id, inputs=dict(self._state.inputs))

    def score(
        self,
        name: str,
        value: float | None = None,
        *,
        label: str | None = None,
        passed: bool | None = None,
        explanation: str | None = None,
    ) -> Score:
        """Record a score of this test and return it.

        ``value`` must be a finite number; ``passed`` is the verdict, when you have one.
        """
        from spanlink.tracer.model import Score

        if not isinstance(name, str) or not name:
            raise ValueError("a score needs a non-empty name")
        score = Score(name=name, value=value, label=label, passed=passed, explanation=explanation)
        self._state.add_scores([score])
        return score

    def output(self, value: Any) -> None:
        """Record the test's output: reported with its result and given to the marker's
        evaluators (instead of the test function's return value)."""
        self._state.output = value

    def evaluate(
        self, evaluator: str, output: Any, *, threshold: float | None = None, **params: Any
    ) -> list[Score]:
        """Run the installed evaluator ``evaluator`` on ``output`` and return its scores.

        ``params`` are the evaluator's parameters; a trace evaluator sees the spans this
        test finished so far. The scores are recorded on the test. An evaluator that
        fails gives a score with ``error`` set.
        """
        from spanlink.pytest._evaluation import run_evaluator
        from spanlink.tracer.model import EvaluatorConfig

        config = EvaluatorConfig(name=evaluator, params=params, threshold=threshold)
        scores = run_evaluator(config, self.case(), output, self.spans())
        self._state.add_scores(scores)
        return scores

    def check(
        self, evaluator: str, output: Any, *, threshold: float | None = None, **params: Any
    ) -> list[Score]:
        """``evaluate``, then fail the test when a score does not pass or has an error."""
        scores = self.evaluate(evaluator, output, threshold=threshold, **params)
        failed = _failed(scores)
        if failed:
            __tracebackhide__ = True
            raise EvaluationFailed("; ".join(_describe(score) for score in failed))
        return scores

    def spans(
        self,
        name: str | None = None,
        *,
        kind: str | None = None,
        status_code: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> list[SpanRecord]:
        """The spans this test finished so far, in-process, oldest first, as ``SpanRecord``s.

        Filters: ``name`` (exact), ``kind`` (``"CLIENT"``...), ``status_code``
        (``"ERROR"``...), ``attributes`` (each given key equals the value).
        """
        kept = self._state.spans
        if kept is None:
            return []
        records = kept.records()
        wanted = dict(attributes or {})
        return [
            record
            for record in records
            if (name is None or record.name == name)
            and (kind is None or record.kind == kind)
            and (status_code is None or record.status_code == status_code)
            and all(record.attributes.get(key) == value for key, value in wanted.items())
        ]
