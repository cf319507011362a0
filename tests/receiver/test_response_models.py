"""The trace list, trace detail, span and metrics JSON match the documented models.

The bodies are assembled from rows, not by pydantic, so nothing else keeps them and
``spanlink.receiver.api.responses`` in step: each body must validate, and carry exactly the
documented keys (a key added in SQL but not in the model, or the reverse, fails here).
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel
from receiver_helpers import NOW, make_request, make_span, post_proto, span_id, trace_id

from spanlink.receiver.api.responses import (
    CompactTraceDetail,
    Metrics,
    ModelMetrics,
    SpanDetail,
    SpanOut,
    SpanOutFull,
    SpanSummary,
    TestLink,
    TraceDetail,
    TraceEnrichment,
    TraceList,
    TraceSummary,
)


def _keys(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


def _store_trace(client: httpx.Client) -> str:
    tid, root, child, orphan = trace_id(), span_id(), span_id(), span_id()
    test_ids = {
        "spanlink.test.run_id": "run-1",
        "spanlink.test.case_id": "case-1",
        "spanlink.test.result_id": "result-1",
    }
    llm = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 30,
        **test_ids,
    }
    request = make_request(
        [
            make_span(tid, root, name="agent", attributes=test_ids),
            make_span(
                tid,
                child,
                parent=root,
                name="chat gpt-4o-mini",
                start=NOW + 10,
                attributes=llm,
                events=[("gen_ai.choice", NOW + 11, {"index": 0})],
                links=[(tid, root, {"why": "follows"})],
                error="rate limited",
            ),
            # Its parent is never stored: an orphan, shown as a root.
            make_span(tid, orphan, parent=span_id(), name="late", start=NOW + 20),
        ],
        resource={"service.name": "svc", "deployment.environment.name": "test"},
    )
    assert post_proto(client, request).status_code == 200
    return tid.hex()


def test_trace_list_and_detail_match_the_documented_models(client: httpx.Client) -> None:
    tid = _store_trace(client)

    # ?sync=true: the enrichment is computed now, so the body carries plugin results too.
    for params, span_model in (({"sync": "true"}, SpanOut), ({"full": "true"}, SpanOutFull)):
        detail: dict[str, Any] = client.get(f"/api/v1/traces/{tid}", params=params).json()
        TraceDetail.model_validate(detail)
        assert set(detail) == _keys(TraceDetail)
        assert detail["enrichment"] is not None
        assert set(detail["enrichment"]) == _keys(TraceEnrichment)
        assert len(detail["spans"]) == 3 and len(detail["root_span_ids"]) == 2
        for span in detail["spans"]:
            span_model.model_validate(span)
            assert set(span) == _keys(span_model), span["name"]
        assert detail["test_links"]
        for link in detail["test_links"]:
            assert set(link) == _keys(TestLink)
    assert any(span["enrichment"] for span in detail["spans"])
    compact: dict[str, Any] = client.get(f"/api/v1/traces/{tid}", params={"compact": "true"}).json()
    CompactTraceDetail.model_validate(compact)
    assert set(compact) == _keys(CompactTraceDetail)
    assert compact["span_fields"] == list(SpanSummary.model_fields)
    for row in compact["spans"]:
        SpanSummary.model_validate(dict(zip(compact["span_fields"], row, strict=True)))
    for span in detail["spans"]:
        one: dict[str, Any] = client.get(f"/api/v1/traces/{tid}/spans/{span['span_id']}").json()
        SpanDetail.model_validate(one)
        assert set(one) == _keys(SpanDetail)
        assert one == {k: v for k, v in span.items() if k not in ("depth", "children")}

    listing: dict[str, Any] = client.get("/api/v1/traces", params={"limit": 5}).json()
    TraceList.model_validate(listing)
    assert set(listing) == _keys(TraceList)
    mine = [item for item in listing["items"] if item["trace_id"] == tid]
    assert mine, "the stored trace is in the list"
    for item in listing["items"]:
        assert set(item) == _keys(TraceSummary)
    assert mine[0]["total_tokens"] == 150 and mine[0]["error_count"] == 1


def test_metrics_match_the_documented_model(client: httpx.Client) -> None:
    _store_trace(client)
    body: dict[str, Any] = client.get(
        "/api/v1/metrics", params={"start_time": "2000-01-01T00:00:00Z"}
    ).json()
    Metrics.model_validate(body)
    assert set(body) == _keys(Metrics)
    assert body["models"]
    for model in body["models"]:
        assert set(model) == _keys(ModelMetrics)
