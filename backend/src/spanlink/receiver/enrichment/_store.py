"""Database side of enrichment: a trace's spans, the project's prices and baselines, results.

Every function runs in a transaction bound to one project (``project_transaction``), so
row-level security backs up each ``project_id`` filter.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, text

from spanlink.receiver.ingest import span_record_from_row
from spanlink.tracer.model import SpanRecord
from spanlink.tracer.semconv import normalize

__all__ = [
    "BaselineCache",
    "TraceInput",
    "enrichment_state",
    "load_prices",
    "load_trace",
    "save_enrichment",
    "save_prices",
]

_SPANS = text(
    """
    SELECT trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code,
           status_message, attributes, events, links, resource, scope_name, scope_version
    FROM spans WHERE project_id = :project_id AND trace_id = :trace_id
    ORDER BY start_ns, span_id
    """
)
_PROJECT_NAME = text("SELECT name FROM projects WHERE id = :project_id")
_PRICES = text("SELECT prices, updated_at FROM project_prices WHERE project_id = :project_id")
_SAVE_PRICES = text(
    """
    INSERT INTO project_prices (project_id, prices, updated_at)
    VALUES (:project_id, CAST(:prices AS jsonb), now())
    ON CONFLICT (project_id) DO UPDATE SET prices = EXCLUDED.prices, updated_at = now()
    RETURNING updated_at
    """
)
# p95 duration per span name over the project's recent history, for the names of one trace.
_BASELINES = text(
    """
    SELECT name,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ns) / 1e6 AS p95_ms,
           count(*) AS span_count
    FROM spans
    WHERE project_id = :project_id AND name = ANY(:names) AND start_ns >= :since_ns
    GROUP BY name
    """
)
# An older computation (fewer spans) never overwrites a newer one.
_SAVE = text(
    """
    INSERT INTO trace_enrichments (project_id, trace_id, data, plugin_versions, span_count,
                                   computed_at)
    VALUES (:project_id, :trace_id, CAST(:data AS jsonb), CAST(:versions AS jsonb),
            :span_count, now())
    ON CONFLICT (project_id, trace_id) DO UPDATE
    SET data = EXCLUDED.data, plugin_versions = EXCLUDED.plugin_versions,
        span_count = EXCLUDED.span_count, computed_at = EXCLUDED.computed_at
    WHERE trace_enrichments.span_count IS NULL
       OR trace_enrichments.span_count <= EXCLUDED.span_count
    """
)
_STATE = text(
    """
    SELECT t.span_count AS spans, e.span_count AS enriched
    FROM traces t
    LEFT JOIN trace_enrichments e ON e.project_id = t.project_id AND e.trace_id = t.trace_id
    WHERE t.project_id = :project_id AND t.trace_id = :trace_id
    """
)


@dataclass
class TraceInput:
    """Everything the plugins need for one trace, read in one transaction."""

    spans: list[SpanRecord]
    project_name: str | None
    prices: dict[str, Any]


def load_trace(connection: Connection, project_id: int, trace_id: str) -> TraceInput:
    """The trace's spans as normalized ``SpanRecord``s, the project's name and prices."""
    params = {"project_id": project_id, "trace_id": trace_id}
    spans = []
    for row in connection.execute(_SPANS, params).mappings():
        record = span_record_from_row(cast(Mapping[str, Any], row))
        record.attributes = normalize(record.attributes)
        spans.append(record)
    name = connection.execute(_PROJECT_NAME, params).scalar_one_or_none()
    prices, _ = load_prices(connection, project_id)
    return TraceInput(spans, name, prices)


def load_prices(connection: Connection, project_id: int) -> tuple[dict[str, Any], Any]:
    """The project's price table (``{}`` when none) and when it was last set."""
    row = connection.execute(_PRICES, {"project_id": project_id}).one_or_none()
    if row is None:
        return {}, None
    return dict(row.prices or {}), row.updated_at


def save_prices(connection: Connection, project_id: int, prices: dict[str, Any]) -> Any:
    """Replace the project's price table; returns the time it was stored."""
    return connection.execute(
        _SAVE_PRICES, {"project_id": project_id, "prices": json.dumps(prices, allow_nan=False)}
    ).scalar_one()


def save_enrichment(
    connection: Connection,
    project_id: int,
    trace_id: str,
    data: dict[str, Any],
    plugin_versions: dict[str, Any],
    span_count: int,
) -> None:
    """Store the trace's enrichment (one row per trace; never onto the span rows)."""
    connection.execute(
        _SAVE,
        {
            "project_id": project_id,
            "trace_id": trace_id,
            "data": json.dumps(data, allow_nan=False),
            "versions": json.dumps(plugin_versions),
            "span_count": span_count,
        },
    )


def enrichment_state(
    connection: Connection, project_id: int, trace_id: str
) -> tuple[int, int | None] | None:
    """``(spans stored, spans the stored enrichment covered or None)``; None: no such trace."""
    row = connection.execute(_STATE, {"project_id": project_id, "trace_id": trace_id}).one_or_none()
    if row is None:
        return None
    return int(row.spans), None if row.enriched is None else int(row.enriched)


class BaselineCache:
    """p95 duration baselines per ``(project, span name)``, reused for ``ttl`` seconds.

    At most one query per call: only the names missing or expired are asked for.
    """

    def __init__(self, ttl: float, window_hours: float, max_entries: int = 50_000) -> None:
        self.ttl = ttl
        self.window_ns = int(window_hours * 3600 * 1e9)
        self.max_entries = max_entries
        self._entries: dict[tuple[int, str], tuple[float, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()

    def get(
        self, connection: Connection, project_id: int, names: Iterable[str]
    ) -> dict[str, dict[str, Any]]:
        """Span name -> ``{"p95_ms", "count"}`` for those of ``names`` with history."""
        now = time.monotonic()
        out: dict[str, dict[str, Any]] = {}
        missing: list[str] = []
        with self._lock:
            for name in set(names):
                entry = self._entries.get((project_id, name))
                if entry is None or entry[0] <= now:
                    missing.append(name)
                elif entry[1] is not None:
                    out[name] = entry[1]
        if not missing:
            return out
        rows = connection.execute(
            _BASELINES,
            {
                "project_id": project_id,
                "names": sorted(missing),
                "since_ns": time.time_ns() - self.window_ns,
            },
        )
        found: dict[str, dict[str, Any] | None] = dict.fromkeys(missing)
        for row in rows:
            found[row.name] = {"p95_ms": float(row.p95_ms), "count": int(row.span_count)}
        with self._lock:
            if len(self._entries) + len(found) > self.max_entries:
                self._entries.clear()  # bounded: names come from input
            for name, value in found.items():
                self._entries[(project_id, name)] = (now + self.ttl, value)
                if value is not None:
                    out[name] = value
        return out
