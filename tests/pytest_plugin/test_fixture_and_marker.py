"""The ``spanlink`` fixture and marker: scores, installed evaluators, the test's own spans."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pytest_plugin_helpers import (
    by_case,
    child_env,
    dump,
    read_run,
    run_pytest,
    spanlink_args,
    write_tests,
)

SUITE = """
import pytest
from opentelemetry import trace

tracer = trace.get_tracer("app")

def answer(question):
    with tracer.start_as_current_span("execute_tool lookup_order"):
        pass
    return f"Your refund for {question} is on its way"

def test_evaluate_returns_scores(spanlink):
    (score,) = spanlink.evaluate("has_word", answer("A1"), word="refund")
    assert score.passed is True and score.name == "has_word"

def test_check_fails_on_a_required_score(spanlink):
    spanlink.check("has_word", answer("A2"), word="apology")

def test_trace_evaluators_see_the_tests_spans(spanlink):
    answer("A3")
    spanlink.check("made_span", None, name="execute_tool lookup_order")

def test_an_unknown_evaluator_is_a_score_with_an_error(spanlink):
    (score,) = spanlink.evaluate("no_such_evaluator", "x")
    assert "no evaluator named 'no_such_evaluator'" in score.error
    assert "has_word" in score.error

def test_bad_params_are_a_score_with_an_error(spanlink):
    (score,) = spanlink.evaluate("has_word", "x")
    assert score.error == "ValueError: has_word needs params {'word': str}"

@pytest.mark.spanlink(evaluators=[{"name": "has_word", "params": {"word": "refund"}}])
def test_marker_on_the_return_value():
    return answer("A4")

@pytest.mark.spanlink(
    evaluators=[{"name": "has_word", "params": {"word": "apology"}}], case_id="refund-policy"
)
def test_marker_fails_and_names_the_case():
    return answer("A5")

@pytest.mark.spanlink(
    evaluators=[{"name": "has_word", "params": {"word": "sorry"}, "required": False}]
)
def test_marker_on_a_recorded_output(spanlink):
    spanlink.output({"text": answer("A6")})

def test_assert_on_the_own_trace(spanlink):
    answer("A7")
    assert spanlink.spans(name="execute_tool lookup_order")
    assert not spanlink.spans(name="execute_tool cancel_order")
    assert spanlink.spans(attributes={"spanlink.test.phase": "call"})
"""


def test_fixture_and_marker_scores_are_reported(
    tmp_path: Path, reporting: dict[str, str], client: Any, evaluators_site: Path
) -> None:
    write_tests(tmp_path, SUITE)
    path = os.pathsep.join([str(evaluators_site), os.environ.get("PYTHONPATH", "")])
    env = child_env(PYTHONPATH=path)
    outcome = run_pytest(tmp_path, *spanlink_args(reporting), env=env)
    assert outcome.lines("2 failed, 7 passed"), dump(outcome)
    results = by_case(read_run(client, outcome.run_id))
    node = "test_suite.py::"
    checked = results[node + "test_check_fails_on_a_required_score"]
    assert checked["status"] == "failed"
    assert "has_word: did not pass" in checked["error"]
    assert "'apology' not in output" in checked["error"]
    marked = results[node + "test_marker_on_the_return_value"]
    assert marked["status"] == "passed"
    assert marked["output"] == "Your refund for A4 is on its way"
    assert [(s["name"], s["passed"]) for s in marked["scores"]] == [("has_word", True)]
    named = results["refund-policy"]
    assert named["status"] == "failed" and "EvaluationFailed" in named["error"]
    optional = results[node + "test_marker_on_a_recorded_output"]
    assert optional["status"] == "passed"  # the evaluator is not required
    assert optional["output"] == {"text": "Your refund for A6 is on its way"}
    assert [(s["name"], s["passed"]) for s in optional["scores"]] == [("has_word", False)]
    traced = results[node + "test_trace_evaluators_see_the_tests_spans"]
    assert traced["status"] == "passed"
    assert traced["scores"][0]["name"] == "made_span"


BUILTIN = """
import pytest
from opentelemetry import trace

def answer():
    with trace.get_tracer("app").start_as_current_span(
        "execute_tool lookup_order",
        attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_order"},
    ):
        pass
    return "Your order A-1001 has shipped"

def test_builtin_output_and_trace_evaluators(spanlink):
    reply = answer()
    spanlink.check("contains", reply, value="shipped")
    spanlink.check("tool_called", reply, name="lookup_order")
    (score,) = spanlink.evaluate("tool_not_called", reply, name="lookup_order")
    assert score.passed is False

@pytest.mark.spanlink(evaluators=[{"name": "regex", "params": {"pattern": "A-[0-9]+"}}])
def test_builtin_marker(spanlink):
    spanlink.output(answer())

def test_builtin_check_fails(spanlink):
    spanlink.check("not_contains", answer(), value="shipped")
"""


def test_the_builtin_evaluators_plugin_is_used(
    tmp_path: Path, reporting: dict[str, str], client: Any
) -> None:
    write_tests(tmp_path, BUILTIN)
    outcome = run_pytest(tmp_path, *spanlink_args(reporting))
    assert outcome.lines("1 failed, 2 passed"), dump(outcome)
    results = by_case(read_run(client, outcome.run_id))
    node = "test_suite.py::"
    scored = results[node + "test_builtin_output_and_trace_evaluators"]
    names = [score["name"] for score in scored["scores"]]
    assert names == ["contains", "tool_called", "tool_not_called"]
    assert results[node + "test_builtin_marker"]["scores"][0]["passed"] is True
    assert results[node + "test_builtin_check_fails"]["status"] == "failed"
