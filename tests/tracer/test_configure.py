"""configure(): each case runs in a fresh interpreter, since the global provider is set once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from plugin_helpers import write_distribution

PRELUDE = """
import json, threading, time
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import spanlink.tracer as sl

def names(exporter):
    return [s.name for s in exporter.get_finished_spans()]
"""


def run(code: str, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SPANLINK_", "OTEL_"))}
    environ.update(env)
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_creates_a_provider_with_resource_from_arguments_and_env() -> None:
    out = run(
        """
        exporter = InMemorySpanExporter()
        sl.configure(exporter=exporter, service_name="bot", project="p1")
        with trace.get_tracer("t").start_as_current_span("s"):
            pass
        assert sl.flush(timeout=2)
        span = exporter.get_finished_spans()[0]
        print(json.dumps(dict(span.resource.attributes)))
        """,
        SPANLINK_ENVIRONMENT="staging",
        OTEL_SERVICE_NAME="from-env",
    )
    assert out["service.name"] == "bot"  # the argument wins over OTEL_SERVICE_NAME
    assert out["deployment.environment.name"] == "staging"
    assert out["spanlink.project"] == "p1"


def test_adds_to_an_existing_sdk_provider_instead_of_replacing_it() -> None:
    out = run(
        """
        theirs, ours = InMemorySpanExporter(), InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(theirs))
        trace.set_tracer_provider(provider)
        sl.configure(exporter=ours, environment="ci")
        with trace.get_tracer("t").start_as_current_span("s"):
            pass
        sl.flush(2)
        print(json.dumps({
            "same_provider": trace.get_tracer_provider() is provider,
            "theirs": names(theirs), "ours": names(ours),
            "env": ours.get_finished_spans()[0].attributes.get("deployment.environment.name"),
        }))
        """
    )
    assert out == {"same_provider": True, "theirs": ["s"], "ours": ["s"], "env": "ci"}


def test_calling_twice_never_double_exports() -> None:
    out = run(
        """
        first, second = InMemorySpanExporter(), InMemorySpanExporter()
        p1 = sl.configure(exporter=first)
        with trace.get_tracer("t").start_as_current_span("one"):
            pass
        p2 = sl.configure(exporter=second)
        with trace.get_tracer("t").start_as_current_span("two"):
            pass
        sl.flush(2)
        print(json.dumps({"same": p1 is p2, "first": names(first), "second": names(second)}))
        """
    )
    assert out == {"same": True, "first": ["one"], "second": ["two"]}


def test_flush_is_bounded_when_the_exporter_hangs() -> None:
    out = run(
        """
        class Hangs(SpanExporter):
            def export(self, spans):
                time.sleep(60)
                return SpanExportResult.SUCCESS
            def shutdown(self):
                pass
        sl.configure(exporter=Hangs())
        with trace.get_tracer("t").start_as_current_span("s"):
            pass
        started = time.monotonic()
        done = sl.flush(timeout=0.3)
        print(json.dumps({"done": done, "elapsed": time.monotonic() - started}))
        """
    )
    assert out["done"] is False
    assert out["elapsed"] < 2.0


def test_uses_spanlink_exporter_by_default_with_env_settings() -> None:
    out = run(
        """
        p = sl.configure()
        exporter = p.delegate.span_exporter
        print(json.dumps({"type": type(exporter).__module__ + "." + type(exporter).__name__}))
        """,
        SPANLINK_ENDPOINT="http://127.0.0.1:9",
        SPANLINK_API_KEY="k",
    )
    assert out["type"].startswith("spanlink.exporter")


def _exporter_distribution(tmp_path: Path, name: str) -> str:
    """A distribution on ``tmp_path`` declaring exporter ``name`` (group spanlink_exporter)."""
    module = f"exporter_{name}"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            """
            import json
            from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

            class Recording(SpanExporter):
                def __init__(self, **settings):
                    self.settings = settings
                def export(self, spans):
                    return SpanExportResult.SUCCESS
            """
        )
    )
    write_distribution(
        tmp_path, module, "1.0", {"spanlink_exporter": {name: f"{module}:Recording"}}
    )
    return os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))


def test_the_exporter_named_by_spanlink_exporter_gets_the_settings(tmp_path: Path) -> None:
    out = run(
        """
        p = sl.configure(api_key="argument-key", headers={"x-team": "a"})
        exporter = p.delegate.span_exporter
        print(json.dumps({"type": type(exporter).__module__, "settings": exporter.settings}))
        """,
        PYTHONPATH=_exporter_distribution(tmp_path, "recording"),
        SPANLINK_EXPORTER=" recording ",
    )
    assert out == {
        "type": "exporter_recording",
        "settings": {"endpoint": None, "api_key": "argument-key", "headers": {"x-team": "a"}},
    }


def test_several_exporters_without_a_choice_or_an_unknown_one_are_clear_errors(
    tmp_path: Path,
) -> None:
    path = _exporter_distribution(tmp_path, "recording")
    code = """
        try:
            sl.configure()
        except sl.ConfigurationError as error:
            print(json.dumps({"error": str(error)}))
        """
    several = run(code, PYTHONPATH=path)["error"]
    assert "several exporters are installed" in several and "SPANLINK_EXPORTER" in several
    assert "'recording'" in several and "'spanlink'" in several
    unknown = run(code, PYTHONPATH=path, SPANLINK_EXPORTER="nowhere")["error"]
    assert "SPANLINK_EXPORTER='nowhere' names no installed exporter" in unknown
    assert "'recording', 'spanlink'" in unknown
