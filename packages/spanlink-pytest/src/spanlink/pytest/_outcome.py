"""A test's reports -> its reported status, failure text and inputs (pure functions)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

__all__ = [
    "MAX_ERROR_CHARS",
    "MAX_VALUE_CHARS",
    "bounded_text",
    "failure_text",
    "inputs_of",
    "json_safe",
    "skip_reason",
    "status_of",
]

#: The most characters of failure text reported per test.
MAX_ERROR_CHARS = 8 * 1024
#: The most characters of one input or output value (its JSON or repr).
MAX_VALUE_CHARS = 16 * 1024


def status_of(reports: Sequence[pytest.TestReport]) -> str:
    """``passed``, ``failed``, ``error``, ``skipped``, ``xfailed`` or ``xpassed``.

    As pytest counts them: a failing setup or teardown is an error, an ``xfail`` test that
    fails is xfailed (a strict one that passes is failed).
    """
    status = "passed"
    for report in reports:
        xfail = hasattr(report, "wasxfail")
        if report.when == "setup":
            if report.failed:
                return "error"
            if report.skipped:
                status = "xfailed" if xfail else "skipped"
        elif report.when == "call":
            if xfail:
                status = "xfailed" if report.skipped else "xpassed"
            elif report.failed:
                status = "failed"
            elif report.skipped:
                status = "skipped"
            else:
                status = "passed"
        elif report.when == "teardown" and report.failed and status != "failed":
            status = "error"
    return status


def bounded_text(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` cut to ``limit`` characters, keeping its start and its end (where the
    assertion usually is)."""
    if len(text) <= limit:
        return text
    head = limit // 4
    tail = limit - head - 40
    return f"{text[:head]}\n... [{len(text) - head - tail} characters cut] ...\n{text[-tail:]}"


def failure_text(reports: Sequence[pytest.TestReport]) -> str | None:
    """The failure text of the failed phases (bounded), or None."""
    parts = [
        f"[{report.when}] {report.longreprtext}" if report.when != "call" else report.longreprtext
        for report in reports
        if report.failed and report.longreprtext
    ]
    return bounded_text("\n\n".join(parts)) if parts else None


def skip_reason(reports: Sequence[pytest.TestReport]) -> str | None:
    """Why the test was skipped or xfailed, when it was."""
    for report in reports:
        reason = getattr(report, "wasxfail", None)
        if reason:
            return str(reason)
        if report.skipped and isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
            reason = str(report.longrepr[2])
            return reason.removeprefix("Skipped: ")
    return None


def json_safe(value: Any, limit: int = MAX_VALUE_CHARS) -> Any:
    """``value`` if it is JSON (bounded), else its ``repr`` (bounded)."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError):
        return bounded_text(repr(value), limit)
    if len(text) > limit:
        return bounded_text(text, limit)
    return value


def inputs_of(item: pytest.Item) -> dict[str, Any]:
    """A parametrized test's parameters (JSON-safe), else ``{}``."""
    callspec = getattr(item, "callspec", None)
    params: Mapping[str, Any] = getattr(callspec, "params", None) or {}
    return {str(key): json_safe(value) for key, value in params.items()}
