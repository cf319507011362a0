"""The project's redaction rules applied to dataset cases before they are stored."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from spanlink.receiver.datasets._store import DatasetCase
from spanlink.receiver.redaction import (
    CompiledRules,
    RedactionBudget,
    redact_evaluators,
    redact_text,
    redact_value,
)

__all__ = ["redact_dataset_cases"]


def redact_dataset_cases(cases: Sequence[DatasetCase], rules: CompiledRules) -> list[DatasetCase]:
    """Each case with its id, inputs, expected output, metadata and evaluator parameters
    redacted (a judge's rubric is sent to a model)."""
    if rules.is_empty:
        return list(cases)
    budget = RedactionBudget()
    return [
        replace(
            case,
            id=redact_text(case.id, rules, budget),
            inputs=redact_value(dict(case.inputs), rules, budget=budget),
            expected_output=redact_value(case.expected_output, rules, budget=budget),
            metadata=redact_value(dict(case.metadata), rules, budget=budget),
            evaluators=redact_evaluators(case.evaluators, rules, budget),
        )
        for case in cases
    ]
