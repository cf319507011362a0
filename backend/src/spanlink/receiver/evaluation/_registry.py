"""The evaluators installed plugins provide, and checking configurations against them.

Loaded once per registry (lazily, on first use) through the tracer's entry-point loader,
so ``SPANLINK_DISABLE_PLUGINS`` applies and a separately installed evaluator package is
found like every plugin. A configuration is checked when a dataset or a run is created, so
an unknown evaluator or parameters it refuses are a 422 then, not an error on every case.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from spanlink.tracer.evaluation import EvaluatorConfigError, find_evaluators, validate_configs
from spanlink.tracer.model import Evaluator, EvaluatorConfig

__all__ = ["EVALUATOR_KEYS", "EvaluatorRegistry", "config_from_dict", "config_to_dict"]

#: The keys an evaluator configuration may have.
EVALUATOR_KEYS = ("name", "params", "threshold", "required")


def config_from_dict(raw: Mapping[str, Any]) -> EvaluatorConfig:
    """An ``EvaluatorConfig`` from its JSON form (checked by the API models already)."""
    return EvaluatorConfig(
        name=str(raw["name"]),
        params=dict(raw.get("params") or {}),
        threshold=raw.get("threshold"),
        required=raw.get("required", True),
    )


def config_to_dict(config: EvaluatorConfig) -> dict[str, Any]:
    """The JSON form of a configuration, as stored with a case."""
    return {
        "name": config.name,
        "params": dict(config.params),
        "threshold": config.threshold,
        "required": config.required,
    }


def _finite(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


class EvaluatorRegistry:
    """Evaluators by name (loaded on first use) and the check of configurations."""

    def __init__(self, evaluators: Mapping[str, Evaluator] | None = None) -> None:
        self._found: dict[str, Evaluator] | None = dict(evaluators) if evaluators else None
        self._lock = threading.Lock()

    def evaluators(self) -> Mapping[str, Evaluator]:
        """Every installed evaluator by name."""
        with self._lock:
            if self._found is None:
                from spanlink.tracer.plugins import load_plugins

                manager, _ = load_plugins()
                self._found = find_evaluators(manager)
            return self._found

    def check(self, groups: Sequence[tuple[str, Sequence[EvaluatorConfig]]]) -> None:
        """Raise ``EvaluatorConfigError`` listing every problem of every group, where a
        group is ``(where, configs)`` (``where`` prefixes its problems, e.g. ``cases[3].``).
        """
        found = self.evaluators()
        problems: list[str] = []
        checked: dict[str, str | None] = {}  # the same configuration is checked once
        for where, configs in groups:
            for index, config in enumerate(configs):
                key = repr(config_to_dict(config))
                if key not in checked:
                    checked[key] = self._problem(config, found)
                if checked[key] is not None:
                    problems.append(f"{where}evaluators[{index}] ({config.name!r}): {checked[key]}")
        if problems:
            raise EvaluatorConfigError(problems)

    @staticmethod
    def _problem(config: EvaluatorConfig, found: Mapping[str, Evaluator]) -> str | None:
        if config.threshold is not None and not _finite(config.threshold):
            return f"threshold must be a finite number, not {config.threshold!r}"
        try:
            validate_configs([config], found)
        except EvaluatorConfigError as error:
            # validate_configs names the position itself: keep only the reason.
            return "; ".join(problem.split(": ", 1)[-1] for problem in error.problems)
        return None
