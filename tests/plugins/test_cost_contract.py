"""The cost plugin's trace result is a documented contract: the fields the receiver reads are
in the plugin's README, and everything the plugin returns is documented there."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from plugin_helpers import enrich_spans

from spanlink.plugins.cost import plugin as cost_plugin
from spanlink.tracer.plugins import get_plugin_manager

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "plugins" / "spanlink-plugin-cost" / "README.md"
RECEIVER = ROOT / "backend" / "src" / "spanlink" / "receiver"


def _documented_trace_fields() -> set[str]:
    table = README.read_text("utf-8").split("Trace result", 1)[1].split("\n\n", 2)[1]
    return {
        name
        for line in table.splitlines()
        if line.startswith("| `")
        for name in re.findall(r"`(\w+)`", line.split("|")[1])
    }


def _fields_the_receiver_reads() -> set[str]:
    """Paths into the stored trace result (``{trace,cost,<field>}``) in the receiver's SQL."""
    found: set[str] = set()
    for path in RECEIVER.rglob("*.py"):
        found.update(re.findall(r"\{trace,cost,(\w+)\}", path.read_text("utf-8")))
    return found


def test_the_fields_the_receiver_reads_are_documented() -> None:
    read = _fields_the_receiver_reads()
    assert {"total_cost", "cost_by_model"} <= read
    assert read <= _documented_trace_fields()


def test_every_field_of_the_trace_result_is_documented(make_span: Any, llm: Any) -> None:
    manager = get_plugin_manager()
    manager.register(cost_plugin, name="cost")
    spans = [
        make_span("chat", llm("gpt-4o", 1000, 500)),
        make_span("chat", llm("no-such-model", 10, 5), start_ms=20),
    ]
    _, results = enrich_spans(manager, spans)
    assert set(results["cost"]) <= _documented_trace_fields()
    assert results["cost"]["cost_by_model"].keys() == {"gpt-4o"}
