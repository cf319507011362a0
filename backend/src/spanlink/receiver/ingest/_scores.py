"""OpenTelemetry ``gen_ai.evaluation.result`` span events -> scores on that span.

Any tool following the GenAI evaluation convention (``gen_ai.evaluation.name``,
``gen_ai.evaluation.score.value``, ``gen_ai.evaluation.score.label``,
``gen_ai.evaluation.explanation``; ``spanlink.evaluation.passed`` is ours) lands its scores
in the ``scores`` table, in the transaction that stores the span. The rows given here are
already redacted. A score's id is derived from its span and the event's position, so a
re-sent batch adds no score twice. A batch without such an event costs one substring test
per span.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection

from spanlink.receiver.storage import ScoreRow, insert_scores
from spanlink.receiver.storage._tables import SPAN_COPY_COLUMNS
from spanlink.tracer import semconv

__all__ = ["EVALUATION_EVENT", "event_scores", "store_event_scores"]

#: The event name of the GenAI evaluation convention.
EVALUATION_EVENT = "gen_ai.evaluation.result"
_PASSED = "spanlink.evaluation.passed"
_TRACE = SPAN_COPY_COLUMNS.index("trace_id")
_SPAN = SPAN_COPY_COLUMNS.index("span_id")
_EVENTS = SPAN_COPY_COLUMNS.index("events")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _value(raw: Any) -> Any:
    """A number as sent, or a numeric string; anything else is kept for ``bounded`` to refuse."""
    if isinstance(raw, str):
        try:
            return float(raw)
        except ValueError:
            return raw
    return raw


def event_scores(rows: Iterable[Sequence[Any]]) -> list[ScoreRow]:
    """The scores carried by ``gen_ai.evaluation.result`` events of span ``rows``."""
    found: list[ScoreRow] = []
    for row in rows:
        events_json = row[_EVENTS]
        if not isinstance(events_json, str) or EVALUATION_EVENT not in events_json:
            continue
        events = json.loads(events_json)
        for index, event in enumerate(events):
            if not isinstance(event, dict) or event.get("name") != EVALUATION_EVENT:
                continue
            attributes = event.get("attributes")
            attributes = attributes if isinstance(attributes, dict) else {}
            name = _text(attributes.get(semconv.GEN_AI_EVALUATION_NAME)) or "evaluation"
            passed = attributes.get(_PASSED)
            found.append(
                ScoreRow(
                    id=f"event:{row[_TRACE]}:{row[_SPAN]}:{index}",
                    name=name,
                    source="ingest",
                    value=_value(attributes.get(semconv.GEN_AI_EVALUATION_SCORE_VALUE)),
                    label=_text(attributes.get(semconv.GEN_AI_EVALUATION_SCORE_LABEL)),
                    explanation=_text(attributes.get(semconv.GEN_AI_EVALUATION_EXPLANATION)),
                    passed=passed if isinstance(passed, bool) else None,
                    evaluator=_text(attributes.get("gen_ai.evaluation.evaluator")),
                    trace_id=row[_TRACE],
                    span_id=row[_SPAN],
                )
            )
    return found


def store_event_scores(
    connection: Connection, project_id: int, rows: Sequence[Sequence[Any]]
) -> int:
    """Store the evaluation events of ``rows`` as scores in ``connection``'s transaction.

    Scores point at the span only: a span's result link may still change (it is linked
    later when it arrives before its result), and the span's result is found through it.
    """
    return insert_scores(connection, project_id, event_scores(rows))
