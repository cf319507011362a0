"""Plain records plugins see, in-process and in the receiver: spans, traces and evaluation.

``SpanRecord`` is built from an OpenTelemetry ``ReadableSpan`` in the application and from
OTLP in the receiver, so a plugin never touches ORM rows or SDK internals. ``Case``,
``Score``, ``EvaluatorConfig`` and the ``Evaluator`` protocol are the evaluation contract:
an evaluator is called with the case, the output and the linked ``Trace`` and returns
``Score``s.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = [
    "Case",
    "Evaluator",
    "EvaluatorConfig",
    "EvaluatorResult",
    "Score",
    "SpanEvent",
    "SpanLink",
    "SpanRecord",
    "Trace",
    "format_span_id",
    "format_trace_id",
]

#: Span kinds by their OpenTelemetry name; ``SpanRecord.kind`` holds one of these.
SPAN_KINDS = ("INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
#: Status codes by their OpenTelemetry name; ``SpanRecord.status_code`` holds one of these.
STATUS_CODES = ("UNSET", "OK", "ERROR")


def format_trace_id(trace_id: int) -> str:
    """A 128-bit trace id as 32 lowercase hex digits (the W3C/OTLP text form)."""
    return f"{trace_id:032x}"


def format_span_id(span_id: int) -> str:
    """A 64-bit span id as 16 lowercase hex digits (the W3C/OTLP text form)."""
    return f"{span_id:016x}"


@dataclass(frozen=True, slots=True)
class SpanEvent:
    """A timestamped event recorded on a span (exceptions are events named ``exception``)."""

    name: str
    time_unix_nano: int
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SpanLink:
    """A link from a span to another span context."""

    trace_id: str
    span_id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SpanRecord:
    """One finished span. Ids are lowercase hex strings; times are Unix nanoseconds."""

    trace_id: str
    span_id: str
    name: str
    start_time_unix_nano: int
    end_time_unix_nano: int
    parent_span_id: str | None = None
    kind: str = "INTERNAL"
    status_code: str = "UNSET"
    status_message: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)
    links: list[SpanLink] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)
    scope_name: str | None = None
    scope_version: str | None = None

    @property
    def duration_ns(self) -> int:
        """End minus start, never negative."""
        return max(0, self.end_time_unix_nano - self.start_time_unix_nano)

    @property
    def duration_ms(self) -> float:
        """Duration in milliseconds."""
        return self.duration_ns / 1e6

    @property
    def is_error(self) -> bool:
        """True when the span's status is ERROR."""
        return self.status_code == "ERROR"

    @classmethod
    def from_readable_span(cls, span: ReadableSpan) -> SpanRecord:
        """Build a record from a finished OpenTelemetry SDK span."""
        context = span.get_span_context()
        if context is None:  # pragma: no cover - SDK spans always carry one
            raise ValueError("span has no span context")
        parent = span.parent
        scope = span.instrumentation_scope
        return cls(
            trace_id=format_trace_id(context.trace_id),
            span_id=format_span_id(context.span_id),
            parent_span_id=format_span_id(parent.span_id) if parent is not None else None,
            name=span.name,
            kind=span.kind.name,
            start_time_unix_nano=span.start_time or 0,
            end_time_unix_nano=span.end_time or span.start_time or 0,
            status_code=span.status.status_code.name,
            status_message=span.status.description,
            attributes=dict(span.attributes or {}),
            events=[
                SpanEvent(event.name, event.timestamp, dict(event.attributes or {}))
                for event in span.events
            ],
            links=[
                SpanLink(
                    format_trace_id(link.context.trace_id),
                    format_span_id(link.context.span_id),
                    dict(link.attributes or {}),
                )
                for link in span.links
            ],
            resource=dict(span.resource.attributes) if span.resource is not None else {},
            scope_name=scope.name if scope is not None else None,
            scope_version=scope.version if scope is not None else None,
        )


