"""Evaluation on the receiver: scores for receiver-driven runs' results.

``_registry`` holds the installed evaluators and checks configurations when datasets and
runs are created (``EvaluatorRegistry``); ``_service`` judges results off the request path
(``EvaluationService``: in-process with bounded concurrency, or on Celery workers through
``_celery``), waiting for a result's spans to settle when an evaluator reads the trace and
re-running it when a span arrives late; ``_load`` is its database side.
"""

from __future__ import annotations

from spanlink.receiver.evaluation._load import EVALUATING, case_configs
from spanlink.receiver.evaluation._registry import (
    EVALUATOR_KEYS,
    EvaluatorRegistry,
    config_from_dict,
    config_to_dict,
)
from spanlink.receiver.evaluation._service import EvaluationService
from spanlink.tracer.evaluation import EvaluatorConfigError

__all__ = [
    "EVALUATING",
    "EVALUATOR_KEYS",
    "EvaluationService",
    "EvaluatorConfigError",
    "EvaluatorRegistry",
    "case_configs",
    "config_from_dict",
    "config_to_dict",
]
