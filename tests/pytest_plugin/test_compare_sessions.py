"""Two pytest sessions of one suite, the second after a change that moves a tool call, breaks
a case and makes a call cost more: each regression is found with its reason, and the diff
of each case's two traces names where they first diverge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_plugin_helpers import by_case, child_env, dump, read_run, run_pytest, spanlink_args
from pytest_plugin_helpers import write_tests as write_suite

SUITE = """
import os

from spanlink.tracer import observe

CHANGED = os.environ.get("BOT_VERSION") == "2"


@observe.tool(name="search")
def search(query):
    return ["Refunds take 5 business days."]


@observe.tool(name="lookup_order")
def lookup_order(order_id):
    return {"status": "shipped"}


@observe.llm(model="gpt-4o-mini", provider="openai")
def chat(prompt, prompt_tokens):
    return {
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": prompt},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 20,
                  "total_tokens": prompt_tokens + 20},
    }


@observe.agent(name="bot")
def answer(order_id, prompt_tokens=200):
    if CHANGED:  # the change: the order is looked up first
        facts = [lookup_order(order_id)["status"], *search("refund")]
    else:
        facts = [*search("refund"), lookup_order(order_id)["status"]]
    return chat(" ".join(facts), prompt_tokens)["choices"][0]["message"]["content"]


def test_tool_order(spanlink):
    answer("A-1")
    tools = [s.attributes["gen_ai.tool.name"] for s in spanlink.spans()
             if "gen_ai.tool.name" in s.attributes]
    spanlink.score("searches_first", passed=tools[0] == "search")


def test_refund(spanlink):
    reply = answer("A-2")
    assert reply.startswith("Refunds"), reply


def test_cost(spanlink):
    answer("A-3", prompt_tokens=2000 if CHANGED else 200)
"""

NODE = "test_suite.py::"
PRICES = {"gpt-4o-mini": {"input": 1e-06, "output": 2e-06}}


def _session(
    project: Path, reporting: dict[str, str], client: httpx.Client, version: str, *extra: str
) -> tuple[Any, dict[str, Any]]:
    outcome = run_pytest(
        project, *spanlink_args(reporting), *extra, env=child_env(BOT_VERSION=version)
    )
    run = read_run(client, outcome.run_id)
    for result in run["results"]:  # price every linked trace now, not in the background
        for trace_id in result["trace_ids"]:
            client.get(f"/api/v1/traces/{trace_id}", params={"sync": "true"}).raise_for_status()
    return outcome, read_run(client, outcome.run_id)


@pytest.fixture
def sessions(
    tmp_path: Path, reporting: dict[str, str], client: httpx.Client
) -> tuple[Any, dict[str, Any], Any, dict[str, Any]]:
    client.put("/api/v1/prices", json={"prices": PRICES}).raise_for_status()
    write_suite(tmp_path, SUITE)
    before, base = _session(tmp_path, reporting, client, "1")
    assert before.returncode == 0, dump(before)
    after, run = _session(tmp_path, reporting, client, "2", "--spanlink-baseline", base["id"])
    assert after.returncode == 1, dump(after)  # test_refund fails now
    return before, base, after, run


def test_each_regression_has_its_reason(sessions: Any, client: httpx.Client) -> None:
    _, base, after, run = sessions
    answer = client.get(f"/api/v1/test-runs/{run['id']}/compare", params={"baseline": base["id"]})
    assert answer.status_code == 200, answer.text
    comparison = answer.json()
    reasons = {
        item["case_id"].removeprefix(NODE): [(r["kind"], r["message"]) for r in item["reasons"]]
        for item in comparison["regressions"]
    }
    assert reasons["test_tool_order"] == [("score", "score searches_first: passed -> failed")]
    assert reasons["test_refund"][0] == ("status", "status passed -> failed")
    cost = dict(reasons["test_cost"])
    assert set(cost) == {"tokens", "cost"}, reasons["test_cost"]
    assert cost["tokens"].startswith("tokens 220 -> 2020")
    assert comparison["summary"]["counts"]["regressed"] == 3
    # The session's own summary names them too.
    regressed = after.lines("REGRESSED")
    assert len(regressed) == 3, dump(after)


def test_each_case_diff_names_its_first_divergence(sessions: Any, client: httpx.Client) -> None:
    _, base, _, run = sessions
    before, now = by_case(base), by_case(run)

    def diff(case: str) -> dict[str, Any]:
        (a,) = before[NODE + case]["trace_ids"]
        (b,) = now[NODE + case]["trace_ids"]
        answer = client.get(f"/api/v1/traces/{a}/diff/{b}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    moved = diff("test_tool_order")
    first = moved["first_divergence"]
    assert first["kind"] in ("added", "removed"), first
    assert first["name"] in ("execute_tool search", "execute_tool lookup_order"), first
    assert [t["name"] for t in moved["tool_calls"]["a"]] == ["search", "lookup_order"]
    assert [t["name"] for t in moved["tool_calls"]["b"]] == ["lookup_order", "search"]

    broken = diff("test_refund")["first_divergence"]
    assert broken is not None and "status" in broken["reason"], broken

    dearer = diff("test_cost")
    assert dearer["totals"]["delta"]["input_tokens"] == 1800
    assert dearer["totals"]["delta"]["cost_usd"] == pytest.approx(1800 * 1e-06)
