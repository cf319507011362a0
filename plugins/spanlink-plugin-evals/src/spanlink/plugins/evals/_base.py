"""What every builtin evaluator shares: parameter checks, the verdict rule, score building.

An evaluator parses its parameters in one place (``parse``), which ``validate`` and
``evaluate`` both call, so a configuration accepted at run creation is exactly the one the
evaluation sees. ``ParamError`` is a ``ValueError`` naming the evaluator and the parameter.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, NoReturn, TypeVar

from spanlink.tracer.model import Case, Score, Trace

__all__ = ["VERSION", "BuiltinEvaluator", "Judgement", "ParamError", "Params", "Subject"]

#: Stored with every score of a builtin evaluator.
VERSION = "0.1.0"

P = TypeVar("P")


class ParamError(ValueError):
    """A builtin evaluator's parameters are wrong; the message says which and how to fix it."""


class Params:
    """Typed reads of one evaluator's ``params``, each failing with a clear ``ParamError``."""

    __slots__ = ("_evaluator", "_params")

    def __init__(self, evaluator: str, params: Any, known: frozenset[str]) -> None:
        self._evaluator = evaluator
        if not isinstance(params, Mapping):
            self.fail(f"params must be an object, not {type(params).__name__}")
        unknown = sorted(str(key) for key in params if key not in known)
        if unknown:
            self.fail(
                f"unknown parameter(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(sorted(known)) or 'none'}"
            )
        self._params: Mapping[str, Any] = params

    def fail(self, message: str) -> NoReturn:
        """Raise ``ParamError`` for this evaluator."""
        raise ParamError(f"{self._evaluator}: {message}")

    def has(self, key: str) -> bool:
        """True when ``key`` is given (and not null)."""
        return self._params.get(key) is not None

    def raw(self, key: str, default: Any = None) -> Any:
        """The value as given."""
        value = self._params.get(key)
        return default if value is None else value

    def text(self, key: str, default: str | None = None, *, required: bool = False) -> Any:
        """A non-empty string."""
        value = self._params.get(key)
        if value is None:
            if required:
                self.fail(f"{key!r} is required (a non-empty string)")
            return default
        if not isinstance(value, str) or not value:
            self.fail(f"{key!r} must be a non-empty string, not {value!r}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        """A bool."""
        value = self._params.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(f"{key!r} must be true or false, not {value!r}")
        return value

    def number(
        self,
        key: str,
        default: float | None = None,
        *,
        required: bool = False,
        minimum: float | None = None,
    ) -> Any:
        """A finite number (not a bool), at least ``minimum`` when given."""
        value = self._params.get(key)
        if value is None:
            if required:
                self.fail(f"{key!r} is required (a number)")
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            self.fail(f"{key!r} must be a finite number, not {value!r}")
        if minimum is not None and value < minimum:
            self.fail(f"{key!r} must be at least {minimum:g}, not {value!r}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        """One of ``choices``."""
        value = self._params.get(key)
        if value is None:
            return default
        if not isinstance(value, str) or value not in choices:
            self.fail(f"{key!r} must be one of {', '.join(map(repr, choices))}, not {value!r}")
        result: str = value
        return result

    def texts(self, key: str, *, required: bool = False, single: bool = True) -> list[str]:
        """A list of non-empty strings (or one string, when ``single``)."""
        value = self._params.get(key)
        if value is None:
            if required:
                self.fail(f"{key!r} is required (a string or a list of strings)")
            return []
        if single and isinstance(value, str):
            value = [value]
        if (
            not isinstance(value, (list, tuple))
            or not value
            or not all(isinstance(item, str) and item for item in value)
        ):
            self.fail(f"{key!r} must be a non-empty list of non-empty strings, not {value!r}")
        return list(value)

    def mapping(self, key: str) -> Mapping[str, Any] | None:
        """An object (or None when absent)."""
        value = self._params.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.fail(f"{key!r} must be an object, not {value!r}")
        result: Mapping[str, Any] = value
        return result


@dataclass(frozen=True, slots=True)
class Subject:
    """What one evaluation judges: the case, the app's output, the linked trace (None when
    none is linked, or the evaluator does not read it) and the stored enrichment."""

    case: Case
    output: Any
    trace: Trace | None
    enrichment: Mapping[str, Any] | None


#: What ``judge`` returns: a score, or (``llm_judge``, which is async) an awaitable of one.
Judgement = Score | Awaitable[Score]


class BuiltinEvaluator(Generic[P]):
    """Base of the builtin evaluators: ``parse`` params once, ``judge`` the result.

    Subclasses set ``name``, ``needs_trace``, ``params`` (the parameter names they accept)
    and implement ``parse`` and ``judge`` (which reads what it needs from the ``Subject``).
    ``default_threshold`` is the value a score must reach to pass when the configuration
    gives no threshold.
    """

    name: str
    needs_trace: bool = False
    params: ClassVar[frozenset[str]] = frozenset()
    default_threshold: ClassVar[float] = 1.0
    version: str = VERSION

    def parse(self, params: Params) -> P:
        """Read and check every parameter; raise ``ParamError`` (via ``params.fail``)."""
        raise NotImplementedError

    def judge(self, subject: Subject, options: P, threshold: float | None) -> Judgement:
        """Score ``subject`` with already-parsed ``options``."""
        raise NotImplementedError

    def read(self, params: Mapping[str, Any]) -> P:
        """``params`` parsed, or ``ParamError``."""
        return self.parse(Params(self.name, params, self.params))

    def validate(self, params: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` saying what is wrong when ``params`` can never work."""
        self.read(params)

    def evaluate(
        self,
        case: Case,
        output: Any,
        trace: Trace | None,
        *,
        params: Mapping[str, Any],
        threshold: float | None,
        enrichment: Mapping[str, Any] | None = None,
    ) -> Judgement:
        """Judge ``output`` (and ``trace``) for ``case``; see the evaluator's documentation."""
        subject = Subject(case, output, trace, enrichment)
        return self.judge(subject, self.read(params), threshold)

    # --- building scores ---

    def verdict(
        self,
        value: float,
        threshold: float | None,
        explanation: str,
        *,
        span_id: str | None = None,
        label: str | None = None,
        rule: bool | None = None,
    ) -> Score:
        """A score whose ``passed`` is ``value >= threshold``; without a threshold, ``rule``
        (the evaluator's own verdict) when given, else ``value >= default_threshold``."""
        if threshold is None and rule is not None:
            passed = rule
        else:
            passed = value >= (self.default_threshold if threshold is None else threshold)
        return Score(
            name=self.name,
            value=float(value),
            label=label if label is not None else ("pass" if passed else "fail"),
            passed=passed,
            explanation=explanation,
            evaluator=self.name,
            evaluator_version=self.version,
            span_id=span_id,
        )

    def unknown(self, error: str, *, value: float | None = None) -> Score:
        """A score that gives no verdict because what it needs is unknown."""
        return Score(
            name=self.name,
            value=value,
            label="unknown",
            passed=None,
            explanation=error,
            evaluator=self.name,
            evaluator_version=self.version,
            error=error,
        )


def cached(size: int) -> Callable[[Callable[[str], Any]], Callable[[str], Any]]:
    """A bounded cache for a one-string-argument builder (compiled patterns, schemas)."""

    def wrap(build: Callable[[str], Any]) -> Callable[[str], Any]:
        store: dict[str, Any] = {}

        def get(key: str) -> Any:
            try:
                return store[key]
            except KeyError:
                pass
            value = build(key)
            if len(store) >= size:
                store.clear()  # bounded: keys come from configurations
            store[key] = value
            return value

        return get

    return wrap
