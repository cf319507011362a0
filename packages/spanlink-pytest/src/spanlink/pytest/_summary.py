"""The session's terminal summary: cases by status, tokens, cost, slowest, run URL, regressions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from spanlink.pytest._outcome import status_of

if TYPE_CHECKING:
    from spanlink.pytest._local import LocalReceiver

__all__ = ["STATUSES", "SessionSummary"]

#: Reported statuses, in the order the summary lists them.
STATUSES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
SLOWEST = 5
Line = tuple[str, dict[str, bool]]


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


@dataclass
class SessionSummary:
    """What the session's end prints; filled as reports come in and at the end."""

    reports: dict[str, list[pytest.TestReport]] = field(default_factory=dict)
    problem: str | None = None
    dropped: int = 0
    url: str | None = None
    run: dict[str, Any] | None = None
    comparison: dict[str, Any] | None = None
    compared: bool = False

    def note(self, problem: str | None) -> None:
        """Keep the first problem only: the session shows one warning, not one per test."""
        if problem and self.problem is None:
            self.problem = problem

    def add_report(self, report: pytest.TestReport) -> None:
        """Collect a test's phase reports (from this process or an xdist worker)."""
        self.reports.setdefault(report.nodeid, []).append(report)

    def counts(self) -> dict[str, int]:
        """Cases by status."""
        counts = dict.fromkeys(STATUSES, 0)
        for reports in self.reports.values():
            counts[status_of(reports)] += 1
        return counts

    def regressions(self) -> list[Mapping[str, Any]]:
        """The regressions the comparison found ([] without one)."""
        found = (self.comparison or {}).get("regressions")
        return [item for item in found if isinstance(item, Mapping)] if found else []

    def _usage(self) -> tuple[int, int, float | None, int]:
        """Tokens in and out, the cost of the cases whose cost is known, and how many not."""
        results = (self.run or {}).get("results") or []
        tokens_in = sum(int(_number(r.get("input_tokens"))) for r in results)
        tokens_out = sum(int(_number(r.get("output_tokens"))) for r in results)
        costs = [r.get("cost_usd") for r in results if r.get("cost_usd") is not None]
        cost = sum(_number(c) for c in costs) if costs else None
        return tokens_in, tokens_out, cost, len(results) - len(costs)

    def render(
        self, *, run_id: str, local: LocalReceiver | None, baseline: str | None
    ) -> list[Line]:
        """The summary's lines, each with its terminal markup."""
        lines: list[Line] = []
        counts = self.counts()
        total = sum(counts.values())
        parts = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        failing = counts["failed"] + counts["error"]
        lines.append((f"run {run_id}: {total} cases: {parts or 'none'}", {"red": failing > 0}))
        if self.run is not None:
            tokens_in, tokens_out, cost, unknown = self._usage()
            # A case's cost is null when unknown (or when it called no model): never 0.
            cost_text = f"${cost:.4f}" if cost is not None else "unknown"
            if cost is not None and unknown:
                cost_text += f" (+ {unknown} case{'s' if unknown > 1 else ''} of unknown cost)"
            lines.append((f"tokens: {tokens_in} in, {tokens_out} out; cost: {cost_text}", {}))
        timed = [(sum(r.duration for r in rs), nodeid) for nodeid, rs in self.reports.items()]
        durations = sorted(timed, reverse=True)[:SLOWEST]
        if durations:
            lines.append(("slowest cases:", {}))
            lines.extend((f"  {seconds:8.3f}s  {nodeid}", {}) for seconds, nodeid in durations)
        if baseline:
            lines.extend(self._comparison_lines(baseline))
        if self.dropped:
            lines.append((f"{self.dropped} result(s) could not be reported", {"yellow": True}))
        if self.problem:
            lines.append((f"spanlink warning: {self.problem}", {"yellow": True}))
        if self.url:
            lines.append((f"run: {self.url}", {"bold": True}))
        if local is not None:
            lines.append(
                (
                    f"local receiver: {local.url} (API key {local.api_key}); it stops with the "
                    "session, `spanlink-receiver serve` shows the run again",
                    {},
                )
            )
        return lines

    def _comparison_lines(self, baseline: str) -> list[Line]:
        if not self.compared:
            return []
        if self.comparison is None:
            return [("comparison not available on this receiver", {"yellow": True})]
        regressions = self.regressions()
        counts = (self.comparison.get("summary") or {}).get("counts") or {}
        described = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
        lines: list[Line] = [(f"compared with baseline {baseline}: {described or 'no cases'}", {})]
        for item in regressions:
            reasons = [
                str(reason.get("message"))
                for reason in item.get("reasons") or []
                if isinstance(reason, Mapping) and reason.get("message")
            ]
            lines.append(
                (
                    f"  REGRESSED {item.get('case_id')}: {'; '.join(reasons) or 'regressed'}",
                    {"red": True},
                )
            )
        return lines
