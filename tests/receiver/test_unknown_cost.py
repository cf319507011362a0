"""An unknown cost is null, never 0 — trace list, trace detail, test-run results, metrics —
and the metrics' token totals count every span, with a model or without."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from receiver_helpers import NOW, make_request, make_span, post_proto, span_id, trace_id

UNKNOWN_MODEL = "acme-llm-9000"


def _llm(model: str, input_tokens: int = 100, output_tokens: int = 20) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
    }


def _ingest(client: httpx.Client, *children: dict[str, Any], at: int = NOW, **root: Any) -> str:
    """A trace: a root span (attributes ``root``) and one child per attribute set."""
    tid = trace_id()
    parent = span_id()
    spans = [make_span(tid, parent, name="root", start=at, duration_ns=10**7, attributes=root)]
    for index, attributes in enumerate(children):
        spans.append(
            make_span(
                tid, span_id(), parent=parent, name=f"call {index}", start=at, attributes=attributes
            )
        )
    assert post_proto(client, make_request(spans)).status_code == 200
    return tid.hex()


def _enriched(client: httpx.Client, tid: str) -> dict[str, Any]:
    detail = client.get(f"/api/v1/traces/{tid}", params={"sync": "true"})
    assert detail.status_code == 200, detail.text
    body: dict[str, Any] = detail.json()
    assert body["enrichment"] is not None
    return body


def _listed_cost(client: httpx.Client, tid: str) -> Any:
    items = client.get("/api/v1/traces", params={"limit": 1000}).json()["items"]
    [item] = [item for item in items if item["trace_id"] == tid]
    return item["cost_usd"]


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).isoformat()


def _metrics(client: httpx.Client, start: int, end: int) -> dict[str, Any]:
    params = {"start_time": _iso(start), "end_time": _iso(end)}
    response = client.get("/api/v1/metrics", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_trace_whose_only_model_has_no_price_has_a_null_cost(client: httpx.Client) -> None:
    tid = _ingest(client, _llm(UNKNOWN_MODEL))
    detail = _enriched(client, tid)
    cost = detail["enrichment"]["data"]["trace"]["cost"]
    assert cost["complete"] is False and cost["unknown_models"] == [UNKNOWN_MODEL]
    assert detail["cost_usd"] is None
    assert _listed_cost(client, tid) is None


def test_a_trace_without_model_calls_has_a_null_cost(client: httpx.Client) -> None:
    tid = _ingest(client, {"http.method": "GET"})
    detail = _enriched(client, tid)
    assert detail["cost_usd"] is None
    assert _listed_cost(client, tid) is None


def test_a_partly_priced_trace_has_a_null_cost_not_its_lower_bound(client: httpx.Client) -> None:
    tid = _ingest(client, _llm("gpt-4o"), _llm(UNKNOWN_MODEL))
    detail = _enriched(client, tid)
    assert detail["enrichment"]["data"]["trace"]["cost"]["total_cost"] > 0
    assert detail["cost_usd"] is None and _listed_cost(client, tid) is None
    no_usage = _ingest(
        client, _llm("gpt-4o"), {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
    )
    assert _enriched(client, no_usage)["cost_usd"] is None


def test_a_fully_priced_trace_has_its_cost(client: httpx.Client) -> None:
    tid = _ingest(client, _llm("gpt-4o"), _llm("gpt-4o-mini"))
    detail = _enriched(client, tid)
    total = detail["enrichment"]["data"]["trace"]["cost"]["total_cost"]
    assert total > 0
    assert detail["cost_usd"] == pytest.approx(total)
    assert _listed_cost(client, tid) == pytest.approx(total)


def test_metrics_cost_is_null_when_unknown_and_tokens_include_spans_without_a_model(
    client: httpx.Client,
) -> None:
    base = NOW + 10**15  # a range of this test's own, far from the other tests' traces
    unknown = _ingest(client, _llm(UNKNOWN_MODEL, 7, 3), at=base)
    _enriched(client, unknown)
    only_unknown = _metrics(client, base - 10**9, base + 10**9)
    assert only_unknown["cost_usd"] is None
    assert [m["model"] for m in only_unknown["models"]] == [UNKNOWN_MODEL]
    assert only_unknown["models"][0]["cost_usd"] is None

    # No model anywhere: tokens on the root span and on an unnamed call (item 12).
    later = base + 10 * 10**9
    no_model = _ingest(
        client,
        {"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 500},
        at=later,
        **{"gen_ai.usage.input_tokens": 11, "gen_ai.usage.output_tokens": 5},
    )
    _enriched(client, no_model)
    tokens_only = _metrics(client, later - 10**9, later + 10**9)
    assert tokens_only["input_tokens"] == 1011 and tokens_only["output_tokens"] == 505
    assert tokens_only["models"] == []

    priced_at = base + 20 * 10**9
    priced = _ingest(client, _llm("gpt-4o", 40, 2), at=priced_at)
    total = _enriched(client, priced)["enrichment"]["data"]["trace"]["cost"]["total_cost"]
    only_priced = _metrics(client, priced_at - 10**9, priced_at + 10**9)
    assert only_priced["cost_usd"] == pytest.approx(total)

    everything = _metrics(client, base - 10**9, priced_at + 10**9)
    assert everything["input_tokens"] == 7 + 1011 + 40
    assert everything["output_tokens"] == 3 + 505 + 2
    assert everything["cost_usd"] is None  # one call in the range has no price
    by_model = {m["model"]: m["cost_usd"] for m in everything["models"]}
    assert by_model[UNKNOWN_MODEL] is None
    assert by_model["gpt-4o"] == pytest.approx(total)


def test_metrics_cost_is_null_while_a_trace_is_not_enriched(
    database_url: str, project: Any
) -> None:
    from spanlink.receiver.server import start_in_thread
    from spanlink.receiver.settings import Settings

    with start_in_thread(Settings(database_url=database_url, enrichment="off")) as off:
        headers = {"Authorization": f"Bearer {project.api_key}"}
        with httpx.Client(base_url=off.url, headers=headers, timeout=10) as http:
            at = NOW + 2 * 10**15
            tid = _ingest(http, _llm("gpt-4o"), at=at)
            body = _metrics(http, at - 10**9, at + 10**9)
            assert body["cost_usd"] is None
            assert body["models"][0]["cost_usd"] is None
            assert _listed_cost(http, tid) is None


def _reported_run(client: httpx.Client, *models: str | None) -> dict[str, Any]:
    """A client-reported run with one result per model (None: no model call), linked."""
    run_id = uuid.uuid4().hex
    assert client.post("/api/v1/test-runs", json={"source": "pytest", "id": run_id}).is_success
    result_ids = []
    for index, model in enumerate(models):
        result_id = uuid.uuid4().hex
        result = {"id": result_id, "case_id": f"case-{index}", "status": "passed"}
        posted = client.post(f"/api/v1/test-runs/{run_id}/results", json={"results": [result]})
        assert posted.status_code == 200, posted.text
        links = {"spanlink.test.run_id": run_id, "spanlink.test.result_id": result_id}
        calls = [_llm(model)] if model else [{"http.method": "GET"}]
        _enriched(client, _ingest(client, *calls, **links))
        result_ids.append(result_id)
    deadline = time.monotonic() + 30
    while True:
        run: dict[str, Any] = client.get(f"/api/v1/test-runs/{run_id}").json()
        if all(r["trace_ids"] and r["enriched"] for r in run["results"]):
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.1)


def test_test_run_results_with_unknown_cost_are_null(client: httpx.Client) -> None:
    run = _reported_run(client, UNKNOWN_MODEL, None, "gpt-4o")
    unknown, no_model, priced = run["results"]
    assert unknown["cost_usd"] is None
    assert no_model["cost_usd"] is None
    assert priced["cost_usd"] is not None and priced["cost_usd"] > 0


def test_trace_diff_totals_are_null_when_a_model_call_has_no_price(client: httpx.Client) -> None:
    priced = _ingest(client, _llm("gpt-4o"))
    partly = _ingest(client, _llm("gpt-4o"), _llm(UNKNOWN_MODEL))
    _enriched(client, priced)
    _enriched(client, partly)
    diff = client.get(f"/api/v1/traces/{priced}/diff/{partly}")
    assert diff.status_code == 200, diff.text
    totals = diff.json()["totals"]
    assert totals["a"]["cost_usd"] > 0
    assert totals["b"]["cost_usd"] is None
    assert totals["delta"]["cost_usd"] is None
