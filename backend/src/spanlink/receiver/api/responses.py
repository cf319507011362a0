"""Response models of the query API: the OpenAPI document, and what the SQL-built JSON is
checked against (``tests/receiver/test_response_models.py``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = [
    "CompactTraceDetail",
    "ErrorBody",
    "FieldError",
    "Health",
    "LatencyMs",
    "Metrics",
    "ModelMetrics",
    "SpanDetail",
    "SpanOut",
    "SpanOutFull",
    "SpanSummary",
    "TestLink",
    "TraceDetail",
    "TraceEnrichment",
    "TraceHeader",
    "TraceList",
    "TraceSummary",
]


class TraceSummary(BaseModel):
    """One row of the trace list."""

    trace_id: str
    name: str | None
    start_time_unix_nano: int
    end_time_unix_nano: int
    duration_ms: float
    span_count: int
    error_count: int
    environment: str | None
    service_name: str | None
    test_run_id: str | None
    test_case_id: str | None
    test_result_id: str | None
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float | None


class TraceList(BaseModel):
    """A page of traces, newest first."""

    items: list[TraceSummary]
    #: With ``total_is_estimate``, extrapolated: a text search for a word in many spans
    #: counts the traces it walked for the page, not every match.
    total: int
    limit: int
    offset: int
    next_offset: int | None
    total_is_estimate: bool


class SpanSummary(BaseModel):
    """What the trace answer carries of every span: enough to draw it in a waterfall."""

    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_time_unix_nano: int
    end_time_unix_nano: int
    duration_ms: float
    status_code: str
    status_message: str | None
    service_name: str | None
    environment: str | None
    test_run_id: str | None
    test_case_id: str | None
    test_result_id: str | None
    #: ``gen_ai.response.model``, else ``gen_ai.request.model``.
    model: str | None
    #: ``gen_ai.usage.input_tokens`` / ``output_tokens`` when they are integers.
    input_tokens: int | None
    output_tokens: int | None
    #: ``gen_ai.operation.name`` and ``gen_ai.tool.name`` as text.
    operation_name: str | None
    tool_name: str | None


class SpanDetail(SpanSummary):
    """One span with everything stored about it (``GET .../spans/{span_id}``)."""

    trace_id: str
    scope_name: str | None
    scope_version: str | None
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    links: list[dict[str, Any]]
    resource: dict[str, Any]
    #: This span's plugin results (``{plugin: result}``) from the trace's enrichment, or None.
    enrichment: dict[str, Any] | None


class SpanOut(SpanSummary):
    """One span of a trace, in depth-first tree order."""

    depth: int
    children: list[str]


class SpanOutFull(SpanDetail):
    """One span of a trace fetched with ``full=true``: the span in full and its tree place."""

    depth: int
    children: list[str]


class TraceEnrichment(BaseModel):
    """Plugin results for the whole trace, stored once per trace."""

    data: dict[str, Any]
    plugin_versions: dict[str, Any]
    span_count: int | None
    computed_at: str | None


class TestLink(BaseModel):
    """A test run/case/result that spans of the trace are linked to."""

    __test__ = False  # not a pytest test class

    test_run_id: str | None
    test_case_id: str | None
    test_result_id: str | None
    span_count: int


class TraceHeader(BaseModel):
    """What a trace answer says about the whole trace, in either form."""

    trace_id: str
    start_time_unix_nano: int
    end_time_unix_nano: int
    duration_ms: float
    span_count: int
    error_count: int
    test_links: list[TestLink]
    #: USD when every model call of the trace was priced; null when unknown or no model call.
    cost_usd: float | None
    enrichment: TraceEnrichment | None


class TraceDetail(TraceHeader):
    """One trace: spans as a flat depth-first list (``depth``, ``children``), orphans as roots."""

    root_span_ids: list[str]
    #: Lean spans; with ``full=true``, spans in full.
    spans: list[SpanOut] | list[SpanOutFull]


class CompactTraceDetail(TraceHeader):
    """One trace with ``compact=true``: the lean spans as rows, in start order (ties by
    span id), each an array of the ``span_fields`` values; the reader builds the tree
    from ``parent_span_id`` (a span whose parent is missing, is itself, or is only
    reachable through a parent cycle, is a root)."""

    #: The names of a row's values, in order: the fields of a lean span (``SpanSummary``).
    span_fields: list[str]
    spans: list[list[Any]]


class LatencyMs(BaseModel):
    """Latency percentiles in milliseconds (None when there is no data)."""

    p50: float | None
    p95: float | None
    p99: float | None = None


class ModelMetrics(BaseModel):
    """Per-model span count, tokens, latency and cost."""

    model: str
    span_count: int
    error_count: int
    input_tokens: int
    output_tokens: int
    latency_ms: LatencyMs
    cost_usd: float | None


class Metrics(BaseModel):
    """Aggregates over the traces that started in a time range."""

    start_time_unix_nano: int
    end_time_unix_nano: int
    trace_count: int
    span_count: int
    error_trace_count: int
    error_rate: float
    latency_ms: LatencyMs
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    models: list[ModelMetrics]


class Health(BaseModel):
    """Liveness / readiness answer (when not ready, also the error's ``code`` and ``message``)."""

    status: str
    code: int | None = None
    message: str | None = None


class FieldError(BaseModel):
    """One field a request failed validation on (the value sent is never repeated)."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every error answer: the HTTP status and what to do; 422 answers add ``errors``."""

    code: int
    message: str
    errors: list[FieldError] | None = None
