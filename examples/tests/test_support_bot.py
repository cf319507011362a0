"""Tests of the support bot, scored and asserting on its own trace.

Run them as a spanlink test run: ``pytest --spanlink-local`` (an embedded receiver for the
session) or ``pytest --spanlink --spanlink-url URL --spanlink-api-key KEY``.
"""

from __future__ import annotations

import pytest
from support_bot import answer

QUESTIONS = [
    ("How long does a refund take?", None, "5 business days"),
    ("What does the warranty cover?", None, "two-year warranty"),
    ("Where is my order?", "A-1001", "shipped"),
]


@pytest.mark.parametrize(("question", "order_id", "fact"), QUESTIONS)
def test_the_answer_states_the_policy(spanlink, question, order_id, fact):
    reply = answer(question, order_id)
    found = fact in reply
    spanlink.score(
        "states_policy",
        1.0 if found else 0.0,
        passed=found,
        explanation=f"{fact!r} {'is' if found else 'is not'} in the answer",
    )
    assert found, reply


def test_an_order_question_looks_the_order_up(spanlink):
    answer("Where is my order?", "A-1001")
    (tool,) = spanlink.spans(name="execute_tool lookup_order")
    assert tool.status_code != "ERROR"
    assert len(spanlink.spans(name="chat gpt-4o-mini")) == 1


def test_a_general_question_calls_no_tool(spanlink):
    answer("How long does a refund take?")
    assert not spanlink.spans(name="execute_tool lookup_order")


def test_an_unknown_order_fails_loudly():
    with pytest.raises(KeyError, match="unknown order A-9999"):
        answer("Where is my order?", "A-9999")


@pytest.mark.spanlink(
    evaluators=[
        {"name": "contains", "params": {"value": "business days"}},
        "no_error_spans",
    ]
)
def test_the_refund_answer_is_judged_by_evaluators(spanlink):
    spanlink.output(answer("How long does a refund take?"))


def test_the_order_answer_uses_the_tool(spanlink):
    reply = answer("Where is my order?", "A-1001")
    spanlink.check("tool_called", reply, name="lookup_order")
    spanlink.check("contains", reply, value="shipped")
