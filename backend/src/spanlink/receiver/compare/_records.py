"""Plain records a run comparison reads: case results, runs, and the regression thresholds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from spanlink.tracer.model import Score

__all__ = ["CaseResult", "RunRecord", "Thresholds"]


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One case's result in one run.

    ``status`` is the result status (``passed`` is the only passing one). ``scores`` maps
    an evaluator's score name to its score. ``latency_ms``, ``tokens`` and ``cost_usd`` are
    None when unknown (a cost is never assumed to be zero). ``anomalies`` names the anomaly
    rules that fired on the case's spans; ``trace_ids`` the traces linked to the result.
    """

    case_id: str
    status: str
    scores: Mapping[str, Score] = field(default_factory=dict)
    latency_ms: float | None = None
    tokens: int | None = None
    cost_usd: float | None = None
    anomalies: frozenset[str] = frozenset()
    trace_ids: tuple[str, ...] = ()
    result_id: str | None = None

    @property
    def passed(self) -> bool:
        """True when the case passed."""
        return self.status == "passed"


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A run with its case results and what identifies where it came from.

    ``dataset`` is the dataset id or the pytest suite the run executed (runs of different
    datasets still compare, with a warning); ``commit`` and ``branch`` come from the run's
    git metadata.
    """

    id: str
    cases: Sequence[CaseResult]
    name: str | None = None
    status: str | None = None
    dataset: str | None = None
    commit: str | None = None
    branch: str | None = None
    created_at: str | None = None


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a change between a baseline and a run counts as a regression.

    A score regresses when its verdict goes from passed to failed, or when its value drops
    by at least its threshold: ``score_drop[name]`` when given, else ``default_score_drop``
    for scores within 0-1 and ``default_score_drop`` of the baseline's magnitude for
    others. Names in ``lower_is_better`` regress when they rise instead. Cost, tokens and
    latency regress when they rise by more than their ratio (0.2: +20%) *and* by at least
    their noise floor (an absolute amount).
    """

    score_drop: Mapping[str, float] = field(default_factory=dict)
    default_score_drop: float = 0.1
    lower_is_better: frozenset[str] = frozenset()
    cost_ratio: float = 0.2
    tokens_ratio: float = 0.2
    latency_ratio: float = 0.2
    cost_floor_usd: float = 0.0001
    tokens_floor: int = 10
    latency_floor_ms: float = 50.0

    def __post_init__(self) -> None:
        for name in ("cost_ratio", "tokens_ratio", "latency_ratio", "default_score_drop"):
            value = getattr(self, name)
            if not value >= 0:
                raise ValueError(f"threshold {name} must be >= 0, got {value!r}")
        for name, value in self.score_drop.items():
            if not value >= 0:
                raise ValueError(f"score threshold for {name!r} must be >= 0, got {value!r}")
