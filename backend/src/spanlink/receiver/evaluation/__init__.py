"""Evaluation on the receiver: the installed evaluators and the check of configurations
(``EvaluatorRegistry``), used when datasets and runs are created."""

from __future__ import annotations

from spanlink.receiver.evaluation._registry import (
    EVALUATOR_KEYS,
    EvaluatorRegistry,
    config_from_dict,
    config_to_dict,
)
from spanlink.tracer.evaluation import EvaluatorConfigError

__all__ = [
    "EVALUATOR_KEYS",
    "EvaluatorConfigError",
    "EvaluatorRegistry",
    "config_from_dict",
    "config_to_dict",
]
