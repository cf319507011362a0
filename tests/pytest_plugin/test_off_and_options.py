"""Off unless asked: nothing of the tracing machinery loads; ini and options turn it on."""

from __future__ import annotations

from importlib import metadata

import pytest
from pytest_plugin_helpers import PLUGIN

OFF_CHECKS = """
import sys
from opentelemetry import trace

def test_nothing_was_touched():
    assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"
    for heavy in ("spanlink.exporter", "spanlink.pytest._session", "spanlink.pytest._client",
                  "opentelemetry.sdk.trace", "httpx"):
        assert heavy not in sys.modules, heavy

def test_the_marker_is_registered(pytestconfig):
    assert any(line.startswith("spanlink(") for line in pytestconfig.getini("markers"))
"""


def test_the_plugin_is_installed_as_a_pytest11_entry_point() -> None:
    (entry,) = [ep for ep in metadata.entry_points(group="pytest11") if ep.name == "spanlink"]
    assert entry.value == "spanlink.pytest._plugin"


def test_off_by_default_nothing_is_imported_or_installed(child_pytester: pytest.Pytester) -> None:
    child_pytester.makepyfile(OFF_CHECKS)
    result = child_pytester.runpytest_subprocess(*PLUGIN, "--strict-markers")
    result.assert_outcomes(passed=2)
    assert "spanlink" not in "\n".join(result.outlines[-3:])


def test_the_ini_option_turns_it_on(child_pytester: pytest.Pytester) -> None:
    child_pytester.makeini("[pytest]\nspanlink = true\nspanlink_url = http://127.0.0.1:9\n")
    child_pytester.makepyfile("def test_one():\n    pass\n")
    result = child_pytester.runpytest_subprocess(*PLUGIN, "--spanlink-flush-timeout", "0")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*= spanlink =*", "run *: 1 cases: 1 passed"])


def test_a_bad_url_is_a_usage_error(child_pytester: pytest.Pytester) -> None:
    child_pytester.makepyfile("def test_one():\n    pass\n")
    result = child_pytester.runpytest_subprocess(*PLUGIN, "--spanlink", "--spanlink-url", "ftp://x")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--spanlink-url 'ftp://x' is not an http(s) URL*"])


def test_the_fixture_works_without_the_plugin_on(child_pytester: pytest.Pytester) -> None:
    child_pytester.makepyfile(
        """
        import pytest
        from opentelemetry import trace

        def test_scores_and_spans(spanlink):
            with trace.get_tracer("t").start_as_current_span("execute_tool lookup_order"):
                pass
            score = spanlink.score("quality", 1.0, passed=True)
            assert score.name == "quality" and spanlink.run_id is None
            (span,) = spanlink.spans(name="execute_tool lookup_order")
            assert span.attributes["spanlink.test.result_id"] == spanlink.result_id

        def test_spans_are_per_test(spanlink):
            assert spanlink.spans() == []

        def test_a_score_needs_a_finite_value(spanlink):
            with pytest.raises(ValueError):
                spanlink.score("quality", float("nan"))
        """
    )
    result = child_pytester.runpytest_subprocess(*PLUGIN, "-p", "no:randomly")
    result.assert_outcomes(passed=3)
