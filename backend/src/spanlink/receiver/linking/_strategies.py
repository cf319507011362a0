"""The builtin linking strategies (``hybrid``, ``trace_id``), registered as a plugin
(entry point ``linking`` of group ``spanlink``).

A span is *linked* when its ``test_result_id`` column names a test result. Spans that carry
``spanlink.test.result_id`` (the receiver allocates the id before invoking, and the SDK
stamps it on every span) are linked by ingest itself. A strategy links the rest:

- ``hybrid`` (default): a span with the run and case ids but no result id is linked to the
  result of that run and case, and a span without test ids is linked to the result whose
  reported trace id is the span's trace id. This happens when a batch is stored (for every
  span of it), when the result arrives, and in the periodic orphan sweep.
- ``trace_id``: only by the trace id the endpoint reported with the result.

Every statement only touches spans whose ``test_result_id`` is still NULL, so linking is
idempotent and never moves a span from one result to another. The strategy is chosen with
``SPANLINK_LINKING_STRATEGY`` through the ``spanlink_linking_strategy`` hook (first result
wins), so a plugin can replace it: this module is registered through the same ``spanlink``
entry point group as any third-party plugin.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Connection, text

from spanlink.receiver.hookspecs import LinkingStrategy
from spanlink.tracer.plugins import hookimpl

__all__ = [
    "DEFAULT_STRATEGY",
    "HybridStrategy",
    "ReceiverLinkingStrategy",
    "ResultLink",
    "TraceIdStrategy",
    "spanlink_linking_strategy",
]

DEFAULT_STRATEGY = "hybrid"


@dataclass(frozen=True, slots=True)
class ResultLink:
    """What a stored test result offers for linking."""

    result_id: str
    run_id: str
    case_id: str | None
    trace_id: str | None


@runtime_checkable
class ReceiverLinkingStrategy(LinkingStrategy, Protocol):
    """What the receiver calls on a linking strategy. Each method returns spans linked.

    Every method runs inside a transaction already scoped to ``project_id`` and must only
    set ``test_result_id`` (and the run/case ids) on spans whose ``test_result_id`` is NULL.
    """

    name: str

    def link_ingested(
        self, connection: Connection, project_id: int, trace_ids: Collection[str]
    ) -> int:
        """Link the unlinked spans of these traces, just stored."""

    def link_result(self, connection: Connection, project_id: int, result: ResultLink) -> int:
        """Link the unlinked spans that belong to a result that was just stored."""

    def sweep(self, connection: Connection, project_id: int, grace_s: float) -> int:
        """Link spans left unlinked for more than ``grace_s`` seconds."""


# One statement: pick the result of each unlinked span (at most one), link the span, and
# carry the ids onto its trace's summary row. {spans} restricts the spans considered.
_LINK_CANDIDATES = """
WITH candidates AS (
    SELECT DISTINCT ON (s.trace_id, s.span_id)
           s.trace_id, s.span_id, r.id AS result_id, r.run_id, r.case_id
    FROM spans s
    JOIN test_results r ON r.project_id = s.project_id AND (
        (:by_case AND s.test_run_id = r.run_id AND s.test_case_id = r.case_id)
        OR (:by_trace AND r.trace_id = s.trace_id
            AND (s.test_run_id IS NULL
                 OR (s.test_run_id = r.run_id AND s.test_case_id IS NOT DISTINCT FROM r.case_id)))
    )
    WHERE s.project_id = :project_id AND s.test_result_id IS NULL AND {spans}
    ORDER BY s.trace_id, s.span_id, r.created_at
), linked AS (
    UPDATE spans s SET test_result_id = c.result_id,
                       test_run_id = c.run_id,
                       test_case_id = c.case_id
    FROM candidates c
    WHERE s.project_id = :project_id AND s.trace_id = c.trace_id AND s.span_id = c.span_id
      AND s.test_result_id IS NULL
    RETURNING s.trace_id, c.result_id, c.run_id, c.case_id
), per_trace AS (
    SELECT DISTINCT ON (trace_id) trace_id, result_id, run_id, case_id FROM linked
), traced AS (
    UPDATE traces t SET test_result_id = coalesce(t.test_result_id, p.result_id),
                        test_run_id = coalesce(t.test_run_id, p.run_id),
                        test_case_id = coalesce(t.test_case_id, p.case_id)
    FROM per_trace p
    WHERE t.project_id = :project_id AND t.trace_id = p.trace_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM linked), (SELECT count(*) FROM traced)
