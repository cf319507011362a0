"""docs/integrations.md, run as written: the OpenInference, OpenLLMetry and official OpenAI
instrumentors in an application and in a pytest suite, against a local fake
OpenAI-compatible server and a live receiver.

Each example is read out of the page (``<!-- example: PATH -->`` before a code block) and
run in its own process, so every instrumentor patches a fresh ``openai``. The spans must
arrive at the receiver, linked to the test case in the pytest runs, with the normalized
GenAI model and token attributes and the cost the project's price table gives.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_openai import FakeOpenAI, Reply
from pytest_plugin_helpers import by_case, child_env, dump, read_run, run_pytest, spanlink_args

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
EXAMPLE = re.compile(r"<!-- example: (\S+) -->\n```python\n(.*?)```", re.S)
INSTRUMENTORS = ("openinference", "openllmetry", "otel-v2")

# The answer every example gets: a dated model snapshot, and 400 of the 1000 prompt tokens
# read from the provider's cache.
USAGE = {
    "prompt_tokens": 1000,
    "completion_tokens": 500,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 400},
}
PRICES = {"gpt-4o*": {"input": 2.5e-06, "output": 1e-05, "cache_read": 1.25e-06}}
# (1000 - 400) x input + 400 x cache read + 500 x output; the official instrumentation
# reports no cached tokens, so all 1000 are priced as input.
COST = {"openinference": 0.007, "openllmetry": 0.007, "otel-v2": 0.0075}
CACHED = {"openinference": 400, "openllmetry": 400, "otel-v2": None}


def examples() -> dict[str, str]:
    """The page's runnable examples by path."""
    found = dict(EXAMPLE.findall(DOC.read_text()))
    assert found, f"no examples in {DOC}"
    return found


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI(
        [Reply(content="Refunds take 5 days.", model="gpt-4o-2024-08-06", usage=USAGE)]
    )
    yield server
    server.close()


@dataclass
class Setting:
    """What an example runs against: the receiver, a priced project, the fake server."""

    url: str
    key: str
    client: httpx.Client  # the project's, with a price table for gpt-4o
    fake: FakeOpenAI

    def env(self) -> dict[str, str]:
        """The environment an example process gets."""
        return child_env(
            SPANLINK_ENDPOINT=self.url,
            SPANLINK_API_KEY=self.key,
            OPENAI_BASE_URL=self.fake.base_url,
            OPENAI_API_KEY="sk-test",
        )


@pytest.fixture
def setting(receiver: Any, api_key: str, client: httpx.Client, fake: FakeOpenAI) -> Setting:
    answer = client.put("/api/v1/prices", json={"prices": PRICES})
    assert answer.status_code == 200, answer.text
    return Setting(receiver.url, api_key, client, fake)


def _run_example(path: str, directory: Path, env: dict[str, str]) -> str:
    script = directory / Path(path).name
    script.write_text(examples()[path])
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _only_trace(client: httpx.Client, spans: int) -> dict[str, Any]:
    """The project's one trace, once ``spans`` spans of it arrived, enriched."""
    listed: dict[str, Any] = {}
    for _ in range(200):
        listed = client.get("/api/v1/traces").json()
        if listed["items"] and listed["items"][0]["span_count"] >= spans:
            break
        time.sleep(0.05)
    assert len(listed["items"]) == 1, listed
    trace_id = listed["items"][0]["trace_id"]
    trace: dict[str, Any] = client.get(
        f"/api/v1/traces/{trace_id}", params={"sync": True, "full": True}
    ).json()
    assert len(trace["spans"]) == spans, trace
    return trace


def _chat_span(trace: dict[str, Any]) -> dict[str, Any]:
    (span,) = [s for s in trace["spans"] if s["attributes"].get("gen_ai.operation.name") == "chat"]
    return span


def _check_chat(trace: dict[str, Any], instrumentor: str) -> dict[str, Any]:
    """The chat span carries the normalized model and token names, and is priced."""
    span = _chat_span(trace)
    attributes = span["attributes"]
    assert attributes["gen_ai.request.model"] == "gpt-4o", attributes
    assert attributes["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.usage.input_tokens"] == 1000
    assert attributes["gen_ai.usage.output_tokens"] == 500
    assert attributes.get("gen_ai.usage.cache_read.input_tokens") == CACHED[instrumentor]
    enrichment = trace["enrichment"]
    assert enrichment is not None, trace
    cost = enrichment["data"]["spans"][span["span_id"]]["cost"]
    assert cost["status"] == "ok", cost
    assert cost["total_cost"] == pytest.approx(COST[instrumentor])
    return span


@pytest.mark.parametrize("instrumentor", INSTRUMENTORS)
def test_in_an_application(instrumentor: str, setting: Setting, tmp_path: Path) -> None:
    out = _run_example(f"{instrumentor}/app.py", tmp_path, setting.env())
    assert out.strip() == "Refunds take 5 days."
    (request,) = setting.fake.requests
    assert request["path"] == "/v1/chat/completions"
    trace = _only_trace(setting.client, spans=2)
    agent = next(s for s in trace["spans"] if s["name"] == "invoke_agent support-bot")
    assert _check_chat(trace, instrumentor)["parent_span_id"] == agent["span_id"]


def test_in_an_application_with_its_own_provider(setting: Setting, tmp_path: Path) -> None:
    _run_example("openllmetry/own_provider.py", tmp_path, setting.env())
    trace = _only_trace(setting.client, spans=2)
    root = next(s for s in trace["spans"] if s["name"] == "answer")
    assert _check_chat(trace, "openllmetry")["parent_span_id"] == root["span_id"]


@pytest.mark.parametrize("instrumentor", INSTRUMENTORS)
def test_in_a_pytest_suite(instrumentor: str, setting: Setting, tmp_path: Path) -> None:
    found = examples()
    (tmp_path / "conftest.py").write_text(found[f"{instrumentor}/conftest.py"])
    (tmp_path / "test_support.py").write_text(found["test_support.py"])
    reporting = {"url": setting.url, "key": setting.key}
    outcome = run_pytest(tmp_path, *spanlink_args(reporting), env=setting.env())
    assert outcome.returncode == 0, dump(outcome)
    assert outcome.lines("1 cases: 1 passed"), dump(outcome)

    results = by_case(read_run(setting.client, outcome.run_id))
    result = results["test_support.py::test_the_refund_answer"]
    assert result["status"] == "passed"
    assert [(s["name"], s["passed"]) for s in result["scores"]] == [("mentions_days", True)]
    (trace_id,) = result["trace_ids"]
    trace = _only_trace(setting.client, spans=5)  # test root, setup, call, teardown, chat
    assert trace["trace_id"] == trace_id
    chat = _check_chat(trace, instrumentor)
    # Linked to the case: the test context and the phase are on the instrumentor's span.
    assert chat["attributes"]["spanlink.test.result_id"] == result["id"]
    assert chat["attributes"]["spanlink.test.case_id"] == result["case_id"]
    assert chat["attributes"]["spanlink.test.phase"] == "call"
    rerun = by_case(read_run(setting.client, outcome.run_id))[result["case_id"]]
    assert (rerun["input_tokens"], rerun["output_tokens"]) == (1000, 500)
    assert rerun["cost_usd"] == pytest.approx(COST[instrumentor])