@dataclass(slots=True)
class Trace:
    """The spans of one trace, with tree helpers.

    A span whose parent is not among the spans (not arrived yet, or from another service)
    counts as a root. Children are ordered by start time.
    """

    trace_id: str
    spans: list[SpanRecord]
    _by_id: dict[str, SpanRecord] = field(init=False, repr=False)
    _children: dict[str, list[SpanRecord]] = field(init=False, repr=False)
    _roots: list[SpanRecord] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {span.span_id: span for span in self.spans}
        self._children = {}
        self._roots = []
        for span in sorted(self.spans, key=lambda s: (s.start_time_unix_nano, s.span_id)):
            parent = span.parent_span_id
            if parent is not None and parent in self._by_id and parent != span.span_id:
                self._children.setdefault(parent, []).append(span)
            else:
                self._roots.append(span)

    @classmethod
    def from_spans(cls, spans: Sequence[SpanRecord]) -> Trace:
        """Build a trace from spans that all share one trace id."""
        if not spans:
            raise ValueError("a trace needs at least one span")
        trace_ids = {span.trace_id for span in spans}
        if len(trace_ids) != 1:
            raise ValueError(f"spans belong to {len(trace_ids)} traces, expected one")
        return cls(trace_id=spans[0].trace_id, spans=list(spans))

    @property
    def roots(self) -> list[SpanRecord]:
        """Spans with no parent in this trace, by start time."""
        return list(self._roots)

    def get(self, span_id: str) -> SpanRecord | None:
        """The span with this id, or None."""
        return self._by_id.get(span_id)

    def children(self, span_id: str) -> list[SpanRecord]:
        """Direct children of a span, by start time."""
        return list(self._children.get(span_id, ()))

    def walk(self) -> Iterator[tuple[int, SpanRecord]]:
        """Depth-first ``(depth, span)`` pairs, roots first, children by start time.

        Each span is yielded exactly once: spans caught in a parent cycle (malformed
        input) are yielded after the rest, as roots of their own subtrees.
        """
        seen: set[str] = set()
        starts = [*self._roots, *sorted(self.spans, key=lambda s: s.start_time_unix_nano)]
        for start in starts:
            if start.span_id in seen:
                continue
            stack = [(0, start)]
            while stack:
                depth, span = stack.pop()
                if span.span_id in seen:
                    continue
                seen.add(span.span_id)
                yield depth, span
                for child in reversed(self._children.get(span.span_id, ())):
                    stack.append((depth + 1, child))

    @property
    def start_time_unix_nano(self) -> int:
        """The earliest span start."""
        return min(span.start_time_unix_nano for span in self.spans)

    @property
    def end_time_unix_nano(self) -> int:
        """The latest span end."""
        return max(span.end_time_unix_nano for span in self.spans)

    @property
    def duration_ns(self) -> int:
        """From the earliest start to the latest end."""
        return max(0, self.end_time_unix_nano - self.start_time_unix_nano)


@dataclass(frozen=True, slots=True)
class Case:
    """One test case: what the app is called with and what a good answer looks like.

    ``id`` is stable across runs (a dataset case id, a pytest node id), so two runs compare
    case by case. ``expected`` is the reference output (None when there is none).
    """

    id: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    expected: Any = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Score:
    """One judgement of a result, a trace or a span.

    ``value`` is numeric (0-1 for most builtin evaluators), ``label`` a category, ``passed``
    the verdict against the evaluator's threshold (None when it gives none). ``error`` is
    set, and the verdict left None, when the evaluator could not judge (it raised, timed
    out, or its parameters were wrong). ``span_id`` names the span the score is about.
    ``metadata`` holds JSON-safe details of how the score was reached (a judge model's
    name and token usage); it is not part of the verdict.
    """

    name: str
    value: float | None = None
    label: str | None = None
    passed: bool | None = None
    explanation: str | None = None
    evaluator: str | None = None
    evaluator_version: str | None = None
    span_id: str | None = None
    error: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.value is not None and not (
            isinstance(self.value, (int, float)) and math.isfinite(self.value)
        ):
            raise ValueError(f"score {self.name!r}: value must be a finite number or None")

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form, as the receiver's API returns it."""
        return {
            "name": self.name,
            "value": self.value,
            "label": self.label,
            "passed": self.passed,
            "explanation": self.explanation,
            "evaluator": self.evaluator,
            "evaluator_version": self.evaluator_version,
            "span_id": self.span_id,
            "error": self.error,
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True, slots=True)
class EvaluatorConfig:
    """An evaluator as a case or a run asks for it.

    ``name`` is the evaluator's registered name, ``params`` its parameters, ``threshold``
    the value a score must reach to pass (None: the evaluator's own rule), ``required``
    whether the case fails when this evaluator does not pass.
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    threshold: float | None = None
    required: bool = True


#: What ``Evaluator.evaluate`` may return: one score, several, or an awaitable of either.
EvaluatorResult = Score | Iterable[Score] | Awaitable[Score | Iterable[Score]]


@runtime_checkable
class Evaluator(Protocol):
    """Judges one result: the case, the app's output and the spans linked to it.

    ``name`` is the name cases refer to; ``version`` is stored with every score.
    ``needs_trace`` says whether ``evaluate`` reads the trace: such an evaluator runs only
    after linking (and enrichment) of the case's spans has settled, and again when a late
    span arrives; one that does not is given ``trace=None`` and runs at once.
    """

    name: str
    version: str
    needs_trace: bool

    def validate(self, params: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` saying what is wrong when ``params`` can never work.

        Called when a run or dataset is created, so a bad configuration is refused then
        rather than failing every case later.
        """

    def evaluate(
        self,
        case: Case,
        output: Any,
        trace: Trace | None,
        *,
        params: Mapping[str, Any],
        threshold: float | None,
        enrichment: Mapping[str, Any] | None = None,
    ) -> EvaluatorResult:
        """Judge ``output`` (and ``trace``) for ``case``; sync or ``async``.

        ``trace`` holds every span linked to the result (several traces of one case are
        joined into one, each of their roots a root). ``enrichment`` is the stored
        enrichment of those spans (``{"spans": {span_id: {plugin: result}}, "trace":
        {plugin: result}}``) when the host has it. Returns one or more ``Score``s; raising
        is allowed and is recorded as a score with an error.
        """