"""

_BY_TRACE_IDS = text(_LINK_CANDIDATES.format(spans="s.trace_id = ANY(:trace_ids)"))
_ORPHANS = text(
    _LINK_CANDIDATES.format(
        spans="s.test_run_id IS NOT NULL "
        "AND s.received_at < now() - make_interval(secs => :grace_s)"
    )
)
# Spans of traces reported by recent results, left unlinked (trace_id strategy's sweep).
_RECENT_RESULT_TRACES = text(
    _LINK_CANDIDATES.format(
        spans="s.trace_id IN (SELECT trace_id FROM test_results "
        "WHERE project_id = :project_id AND trace_id IS NOT NULL "
        "AND finished_at > now() - interval '1 day') "
        "AND s.received_at < now() - make_interval(secs => :grace_s)"
    )
)

_RECENT_RESULTS = text(
    "SELECT EXISTS (SELECT 1 FROM test_results WHERE project_id = :project_id "
    "AND created_at > now() - interval '1 day')"
)

_LINK_RESULT = text(
    """
WITH linked AS (
    UPDATE spans SET test_result_id = :result_id,
                     test_run_id = :run_id,
                     test_case_id = coalesce(test_case_id, :case_id)
    WHERE project_id = :project_id AND test_result_id IS NULL AND (
        (:by_case AND test_run_id = :run_id AND test_case_id = :case_id)
        OR (trace_id = :trace_id
            AND (test_run_id IS NULL
                 OR (test_run_id = :run_id AND test_case_id IS NOT DISTINCT FROM :case_id)))
    )
    RETURNING trace_id
), traced AS (
    UPDATE traces t SET test_result_id = coalesce(t.test_result_id, :result_id),
                        test_run_id = coalesce(t.test_run_id, :run_id),
                        test_case_id = coalesce(t.test_case_id, :case_id)
    WHERE t.project_id = :project_id AND t.trace_id IN (SELECT trace_id FROM linked)
    RETURNING 1
)
SELECT (SELECT count(*) FROM linked), (SELECT count(*) FROM traced)
"""
)


def _count(connection: Connection, statement: Any, params: Mapping[str, Any]) -> int:
    row = connection.execute(statement, dict(params)).first()
    return int(row[0]) if row else 0


class _SqlStrategy:
    """The strategies differ only in which matches they allow."""

    name = ""
    by_case = True

    def link_ingested(
        self, connection: Connection, project_id: int, trace_ids: Collection[str]
    ) -> int:
        """Link the unlinked spans of these traces, just stored."""
        if not trace_ids:
            return 0
        # Most traffic is not from test runs: skip the join for projects without recent ones.
        if not connection.execute(_RECENT_RESULTS, {"project_id": project_id}).scalar():
            return 0
        return _count(
            connection,
            _BY_TRACE_IDS,
            {
                "project_id": project_id,
                "trace_ids": list(trace_ids),
                "by_case": self.by_case,
                "by_trace": True,
            },
        )

    def link_result(self, connection: Connection, project_id: int, result: ResultLink) -> int:
        """Link the unlinked spans that belong to a result that was just stored."""
        if result.trace_id is None and not self.by_case:
            return 0
        return _count(
            connection,
            _LINK_RESULT,
            {
                "project_id": project_id,
                "result_id": result.result_id,
                "run_id": result.run_id,
                "case_id": result.case_id,
                "trace_id": result.trace_id,
                "by_case": self.by_case,
            },
        )

    def sweep(self, connection: Connection, project_id: int, grace_s: float) -> int:
        """Link spans left unlinked for more than ``grace_s`` seconds."""
        params = {
            "project_id": project_id,
            "grace_s": float(grace_s),
            "by_case": self.by_case,
            "by_trace": True,
        }
        linked = _count(connection, _RECENT_RESULT_TRACES, params)
        if self.by_case:
            linked += _count(connection, _ORPHANS, params)
        return linked

    def __repr__(self) -> str:
        return f"<linking strategy {self.name!r}>"


class HybridStrategy(_SqlStrategy):
    """Link by the run and case ids on the span, else by the result's reported trace id."""

    name = "hybrid"
    by_case = True


class TraceIdStrategy(_SqlStrategy):
    """Link only by the trace id the endpoint reported with the result."""

    name = "trace_id"
    by_case = False


_STRATEGIES: dict[str, type[_SqlStrategy]] = {
    HybridStrategy.name: HybridStrategy,
    TraceIdStrategy.name: TraceIdStrategy,
}


@hookimpl
def spanlink_linking_strategy(config: Mapping[str, Any]) -> ReceiverLinkingStrategy | None:
    """The builtin strategies: ``hybrid`` (the default) and ``trace_id``."""
    name = config.get("name") or DEFAULT_STRATEGY
    factory = _STRATEGIES.get(str(name))
    return factory() if factory is not None else None
