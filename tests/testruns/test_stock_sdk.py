"""Spans from a service using only the stock OpenTelemetry SDK and OTLP exporter are linked."""

from __future__ import annotations

from typing import Any

import httpx
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from receiver_helpers import stock_provider

import spanlink.protocol as p


def test_stock_sdk_spans_with_run_and_case_ids_or_the_reported_trace_are_linked(
    receiver: Any, project: Any, client: httpx.Client, run_waiter: Any, endpoint_peer: Any
) -> None:
    # A provider of its own (never the global one): the stock exporter, no spanlink code.
    provider = stock_provider(
        receiver.url, project.api_key, Resource.create({"service.name": "stock-service"})
    )
    tracer = provider.get_tracer("stock")
    with endpoint_peer("f") as ws:
        created = client.post(
            "/api/v1/test-runs", json={"function": "f", "cases": [{"id": "k", "inputs": {}}]}
        ).json()
        invoke = p.decode(ws.recv(timeout=10))
        assert isinstance(invoke, p.Invoke)
        context = invoke.test_context
        # Before the result: spans carrying only the run and case ids (each its own trace).
        for index in range(3):
            with tracer.start_as_current_span(
                f"by case {index}",
                attributes={
                    "spanlink.test.run_id": context.get("run_id") or "",
                    "spanlink.test.case_id": "k",
                },
            ):
                pass
        # The invocation's own trace, with no test attributes at all.
        with tracer.start_as_current_span("root") as root:
            with tracer.start_as_current_span("child"):
                pass
        trace_id = trace.format_trace_id(root.get_span_context().trace_id)
        ws.send(
            p.encode(
                p.Result(invocation_id=invoke.invocation_id, status="success", trace_id=trace_id)
            )
        )
        run = run_waiter(client, created["id"], lambda run: run["results"][0]["span_count"] == 5)
    provider.shutdown()
    [result] = run["results"]
    assert result["status"] == "passed"
    assert result["trace_id"] == trace_id
    assert trace_id in result["trace_ids"] and len(result["trace_ids"]) == 4
    traces = client.get(
        "/api/v1/traces", params={"test_result_id": result["id"], "limit": 10}
    ).json()
    assert traces["total"] == 4
