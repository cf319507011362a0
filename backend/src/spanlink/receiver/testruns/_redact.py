"""The project's redaction rules applied to what a test run stores: case ids, inputs and
expected outputs (before the run is created, so the endpoint is invoked with what is
stored), outputs, streamed partial outputs, error texts and result metadata."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from spanlink.receiver.redaction import (
    CompiledRules,
    RedactionBudget,
    redact_evaluators,
    redact_text,
    redact_value,
)
from spanlink.receiver.testruns import reported, store

__all__ = ["redact_cases", "redact_finished", "redact_partial", "redact_reported"]


def redact_cases(
    cases: Any, rules: CompiledRules, budget: RedactionBudget
) -> list[store.CaseInput]:
    """Each case with its id, inputs, expected output and evaluator parameters redacted."""
    return [
        replace(
            case,
            case_id=redact_text(case.case_id, rules, budget),
            inputs=redact_value(case.inputs, rules, budget=budget),
            expected_output=redact_value(case.expected_output, rules, budget=budget),
            evaluators=redact_evaluators(case.evaluators, rules, budget),
        )
        for case in cases
    ]


def redact_finished(result: store.FinishedResult, rules: CompiledRules) -> store.FinishedResult:
    """A result's output, error text and metadata redacted."""
    if rules.is_empty:
        return result
    budget = RedactionBudget()
    return replace(
        result,
        output=redact_value(result.output, rules, budget=budget),
        error=redact_text(result.error, rules, budget) if result.error else result.error,
        metadata=redact_value(dict(result.metadata or {}), rules, budget=budget),
    )


def redact_partial(partial: store.PartialOutput, rules: CompiledRules) -> store.PartialOutput:
    """A streamed-so-far output redacted."""
    if rules.is_empty:
        return partial
    return replace(partial, output=redact_value(partial.output, rules))


def redact_reported(
    results: list[reported.ReportedResult], rules: CompiledRules
) -> list[reported.ReportedResult]:
    """Client-reported results with case ids, inputs, outputs, errors, scores (labels and
    explanations) and metadata redacted."""
    if rules.is_empty:
        return results
    budget = RedactionBudget()
    return [
        replace(
            result,
            case_id=redact_text(result.case_id, rules, budget),
            inputs=redact_value(dict(result.inputs), rules, budget=budget),
            output=redact_value(result.output, rules, budget=budget),
            error=redact_text(result.error, rules, budget) if result.error else result.error,
            scores=[redact_value(dict(score), rules, budget=budget) for score in result.scores],
            metadata=redact_value(dict(result.metadata or {}), rules, budget=budget),
        )
        for result in results
    ]
