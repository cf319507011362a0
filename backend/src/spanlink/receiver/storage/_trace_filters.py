"""The trace list's filters: what a request asks for, as SQL conditions and parameters.

Every value is a named parameter, so the SQL of a list depends only on which filters are
set (its shape, :func:`filter_shape`) and is compiled once per shape (``_trace_queries``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    String,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    func,
    literal_column,
    or_,
    select,
)

from spanlink.receiver.storage._bounds import bound_indexed
from spanlink.receiver.storage._search import span_matches
from spanlink.receiver.storage._tables import (
    scores,
    spans,
    test_results,
    traces,
)

__all__ = [
    "PARAMETER_NAMES",
    "TraceFilters",
    "collects_ids",
    "conditions",
    "filter_parameters",
    "filter_shape",
    "only_text",
    "param",
]


@dataclass(frozen=True, slots=True)
class TraceFilters:
    """Filters of ``GET /api/v1/traces``; ``None`` means "any"."""

    environment: str | None = None
    service: str | None = None
    test_run_id: str | None = None
    test_case_id: str | None = None
    test_result_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    conversation_id: str | None = None
    status: str | None = None  # "error" | "ok"
    name: str | None = None
    q: str | None = None
    root_only: bool = False
    start_ns: int | None = None
    end_ns: int | None = None
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    #: The trace (or the result it is the trace of) has a score of this name, with a value
    #: within ``score_min``..``score_max`` when given.
    score_name: str | None = None
    score_min: float | None = None
    score_max: float | None = None


# Every value of a list query is a bound parameter named after its filter (the values are
# :func:`filter_parameters`), so the SQL of a query depends only on which filters are set: it is
# built and compiled once per shape (:func:`_compiled`), not on every request.
def param(name: str) -> BindParameter[Any]:
    return bindparam(name)


def _score_condition(f: TraceFilters) -> ColumnElement[bool]:
    sc = scores.c
    cond: list[ColumnElement[bool]] = [
        sc.project_id == param("project_id"),
        sc.name == param("score_name"),
    ]
    if f.score_min is not None:
        cond.append(sc.value >= param("score_min"))
    if f.score_max is not None:
        cond.append(sc.value <= param("score_max"))
    by_trace = select(sc.trace_id).where(*cond, sc.trace_id.is_not(None))
    r = test_results.c
    by_result = (
        select(r.trace_id)
        .select_from(
            scores.join(test_results, and_(r.project_id == sc.project_id, r.id == sc.result_id))
        )
        .where(*cond, r.trace_id.is_not(None))
    )
    # The ids are collected first, then looked up by primary key (as for the span filters
    # below): with ``IN (subquery)`` the planner joined them against every trace.
    return traces.c.trace_id == any_(func.array(by_trace.union(by_result).scalar_subquery()))


#: The span attributes each identity filter matches: the OpenTelemetry names first, then
#: those of instrumentations that keep their own (OpenLLMetry's association properties,
#: Langfuse's). A trace matches when any of its spans carries the value under any of them.
IDENTITY_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "session_id": (
        "session.id",
        "traceloop.association.properties.session_id",
        "langfuse.session.id",
    ),
    "user_id": (
        "user.id",
        "enduser.id",
        "traceloop.association.properties.user_id",
        "langfuse.user.id",
    ),
    "conversation_id": ("gen_ai.conversation.id",),
}


def _as_integer(value: str) -> int | None:
    """The integer an instrumentation may have recorded the id as (``user.id = 42``)."""
    if value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def _keys(name: str, keys: tuple[str, ...]) -> list[ColumnElement[Any]]:
    """The attribute names of identity filter ``name``: parameters ``{name}_key0``, ..."""
    return [cast(bindparam(f"{name}_key{i}", type_=String), Text) for i in range(len(keys))]


def _attribute_is(name: str, keys: tuple[str, ...], value: str) -> ColumnElement[bool]:
    """Some span attribute under ``keys`` equals the filter ``name`` (``value``; for digits,
    also that integer: parameter ``{name}_int``).

    Containment (``@>``) is what the GIN index on ``attributes`` answers.
    """
    wanted: list[ColumnElement[Any]] = [cast(bindparam(name, type_=String), Text)]
    if _as_integer(value) is not None:
        wanted.append(cast(bindparam(f"{name}_int", type_=BigInteger), BigInteger))
    return or_(
        *(
            spans.c.attributes.op("@>", is_comparison=True)(func.jsonb_build_object(key, candidate))
            for key in _keys(name, keys)
            for candidate in wanted
        )
    )


def conditions(f: TraceFilters) -> list[ColumnElement[bool]]:
    t = traces.c
    where: list[ColumnElement[bool]] = [t.project_id == param("project_id")]
    if f.environment is not None:
        where.append(t.environment == param("environment"))
    if f.service is not None:
        where.append(t.service_name == param("service"))
    if f.status == "error":
        where.append(t.error_count > literal_column("0"))
    elif f.status == "ok":
        where.append(t.error_count == literal_column("0"))
    if f.start_ns is not None:
        where.append(t.start_ns >= param("start_ns"))
    if f.end_ns is not None:
        where.append(t.start_ns <= param("end_ns"))
    if f.min_duration_ns is not None:
        where.append(t.duration_ns >= param("min_duration_ns"))
    if f.max_duration_ns is not None:
        where.append(t.duration_ns <= param("max_duration_ns"))
    if f.score_name is not None:
        where.append(_score_condition(f))

    # Span-level conditions: the trace has a span matching all of them.
    s = spans.c
    span_where: list[ColumnElement[bool]] = []
    if f.test_run_id is not None:
        span_where.append(s.test_run_id == param("test_run_id"))
    if f.test_case_id is not None:
        span_where.append(s.test_case_id == param("test_case_id"))
    if f.test_result_id is not None:
        span_where.append(s.test_result_id == param("test_result_id"))
    for name, keys in IDENTITY_ATTRIBUTES.items():
        value = getattr(f, name)
        if value is not None:
            span_where.append(_attribute_is(name, keys, value))
    if f.name is not None:
        span_where.append(s.name == param("name"))
    if f.q is not None:
        span_where.append(span_matches(param("project_id"), param("q")))
    if span_where:
        if f.root_only:
            span_where.append(s.parent_span_id.is_(None))
        # The matching trace ids are collected first (one index scan on spans), then looked
        # up by primary key: the span filters are selective, and the planner cannot know it.
        matching = (
            select(s.trace_id).where(s.project_id == param("project_id"), *span_where).distinct()
        )
        where.append(t.trace_id == any_(func.array(matching.scalar_subquery())))
    elif f.root_only:
        where.append(t.has_root.is_(True))
    return where


def _span_level(f: TraceFilters) -> tuple[Any, ...]:
    """The span-level filters but the text (each selective by nature)."""
    return (
        f.test_run_id,
        f.test_case_id,
        f.test_result_id,
        f.session_id,
        f.user_id,
        f.conversation_id,
        f.name,
    )


def collects_ids(f: TraceFilters) -> bool:
    """Whether :func:`conditions` collects the matching trace ids first (a span-level or
    a score filter), rather than walking an index of ``traces``."""
    return (
        f.score_name is not None
        or f.q is not None
        or any(value is not None for value in _span_level(f))
    )


def filter_parameters(
    project_id: int, f: TraceFilters, limit: int = 0, offset: int = 0
) -> dict[str, Any]:
    """The values of the parameters of :func:`conditions` (and of the page's limit and
    offset); those of filters that are not set are unused."""
    params: dict[str, Any] = {
        "project_id": project_id,
        "environment": bound_indexed(f.environment),
        "service": bound_indexed(f.service),
        "start_ns": f.start_ns,
        "end_ns": f.end_ns,
        "min_duration_ns": f.min_duration_ns,
        "max_duration_ns": f.max_duration_ns,
        "score_name": f.score_name,
        "score_min": f.score_min,
        "score_max": f.score_max,
        "test_run_id": bound_indexed(f.test_run_id),
        "test_case_id": bound_indexed(f.test_case_id),
        "test_result_id": bound_indexed(f.test_result_id),
        "name": bound_indexed(f.name),
        "q": f.q,
        "limit": limit,
        "offset": offset,
    }
    for name, keys in IDENTITY_ATTRIBUTES.items():
        value = getattr(f, name)
        if value is not None:
            params[name] = value
            params[f"{name}_int"] = _as_integer(value)
            params.update((f"{name}_key{i}", key) for i, key in enumerate(keys))
    return params


def filter_shape(f: TraceFilters) -> tuple[Any, ...]:
    """What the SQL of ``f``'s queries depends on: which filters are set, the status, root
    only, and whether each identity value is also an integer."""
    return (
        tuple(getattr(f, name) is not None for name in _FILTER_NAMES),
        f.status,
        f.root_only,
        tuple(
            _as_integer(getattr(f, name)) is not None
            for name in IDENTITY_ATTRIBUTES
            if getattr(f, name) is not None
        ),
    )


_FILTER_NAMES = tuple(field.name for field in fields(TraceFilters))
# Every parameter name :func:`filter_parameters` may give a value.
PARAMETER_NAMES = frozenset(
    filter_parameters(0, TraceFilters(session_id="0", user_id="0", conversation_id="0"))
)


def only_text(f: TraceFilters) -> bool:
    """The text is the only span-level filter (the others are selective by nature)."""
    return f.q is not None and all(value is None for value in _span_level(f))
